/*
 * The keep-alive pool of a `to = https://` route: node:http over connections that
 * lib/tls-upstream.ts made and verified (CA, host name, pinned fingerprint) before the first
 * byte of a request goes out. node:http takes the socket through createConnection's callback.
 */
import { Agent, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import { connectVerified, type UpstreamTls } from '../lib/tls-upstream.js';

export class VerifiedTlsAgent extends Agent {
  constructor(private readonly tls: UpstreamTls) {
    super({ keepAlive: true });
  }

  override createConnection(options: ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): Duplex | null | undefined {
    if (callback === undefined) throw new Error('VerifiedTlsAgent needs node:http to pass a callback');
    connectVerified(options, this.tls, callback);
    return undefined;
  }
}
