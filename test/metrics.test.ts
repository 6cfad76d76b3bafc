/*
 * The Prometheus metrics ([status] metrics = PATH) of a real websocksy after known traffic:
 * refused handshakes (a bad Origin, no token, over max-connections), bridged connections of two
 * bearer identities echoing a known number of lines through a TCP echo, one connection closed
 * for a framing failure, and HTTP route requests with known statuses. The exposition is parsed
 * and every count checked exactly; no label may carry a client address or a request path. Then a
 * real Prometheus (Debian's package) scrapes the same server with the token. A websocket route's
 * relay (to a `ws` echo server) and a route module's socket count as connections of their routes.
 * A second server
 * serves the metrics on a loopback listener of its own. Last, a tunnel through a relay that
 * cuts it: sessions, streams, resumes and reconnects on both sides.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { connectWith, type TestClient } from './helpers/client.js';
import { send, startUpstream, type Upstream } from './helpers/http-upstream.js';
import { CuttingRelay } from './helpers/cutting-relay.js';
import { core, freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tcpEcho, tempDir, type Peer } from './helpers/peers.js';
import { parseExposition, PROMETHEUS, sampleValue, startPrometheus, type PrometheusServer, type Sample } from './helpers/prometheus.js';
import { requireProgram, skipUnlessInstalled } from './helpers/tools.js';
import { ROOT, startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const STATUS_TOKEN = 'status-token-0123456789abcdef';
const TOKENS = { alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef' } as const;
const GOOD_ORIGIN = 'http://app.example';
/** Lines each client sends and gets back, and their size (a newline included). */
const LINES = 4;
const LINE_BYTES = 100;
const FRAME_LIMIT = 1000;

type User = keyof typeof TOKENS;

function upgradeOptions(user: User | null, origin = GOOD_ORIGIN): WebSocket.ClientOptions {
  return { perMessageDeflate: false, headers: { Origin: origin, ...(user === null ? {} : { Authorization: `Bearer ${TOKENS[user]}` }) } };
}

/** The HTTP status an upgrade was refused with (fails if it was accepted). */
async function refusedStatus(url: string, options: WebSocket.ClientOptions): Promise<number> {
  const error = await connectWith(url, undefined, options).then(
    (client) => {
      client.ws.terminate();
      return null;
    },
    (failure: Error) => failure,
  );
  assert.ok(error !== null, 'the upgrade was accepted');
  return Number(/^HTTP (\d+)$/.exec(error.message)?.[1] ?? NaN);
}

