/*
 * Reaching an HTTP upstream through a tunnel: each request gets its own tunnel stream to the
 * URL's host:port, which the far side dials if its allow-list says so (the server checks the
 * identity's connect=, a client its accept=). HTTP/1.1 runs over an in-process pipe whose
 * other end is the stream, so the stream's credit flow control is the request's backpressure.
 * `via` names an [upstream NAME] of this instance, or an identity connected to its [tunnel].
 */
import { PipeEnd } from '../lib/pipe.js';
import { portOf, socketHost } from '../lib/url.js';
import type { Tunnels } from '../tunnel/runtime.js';
import { oneShot, type UpstreamConnection } from './upstream-pool.js';
import { extended } from '../lib/extended.js';

/** A connection for one request, or null when the tunnel is not up now (the caller answers 503). */
export function tunnelConnection(tunnels: Tunnels, via: string, url: URL): UpstreamConnection | null {
  const host = socketHost(url);
  const port = portOf(url);
  const [local, remote] = PipeEnd.pair();
  const client = tunnels.clients.find((candidate) => candidate.config.label === via);
  let opened: boolean;
  if (client !== undefined) opened = client.openStream(remote, host, port) !== null;
  else {
    const owner = tunnels.server?.attachedSessionOf(via) ?? null;
    opened = owner !== null && owner.session.open(remote, { host, port }) !== null;
  }
  // After a complete response the stream ends in order (undici drops a connection it will not reuse with a reason, which a pipe would pass on as a reset).
  return opened ? extended(oneShot(url, (done) => done(null, local)), { exchangeComplete: () => local.endExchange() }) : null;
}
