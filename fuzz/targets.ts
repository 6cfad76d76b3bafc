/*
 * Everything the fuzzer attacks, started by the fuzzer itself on 127.0.0.1: the bridge's peer
 * (an echo, scripted for the session oracle: bridge-peer.ts), marked resumable so that clients
 * offering websocksy.session.v1 get sessions; a TCP echo peer for tunnel streams; a node:http upstream (`[route /api] to = …/v1`), a `ws` echo
 * server (`[route /chat] websocket = ws://…`, no path, the case where a client's path once
 * picked the host), the scripted upstream the upstream class answers from (`[route /raw]`,
 * scripted-upstream.ts), the scripted WebSocket upstream the wsupstream class answers from
 * (`[route /wsraw] websocket = …`, scripted-ws-upstream.ts), and the tunnel endpoint with an
 * identities file; and one websocksy with all of them on one port.
 *
 * Three oracles watch for requests escaping where they belong: the upstream must only ever see
 * paths under /v1 and never the `/smuggled` request the fuzzer hides in bodies, and a canary
 * port named in hostile paths must never be dialled.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { WebSocketServer } from 'ws';
import { freePort } from '../test/helpers/instances.js';
import { startUpstream, type Upstream } from '../test/helpers/http-upstream.js';
import { streamServer, tcpEcho, type Peer } from '../test/helpers/peers.js';
import { startBridgePeer, type BridgePeer } from './bridge-peer.js';
import { RAW_TIMEOUT_MS, SCRIPTED_BASE, ScriptedUpstream } from './scripted-upstream.js';
import { ScriptedWsUpstream, WS_SCRIPTED_BASE } from './scripted-ws-upstream.js';
import { ServerProcess } from './server-process.js';
import { GRACE_MS } from './session-oracle.js';
import { PREFIX, SMUGGLED_PATH, UPSTREAM_BASE } from './target-paths.js';

export interface TunnelIdentity {
  readonly name: string;
  readonly token: string;
}

export interface Targets {
  readonly server: ServerProcess;
  readonly port: number;
  /** May open streams to the echo peer and listen on `listenPort`. */
  readonly identity: TunnelIdentity;
  /** Known, with no rights at all. */
  readonly powerless: TunnelIdentity;
  readonly echoPort: number;
  readonly listenPort: number;
  /** A port nothing should ever reach through websocksy; hostile paths name it. */
  readonly canaryPort: number;
  /** The bridge's peer, which keeps what it saw of oracle sessions. */
  readonly bridgePeer: BridgePeer;
  /** The `/raw` route's upstream, which answers as each upstream case scripts it. */
  readonly scripted: ScriptedUpstream;
  /** The `/wsraw` route's upstream, which answers as each wsupstream case scripts it. */
  readonly wsScripted: ScriptedWsUpstream;
  /** What the oracles saw: each entry is a finding. */
  readonly findings: string[];
  /** Reports a finding (a case's own oracle). */
  found(finding: string): void;
  /** Calls `watcher` with each finding as it is made. */
  onFinding(watcher: (finding: string) => void): void;
  close(): Promise<void>;
}

function portOf(peer: Peer): number {
  return Number(/:(\d+)$/.exec(peer.address)?.[1]);
}

/** A `ws` server that sends every message back as it came (text as text). */
async function wsEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await once(server, 'listening');
  server.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    // The relay may drop its side at any moment: the fuzzer watches the server, not this peer.
    ws.on('error', () => ws.terminate());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const client of server.clients) client.terminate();
      server.close();
      await once(server, 'close');
    },
  };
}

