/*
 * The WebSocket callbacks of an endpoint whose sockets each belong to one BridgedClient (a
 * bridge, or a session's socket): every socket is in the listener's keep-alive set while it is
 * open, and each callback goes to its client. Subclasses decide the upgrade.
 */
import type { WebSocket } from 'uWebSockets.js';
import type { ClientSet } from './client-set.js';
import type { BridgedClient, SocketData, SocketLimits, UpgradeAnswer, WsEndpoint } from './endpoint.js';
import type { ClientRequest } from './request.js';
import type { Guarded } from '../lib/guard.js';

export interface ClientData extends SocketData {
  readonly client: BridgedClient;
}

export abstract class ClientEndpoint implements WsEndpoint<ClientData> {
  abstract readonly name: string;
  abstract readonly limits: SocketLimits;

  constructor(readonly clients: ClientSet) {}

  abstract upgrade(request: ClientRequest, answer: UpgradeAnswer<ClientData>): void;

  open(ws: WebSocket<ClientData>): void {
    const { client, ticket } = ws.getUserData();
    this.clients.add(client);
    client.open(ws, ticket ?? null);
  }

  message(ws: WebSocket<ClientData>, message: ArrayBuffer, isBinary: boolean): void {
    ws.getUserData().client.onClientMessage(message, isBinary);
  }

  drain(ws: WebSocket<ClientData>): void {
    ws.getUserData().client.onClientDrain();
  }

  pong(ws: WebSocket<ClientData>): void {
    ws.getUserData().client.onClientPong();
  }

  close(ws: WebSocket<ClientData>, code: number, reason: ArrayBuffer): void {
    const { client } = ws.getUserData();
    this.clients.delete(client);
    client.onClientClosed(code, reason);
  }

  ownerOf(ws: WebSocket<ClientData>, socketClosed: boolean): Guarded {
    return ws.getUserData().client.ownerOf(socketClosed);
  }
}
