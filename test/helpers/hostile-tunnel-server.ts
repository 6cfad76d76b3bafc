/*
 * A tunnel server that the test scripts frame by frame (the `ws` package, 127.0.0.1, an
 * OS-chosen port), for the real `websocksy forward` client: it takes the tunnel subprotocol,
 * hands each connection's hello to the test, and records every frame the client sends.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeControl, decodeFrame, encodeJson, FrameType, TUNNEL_SUBPROTOCOL, type ControlMessage, type Frame } from '../../src/tunnel/protocol.js';

/** One tunnel connection from the client. */
export interface HostileConnection {
  /** Which connection this is, from 0 in the order they came. */
  readonly index: number;
  readonly ws: WebSocket;
  /** The TCP connection under `ws`: to stop reading it, or to write raw WebSocket frames. */
  readonly socket: Socket;
  /** Every frame the client sent on it after its hello, in order. */
  readonly frames: Frame[];
  send(frame: Buffer): void;
  sendControl(message: ControlMessage | Record<string, unknown>): void;
}

export interface HostileTunnelServer {
  readonly url: string;
  readonly connections: HostileConnection[];
  close(): Promise<void>;
}

/** A welcome as a websocksy server with its defaults sends it, to be spoiled field by field. */
export function goodWelcome(session = 'hostile-session'): Record<string, unknown> {
  return { type: 'welcome', session, secret: 'hostile-secret', resumed: false, graceSeconds: 60, window: 256 * 1024, heartbeatMs: 5000, timeoutMs: 15000 };
}

/** `onHello` answers each connection's hello; `onFrame` sees every later frame. */
export async function startHostileTunnelServer(
  onHello: (connection: HostileConnection, hello: ControlMessage) => void,
  onFrame: (connection: HostileConnection, frame: Frame) => void = () => undefined,
): Promise<HostileTunnelServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has(TUNNEL_SUBPROTOCOL) ? TUNNEL_SUBPROTOCOL : false) });
  await once(server, 'listening');
  const connections: HostileConnection[] = [];
  server.on('connection', (ws, request) => {
    const connection: HostileConnection = {
      index: connections.length,
      ws,
      socket: request.socket as Socket,
      frames: [],
      send: (frame) => ws.send(frame),
      sendControl: (message) => ws.send(encodeJson(FrameType.control, 0, message)),
    };
    connections.push(connection);
    let greeted = false;
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(Buffer.from(data));
      if (!greeted) {
        greeted = true;
        onHello(connection, decodeControl(frame.body));
        return;
      }
      connection.frames.push(frame);
      onFrame(connection, frame);
    });
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/.tunnel`,
    connections,
    close: async () => {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve, reject) => server.close((error) => (error === undefined ? resolve() : reject(error))));
    },
  };
}
