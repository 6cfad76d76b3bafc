/*
 * A bare uWS app on websocksy's engine, for test/long-sends.test.ts: it sends COUNT numbered
 * 64 KiB messages to one `ws` client, each with nothing queued before it (so each takes uWS's
 * long-send shortcut), sending again a loop turn after each drain, and prints what the client
 * received as one JSON line. Run with test/preload/short-writev.c preloaded, it shows whether
 * the engine keeps a long message whole when the kernel takes only its header.
 */
import type { WebSocket as UwsWebSocket } from 'uWebSockets.js';
import WebSocket from 'ws';
import { engine } from '../../src/front/engine.js';

const COUNT = 60;
const SIZE = 64 * 1024;
const STALL_MS = 10_000;

export interface ProbeResult {
  readonly engine: string;
  readonly sent: number;
  readonly received: number;
  /** Messages that came whole and in order. */
  readonly intact: number;
  /** How the client's connection ended: `closed`, `error: …` or `stalled`. */
  readonly ending: string;
}

function message(index: number): Buffer {
  const bytes = Buffer.alloc(SIZE, index & 0xff);
  bytes.writeUInt32BE(index, 0);
  return bytes;
}

let sent = 0;
/** A drain can come just before the close: the pump it deferred must not touch the closed socket. */
let closed = false;

function pump(ws: UwsWebSocket<unknown>): void {
  if (closed) return;
  while (sent < COUNT && ws.getBufferedAmount() === 0) ws.send(message(sent++), true);
  if (sent === COUNT && ws.getBufferedAmount() === 0) ws.end(1000);
}

const { uws, source } = engine();
const app = uws.App().ws('/*', {
  maxBackpressure: COUNT * SIZE * 2,
  open: (ws) => void setImmediate(() => pump(ws)),
  drain: (ws) => void setImmediate(() => pump(ws)),
  close: () => {
    closed = true;
  },
});
app.listen('127.0.0.1', 0, (listenSocket) => {
  if (listenSocket === false) throw new Error('the probe could not listen');
  const client = new WebSocket(`ws://127.0.0.1:${uws.us_socket_local_port(listenSocket)}/`, { perMessageDeflate: false });
  let received = 0;
  let intact = 0;
  client.on('message', (data: Buffer) => {
    if (data.length === SIZE && data.readUInt32BE(0) === received && data[SIZE - 1] === (received & 0xff)) intact++;
    received++;
  });
  const report = (ending: string): never => {
    const result: ProbeResult = { engine: source, sent, received, intact, ending };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  };
  client.on('close', () => report('closed'));
  client.on('error', (error) => report(`error: ${error.message}`));
  setTimeout(() => report('stalled'), STALL_MS).unref();
});