async function scrape(port: number, path: string, token: string | null, method = 'GET'): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, { method, headers: token === null ? {} : { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
}

async function metricsOf(port: number, token: string | null = STATUS_TOKEN): Promise<Sample[]> {
  const response = await scrape(port, '/metrics', token);
  assert.equal(response.status, 200);
  return parseExposition(await response.text());
}

/** Polls the metrics until `check` holds (bounded), and returns them. */
async function metricsWhen(port: number, check: (samples: Sample[]) => boolean, what: string, token: string | null = STATUS_TOKEN, timeoutMs = 5000): Promise<Sample[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const samples = await metricsOf(port, token);
    if (check(samples)) return samples;
    if (Date.now() > end) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends LINES lines and waits for each to come back as one message. */
async function echoLines(client: TestClient, tag: string): Promise<void> {
  for (let i = 0; i < LINES; i++) {
    const line = `${tag}-${i}-`.padEnd(LINE_BYTES - 1, 'x') + '\n';
    client.ws.send(Buffer.from(line));
    assert.equal((await client.next()).data.toString(), line);
  }
}

describe('metrics', () => {
  const dir = tempDir('websocksy-metrics-');
  let echo: Peer;
  let upstream: Upstream;
  let wsEcho: WebSocketServer;
  let server: RunningWebsocksy;

  before(async () => {
    echo = await tcpEcho();
    upstream = await startUpstream();
    wsEcho = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wsEcho.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
    await once(wsEcho, 'listening');
    const wsEchoPort = (wsEcho.address() as { port: number }).port;
    writeFileSync(`${dir.path}/status-token`, `${STATUS_TOKEN}\n`);
    writeFileSync(`${dir.path}/tokens`, `${TOKENS.alice} alice\n${TOKENS.bob} bob\n`);
    writeFileSync(
      `${dir.path}/metrics.cfg`,
      [
        '[core]', 'listen = 127.0.0.1', 'port = 0', 'auth = staff', 'max-connections = 5', `frame-limit = ${FRAME_LIMIT}`,
        '[backend]', `host = ${echo.address}`, 'framing = newline', 'framing-config = lf',
        '[auth staff]', 'type = bearer', 'tokens = tokens', `origins = ${GOOD_ORIGIN}`,
        '[route /api]', `to = http://127.0.0.1:${upstream.port}/base`,
        '[route /wsecho]', `websocket = ws://127.0.0.1:${wsEchoPort}/`,
        '[route /lab]', `module = ${ROOT}test/modules/route_lab.mjs`,
        '[status]', 'path = /status', 'metrics = /metrics', 'token-file = status-token',
        '',
      ].join('\n'),
    );
    server = await startWebsocksy([`${dir.path}/metrics.cfg`]);
  });

  after(async () => {
    await server?.stop();
    await upstream?.close();
    await echo?.close();
    wsEcho?.close();
    dir.remove();
  });

  test('the metrics need the status token: 401 without it or with a wrong one', async () => {
    for (const token of [null, 'wrong-token-0123456789abcdef']) {
      const response = await scrape(server.port, '/metrics', token);
      assert.equal(response.status, 401);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.doesNotMatch(await response.text(), /websocksy_/);
    }
  });

  test('served as Prometheus text, HEAD with the length and no body', async () => {
    const response = await scrape(server.port, '/metrics', STATUS_TOKEN);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = await response.text();
    assert.match(body, /^# TYPE websocksy_connections_total counter$/m);
    const head = await scrape(server.port, '/metrics', STATUS_TOKEN, 'HEAD');
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 1000);
    assert.equal(await head.text(), '');
  });

  test('exact counts after known traffic', async () => {
    const url = `${server.url}/chat`;
    // Refused before any peer: twice a bad Origin, once no token.
    assert.equal(await refusedStatus(url, upgradeOptions('alice', 'http://evil.example')), 403);
    assert.equal(await refusedStatus(url, upgradeOptions('bob', 'http://evil.example')), 403);
    assert.equal(await refusedStatus(url, upgradeOptions(null)), 401);
    // A handshake in an old protocol version: refused before the auth is asked.
    assert.equal(await refusedStatus(url, { ...upgradeOptions('alice'), protocolVersion: 8 }), 426);

    // Five at once (max-connections), a sixth refused; each echoes LINES lines.
    const users: User[] = ['alice', 'alice', 'alice', 'bob', 'bob'];
    const clients = await Promise.all(users.map((user) => connectWith(url, undefined, upgradeOptions(user))));
    assert.equal(await refusedStatus(url, upgradeOptions('alice')), 503);
    await Promise.all(clients.map((client, i) => echoLines(client, `c${i}`)));
    const open = await metricsOf(server.port);
    assert.equal(sampleValue(open, 'websocksy_connections_open', { endpoint: 'bridge', backend: 'defaultpeer' }), 5);
    clients.forEach((client, i) => client.ws.close(i === 0 ? 4001 : 1000));
    await Promise.all(clients.map((client) => client.closed()));
    await metricsWhen(server.port, (samples) => sampleValue(samples, 'websocksy_connections_open', { endpoint: 'bridge' }) === 0, 'all five closed');

    // One more, whose peer sends more than frame-limit without a line end: closed with 1009.
    const long = await connectWith(url, undefined, upgradeOptions('bob'));
    long.ws.send(Buffer.alloc(FRAME_LIMIT + 500, 'y'));
    assert.equal((await long.closed()).code, 1009);

    // HTTP route requests: three 200s and two 404s from the upstream.
    for (const code of [200, 404, 200, 404, 200]) assert.equal((await send(server.port, `/api/status?code=${code}`)).status, code);

    const samples = await metricsWhen(
      server.port,
      (found) => sampleValue(found, 'websocksy_connections_open', { endpoint: 'bridge' }) === 0 && sampleValue(found, 'websocksy_closes_total', { code: '1009' }) === 1,
      'the long one closed',
    );
    const value = (name: string, labels: Record<string, string> = {}): number | undefined => sampleValue(samples, name, labels);
    const bridge = { endpoint: 'bridge' };
    assert.equal(value('websocksy_connections_total', { ...bridge, backend: 'defaultpeer', identity: 'alice' }), 3);
    assert.equal(value('websocksy_connections_total', { ...bridge, backend: 'defaultpeer', identity: 'bob' }), 3);
    assert.equal(value('websocksy_messages_total', { ...bridge, direction: 'client_to_peer' }), 5 * LINES + 1);
    assert.equal(value('websocksy_messages_total', { ...bridge, direction: 'peer_to_client' }), 5 * LINES);
    assert.equal(value('websocksy_bytes_total', { ...bridge, direction: 'client_to_peer' }), 5 * LINES * LINE_BYTES + FRAME_LIMIT + 500);
    assert.equal(value('websocksy_bytes_total', { ...bridge, direction: 'peer_to_client' }), 5 * LINES * LINE_BYTES);
    assert.equal(value('websocksy_closes_total', { ...bridge, code: '1000' }), 4);
    assert.equal(value('websocksy_closes_total', { ...bridge, code: '4xxx' }), 1);
    assert.equal(value('websocksy_closes_total', { ...bridge, code: '1009' }), 1);
    assert.equal(value('websocksy_framing_errors_total', bridge), 1);
    assert.equal(value('websocksy_plugin_errors_total', bridge), 0);
    assert.equal(value('websocksy_peer_connect_seconds_count', bridge), 6);
    assert.equal(value('websocksy_refusals_total', { reason: 'forbidden', status: '403' }), 2);
    assert.equal(value('websocksy_refusals_total', { reason: 'credentials', status: '401' }), 1);
    assert.equal(value('websocksy_refusals_total', { reason: 'bad-handshake', status: '426' }), 1);
    assert.equal(value('websocksy_refusals_total', { reason: 'max-connections', status: '503' }), 1);
    assert.equal(value('websocksy_limits_hit_total', { limit: 'max-connections' }), 1);
    assert.equal(value('websocksy_limits_hit_total', { limit: 'idle-timeout' }), 0);
    assert.equal(value('websocksy_http_requests_total', { route: '/api', status: '200' }), 3);
    assert.equal(value('websocksy_http_requests_total', { route: '/api', status: '404' }), 2);
    assert.equal(value('websocksy_http_request_duration_seconds_count', { route: '/api' }), 5);
    assert.equal(value('websocksy_sessions', { state: 'attached' }), 0);
    assert.equal(value('websocksy_internal_errors_total'), 0);
    // The process metrics, under their standard names.
    assert.ok((value('process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(value('nodejs_eventloop_lag_seconds') !== undefined);

    // Bounded labels: nothing a client spelled, neither its address nor a path it asked for.
    for (const sample of samples) {
      for (const [label, text] of Object.entries(sample.labels)) {
        assert.doesNotMatch(text, /127\.0\.0\.1|\/chat|\/status|\?|evil/, `${sample.name}{${label}="${text}"}`);
      }
    }
  });

  test("a websocket route's relays and a module's sockets count as connections of their routes", async () => {
    const relayed = await connectWith(`${server.url}/wsecho/x`, undefined, {});
    const moduled = await connectWith(`${server.url}/lab/ws`, undefined, {});
    for (const [client, count] of [[relayed, 3], [moduled, 2]] as const) {
      for (let i = 0; i < count; i++) {
        client.ws.send(Buffer.alloc(10, 0x61 + i));
        assert.equal((await client.next()).data.length, 10);
      }
    }
    const both = await metricsOf(server.port);
    assert.equal(sampleValue(both, 'websocksy_connections_open', { endpoint: 'route /wsecho', backend: 'websocket' }), 1);
    assert.equal(sampleValue(both, 'websocksy_connections_open', { endpoint: 'route /lab', backend: 'module' }), 1);
    relayed.ws.close(1000);
    moduled.ws.close(4000);
    await Promise.all([relayed.closed(), moduled.closed()]);
    const samples = await metricsWhen(
      server.port,
      (found) => sampleValue(found, 'websocksy_connections_open', { endpoint: 'route /wsecho' }) === 0 && sampleValue(found, 'websocksy_connections_open', { endpoint: 'route /lab' }) === 0,
      'both closed',
    );
    const value = (name: string, labels: Record<string, string>): number | undefined => sampleValue(samples, name, labels);
    for (const [endpoint, backend, count, code] of [['route /wsecho', 'websocket', 3, '1000'], ['route /lab', 'module', 2, '4xxx']] as const) {
      assert.equal(value('websocksy_connections_total', { endpoint, backend, identity: '' }), 1, endpoint);
      for (const direction of ['client_to_peer', 'peer_to_client']) {
        assert.equal(value('websocksy_messages_total', { endpoint, direction }), count, `${endpoint} ${direction}`);
        assert.equal(value('websocksy_bytes_total', { endpoint, direction }), count * 10, `${endpoint} ${direction}`);
      }
      assert.equal(value('websocksy_closes_total', { endpoint, code }), 1, endpoint);
    }
    // The relay's upstream connect is the route's peer connect; a module has none, so no series.
    assert.equal(value('websocksy_peer_connect_seconds_count', { endpoint: 'route /wsecho' }), 1);
    assert.equal(value('websocksy_peer_connect_seconds_count', { endpoint: 'route /lab' }), undefined);
  });

  test('a real Prometheus scrapes them with the token', { skip: skipUnlessInstalled(PROMETHEUS !== undefined, 'prometheus (apt-get install prometheus)') }, async () => {
    const program = requireProgram(PROMETHEUS, 'prometheus');
    const prometheus: PrometheusServer = await startPrometheus(program, dir.path, [
      '  - job_name: websocksy',
      '    metrics_path: /metrics',
      '    authorization:',
      '      type: Bearer',
      `      credentials_file: ${dir.path}/status-token`,
      '    static_configs:',
      `      - targets: ['127.0.0.1:${server.port}']`,
      '',
    ].join('\n'));
    try {
      const end = Date.now() + 30_000;
      let seen = '';
      for (;;) {
        const targets = (await prometheus.api('/api/v1/targets')) as { activeTargets: Array<{ health: string; lastError: string }> };
        const result = (await prometheus.api(`/api/v1/query?query=${encodeURIComponent('sum(websocksy_connections_total{endpoint="bridge"})')}`)) as { result: Array<{ value: [number, string] }> };
        const health = targets.activeTargets.map((target) => `${target.health} ${target.lastError}`).join(', ');
        seen = `targets: ${health}; the bridge's sum(websocksy_connections_total): ${result.result[0]?.value[1] ?? 'none'}`;
        if (targets.activeTargets[0]?.health === 'up' && result.result[0]?.value[1] === '6') break;
        if (Date.now() > end) assert.fail(`Prometheus did not see the metrics within 30 s (${seen}); its log:\n${prometheus.log()}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const alice = (await prometheus.api(`/api/v1/query?query=${encodeURIComponent('websocksy_connections_total{identity="alice"}')}`)) as { result: Array<{ value: [number, string] }> };
      assert.equal(alice.result[0]?.value[1], '3');
    } finally {
      await prometheus.stop();
    }
  });
});

describe('metrics on a status listener of its own', () => {
  const dir = tempDir('websocksy-metrics-listener-');
  let echo: Peer;
  let server: RunningWebsocksy;
  let statusPort: number;

  before(async () => {
    echo = await tcpEcho();
    writeFileSync(`${dir.path}/own.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[backend]', `host = ${echo.address}`, '[status]', 'path = /status', 'metrics = /metrics', 'listen = 127.0.0.1', 'port = 0', ''].join('\n'));
    // The main listener's line, not the status listener's, which comes first.
    server = await startWebsocksy([`${dir.path}/own.cfg`], { readyPattern: /listening address=\S+ port=\d+/ });
    statusPort = Number(/port=(\d+)/.exec(await server.waitForLog(/listening for status .*port=\d+/))?.[1]);
  });

  after(async () => {
    await server?.stop();
    await echo?.close();
    dir.remove();
  });

  test('the loopback listener serves the metrics at their path and the status JSON elsewhere; the main listener serves neither', async () => {
    const metrics = await scrape(statusPort, '/metrics', null);
    assert.equal(metrics.status, 200);
    assert.equal(sampleValue(parseExposition(await metrics.text()), 'websocksy_connections_open', { endpoint: 'bridge' }), 0);
    const head = await scrape(statusPort, '/metrics', null, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const status = await scrape(statusPort, '/anything', null);
    assert.equal(status.headers.get('content-type'), 'application/json');
    assert.notEqual((await scrape(server.port, '/metrics', null)).status, 200);
  });
});

describe('tunnel metrics', () => {
  const dir = tempDir('websocksy-metrics-tunnel-');
  /** No token: these instances answer the metrics to clients on this host only. */
  const status = '[status]\npath = /status\nmetrics = /metrics\nclients = loopback\n';
  let echo: Peer;
  let relay: CuttingRelay;
  let hub: RunningWebsocksy;
  let edge: RunningWebsocksy;
  let localPort: number;

  before(async () => {
    echo = await tcpEcho();
    const echoPort = Number(echo.address.split(':').at(-1));
    hub = await startInstance(dir.path, 'hub', core() + tunnelSection(dir.path, 'hub', `edge tok-edge connect=127.0.0.1:${echoPort}\n`) + status);
    relay = new CuttingRelay(hub.port);
    await relay.start();
    localPort = await freePort();
    edge = await startInstance(dir.path, 'edge', core() + upstreamSection('hub', relay.port, 'edge', 'tok-edge', `local = ${localPort}:127.0.0.1:${echoPort}\n`) + status, 1);
  });

  after(async () => {
    await edge?.stop();
    await hub?.stop();
    await relay?.close();
    await echo?.close();
    dir.remove();
  });

  test('sessions and streams on both sides; a cut tunnel counts a reconnect and a resume', async () => {
    const socket = netConnect(localPort, '127.0.0.1');
    try {
      await once(socket, 'connect');
      const echoed = async (text: string): Promise<void> => {
        socket.write(text);
        let got = '';
        while (got.length < text.length) got += ((await once(socket, 'data')) as [Buffer])[0].toString();
        assert.equal(got, text);
      };
      await echoed('before the cut\n');
      const server = { role: 'server', identity: 'edge' };
      const client = { role: 'client', identity: 'hub' };
      const hubBefore = await metricsOf(hub.port, null);
      assert.equal(sampleValue(hubBefore, 'websocksy_tunnel_sessions', { ...server, state: 'attached' }), 1);
      assert.equal(sampleValue(hubBefore, 'websocksy_tunnel_streams', server), 1);
      assert.equal(sampleValue(hubBefore, 'websocksy_tunnel_resumes_total', { role: 'server' }), 0);
      const edgeBefore = await metricsOf(edge.port, null);
      assert.equal(sampleValue(edgeBefore, 'websocksy_tunnel_sessions', { ...client, state: 'attached' }), 1);
      assert.equal(sampleValue(edgeBefore, 'websocksy_tunnel_streams', client), 1);
      assert.equal(sampleValue(edgeBefore, 'websocksy_tunnel_reconnects_total', { upstream: 'hub' }), 0);
      const replay = sampleValue(edgeBefore, 'websocksy_tunnel_replay_bytes', { role: 'client' }) ?? -1;
      assert.ok(replay >= 0 && replay <= 'before the cut\n'.length + 1, `replay bytes ${replay}`);

      relay.cut('rst');
      await edge.waitForLog(/tunnel resumed/);
      await echoed('after the cut\n');
      const resumed = (samples: Sample[], role: string): boolean => sampleValue(samples, 'websocksy_tunnel_resumes_total', { role }) === 1;
      const edgeAfter = await metricsWhen(edge.port, (samples) => resumed(samples, 'client'), 'the edge resumed', null);
      assert.equal(sampleValue(edgeAfter, 'websocksy_tunnel_reconnects_total', { upstream: 'hub' }), 1);
      assert.equal(sampleValue(edgeAfter, 'websocksy_tunnel_streams', client), 1);
      const hubAfter = await metricsWhen(hub.port, (samples) => resumed(samples, 'server'), 'the hub resumed', null);
      assert.equal(sampleValue(hubAfter, 'websocksy_tunnel_sessions', { ...server, state: 'attached' }), 1);
      assert.equal(sampleValue(hubAfter, 'websocksy_tunnel_streams', server), 1);
    } finally {
      socket.destroy();
    }
  });
});