function watchUpstream(upstream: Upstream, found: (finding: string) => void): void {
  // Idle keep-alive connections of the route's pool close within the fuzzer's quiet period.
  upstream.server.keepAliveTimeout = 500;
  upstream.server.on('request', (req: IncomingMessage) => {
    const url = req.url ?? '';
    const request = `${req.method ?? '?'} ${JSON.stringify(url.slice(0, 200))} (headers ${JSON.stringify(req.rawHeaders).slice(0, 300)})`;
    if (url !== UPSTREAM_BASE && !url.startsWith(`${UPSTREAM_BASE}/`) && !url.startsWith(`${UPSTREAM_BASE}?`)) {
      found(`the upstream got ${request}, outside the route's base path ${UPSTREAM_BASE}`);
    } else if (url.includes(SMUGGLED_PATH)) found(`the upstream got a smuggled request: ${request}`);
  });
}

export async function startTargets(dir: string, logPath: string): Promise<Targets> {
  const findings: string[] = [];
  const watchers: Array<(finding: string) => void> = [];
  const found = (finding: string): void => {
    findings.push(finding);
    for (const watcher of watchers) watcher(finding);
  };
  const echo = await tcpEcho();
  const bridgePeer = await startBridgePeer(found);
  const upstream = await startUpstream();
  watchUpstream(upstream, found);
  const remote = await wsEcho();
  const scripted = await ScriptedUpstream.start(found);
  const wsScripted = await ScriptedWsUpstream.start(found);
  const canary = await streamServer((socket) => {
    found(`the canary port was dialled from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
    socket.destroy();
  });
  const echoPort = portOf(echo);
  const listenPort = await freePort();
  const identity = { name: 'fuzz', token: randomBytes(18).toString('base64url') };
  const powerless = { name: 'powerless', token: randomBytes(18).toString('base64url') };
  writeFileSync(
    `${dir}/identities`,
    `${identity.name} ${identity.token} connect=127.0.0.1:${echoPort} listen=127.0.0.1:${listenPort}\n${powerless.name} ${powerless.token}\n`,
  );
  writeFileSync(
    `${dir}/fuzz.cfg`,
    [
      // Sessions: a short grace, so that dropped ones expire within a quiet period and the
      // oracle's resumes race it; the smallest session-buffer, so that the peer is paused
      // often; a limit that concurrent cases meet now and then, while most get a session.
      '[core]', 'listen = 127.0.0.1', 'port = 0', `session-grace = ${GRACE_MS / 1000}`, 'session-buffer = 64k', 'session-limit = 256',
      '[backend]', `host = tcp://127.0.0.1:${bridgePeer.port}`, 'framing = binary', 'resumable = yes',
      `[route ${PREFIX.api}]`, `to = http://127.0.0.1:${upstream.port}${UPSTREAM_BASE}`, 'timeout = 5',
      `[route ${PREFIX.chat}]`, `websocket = ws://127.0.0.1:${remote.port}`,
      `[route ${PREFIX.raw}]`, `to = http://127.0.0.1:${scripted.port}${SCRIPTED_BASE}`, `timeout = ${RAW_TIMEOUT_MS / 1000}`,
      `[route ${PREFIX.wsraw}]`, `websocket = ws://127.0.0.1:${wsScripted.port}${WS_SCRIPTED_BASE}`, `timeout = ${RAW_TIMEOUT_MS / 1000}`,
      // A short grace: sessions the fuzzer drops must be gone by the end of the quiet period.
      // Sixteen sessions per identity: most tunnel cases get one, and the limit is still met.
      '[tunnel]', `path = ${PREFIX.tunnel}`, 'identities = identities', 'grace = 0.25', 'max-sessions = 16',
      '',
    ].join('\n'),
  );
  const server = await ServerProcess.start(`${dir}/fuzz.cfg`, logPath);
  return {
    server,
    port: server.port,
    identity,
    powerless,
    echoPort,
    listenPort,
    canaryPort: portOf(canary),
    bridgePeer,
    scripted,
    wsScripted,
    findings,
    found,
    onFinding: (watcher) => watchers.push(watcher),
    close: async () => {
      await server.stop();
      await Promise.all([echo.close(), bridgePeer.close(), upstream.close(), remote.close(), canary.close(), scripted.close(), wsScripted.close()]);
    },
  };
}
