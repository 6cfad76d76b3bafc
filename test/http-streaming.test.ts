/*
 * Event streams (Server-Sent Events) through HTTP routes, straight to the upstream and through
 * a tunnel (west's case 2: the hub G reaches a server behind L), with clients nobody on the team
 * wrote: Chromium's EventSource and `curl -N`. The upstream is the internal service a user puts
 * behind websocksy: a dashboard or an API that streams its answer.
 *
 * Every check is causal, never timed: the upstream writes event n+1 only once the client has
 * told it that event n arrived (the page fetches `ack?n=` through the same route; for curl the
 * test reads its output). A proxy that held a stream's bytes until more came, or until the end,
 * stalls the exchange and fails the test within its bound. Also checked: EventSource's reconnect
 * after the stream ends carries `Last-Event-ID` to the upstream, and a client that goes away
 * ends the upstream's request, through the tunnel too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchChromium, skipWithoutChromium } from './helpers/chromium.js';
import { CURL, SKIP_WITHOUT_CURL } from './helpers/curl.js';
import { core, freePort, startInstance, tunnelSection, upstreamSection } from './helpers/instances.js';
import { tempDir } from './helpers/peers.js';
import { until } from './helpers/session-client.js';
import { requireProgram } from './helpers/tools.js';
import type { RunningWebsocksy } from './helpers/websocksy.js';

/** How long one event may take to arrive and be acknowledged before the stream counts as held. */
const ACK_WAIT_MS = 5_000;
const EVENTS = 5;

/** The page a route serves from the upstream: it acknowledges each event, and closes on `done`. */
const PAGE = `<!doctype html><title>events</title><script>
window.seen = [];
const source = new EventSource('events');
source.onmessage = (event) => {
  window.seen.push(event.lastEventId + ':' + event.data);
  if (event.data === 'done') source.close();
  else fetch('ack?n=' + event.lastEventId);
};
</script>`;

/** One stream the upstream served: how it started and how it ended. */
interface StreamRecord {
  readonly lastEventId: string | undefined;
  ended: 'finished' | 'client-gone' | 'not-acknowledged' | 'open';
}

/**
 * The streaming service. A first stream sends events 1..EVENTS, each once the one before was
 * acknowledged, with `retry: 100`, then ends; a stream that names `Last-Event-ID` sends one
 * event saying where it resumed, then `done`. `/hold` streams one event and waits for the
 * client to leave.
 */
class EventService {
  readonly streams: StreamRecord[] = [];
  private readonly acks = new Map<string, () => void>();
  private readonly server: Server = createServer((req, res) => this.serve(req, res));

  async start(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  /** Tells a stream waiting on event `id` that it arrived. */
  ack(id: string): void {
    this.acks.get(id)?.();
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname.endsWith('/page')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (url.pathname.endsWith('/ack')) {
      this.ack(url.searchParams.get('n') ?? '');
      res.writeHead(204).end();
    } else if (url.pathname.endsWith('/events') || url.pathname.endsWith('/hold')) {
      void this.stream(req, res, url.pathname.endsWith('/hold'));
    } else {
      res.writeHead(404).end();
    }
  }

  private async stream(req: IncomingMessage, res: ServerResponse, hold: boolean): Promise<void> {
    const lastEventId = req.headers['last-event-id'];
    const record: StreamRecord = { lastEventId: typeof lastEventId === 'string' ? lastEventId : undefined, ended: 'open' };
    this.streams.push(record);
    res.on('close', () => {
      if (record.ended === 'open') record.ended = 'client-gone';
    });
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    if (hold) {
      res.write('id: held\ndata: waiting for you to leave\n\n');
      return;
    }
    if (record.lastEventId !== undefined) {
      record.ended = 'finished';
      res.end(`id: resumed\ndata: resumed after ${record.lastEventId}\n\nid: end\ndata: done\n\n`);
      return;
    }
    res.write('retry: 100\n\n');
    for (let n = 1; n <= EVENTS; n++) {
      const acknowledged = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ACK_WAIT_MS);
        this.acks.set(String(n), () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      res.write(`id: ${n}\ndata: event ${n}\n\n`);
      if (!(await acknowledged)) {
        if (record.ended === 'open') record.ended = 'not-acknowledged';
        res.destroy();
        return;
      }
    }
    record.ended = 'finished';
    res.end();
  }
}

/** `curl -N URL`, its output read as it comes; `onLine` sees each line. */
function curlStream(url: string, onLine: (line: string) => void): { readonly exited: Promise<number | null>; stop(): void } {
  const child = spawn(requireProgram(CURL, 'curl'), ['--silent', '--no-buffer', '--max-time', '30', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    pending += text;
    for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
      onLine(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { exited, stop: () => child.kill('SIGTERM') };
}

describe('event streams through http routes, direct and through a tunnel', () => {
  const dir = tempDir('websocksy-streaming-');
  const service = new EventService();
  let g: RunningWebsocksy;
  let l: RunningWebsocksy;
  /** Route prefixes on G: straight to the service, and through L's tunnel to it. */
  const ROUTES = ['/direct', '/far'] as const;

  before(async () => {
    const port = await service.start();
    const upstream = `http://127.0.0.1:${port}/svc`;
    g = await startInstance(
      dir.path,
      'g',
      core(await freePort()) + tunnelSection(dir.path, 'g', 'l tok-l\n') + `[route /direct]\nto = ${upstream}\n[route /far]\nto = ${upstream}\nvia = l\n`,
    );
    l = await startInstance(dir.path, 'l', core() + upstreamSection('hub', g.port, 'l', 'tok-l', `accept = 127.0.0.1:${port}\n`), 1);
  });

  after(async () => {
    await l.stop();
    await g.stop();
    await service.stop();
    dir.remove();
  });

  const url = (route: string, path: string): string => `http://127.0.0.1:${g.port}${route}/${path}`;

  test("Chromium's EventSource: each event arrives before the next is written, and the reconnect carries Last-Event-ID", { skip: skipWithoutChromium, timeout: 90_000 }, async () => {
    const context = await launchChromium(join(dir.path, 'profile'));
    try {
      for (const route of ROUTES) {
        const before = service.streams.length;
        const page = await context.newPage();
        await page.goto(url(route, 'page'), { timeout: 15_000 });
        const expected = [...Array.from({ length: EVENTS }, (_, i) => `${i + 1}:event ${i + 1}`), `resumed:resumed after ${EVENTS}`, 'end:done'];
        await until(async () => (await page.evaluate<number>('window.seen.length')) >= expected.length, 20_000, `${route}: the page saw every event`);
        assert.deepEqual(await page.evaluate<string[]>('window.seen'), expected, route);
        const streams = service.streams.slice(before);
        assert.deepEqual(
          streams.map((stream) => [stream.lastEventId, stream.ended]),
          [
            [undefined, 'finished'],
            [String(EVENTS), 'finished'],
          ],
          `${route}: every event was acknowledged, and the reconnect named the last one`,
        );
        await page.close();
      }
    } finally {
      await context.close();
    }
  });

  test('curl -N: the same, line by line; a client that leaves ends the upstream request', { skip: SKIP_WITHOUT_CURL, timeout: 60_000 }, async () => {
    for (const route of ROUTES) {
      const before = service.streams.length;
      const seen: string[] = [];
      const stream = curlStream(url(route, 'events'), (line) => {
        if (!line.startsWith('data: ')) return;
        seen.push(line.slice(6));
        service.ack(line.slice(12));
      });
      assert.equal(await stream.exited, 0, `${route}: curl read the stream to its end`);
      assert.deepEqual(seen, Array.from({ length: EVENTS }, (_, i) => `event ${i + 1}`), route);
      assert.equal(service.streams[before]?.ended, 'finished', route);

      let held = false;
      const holding = curlStream(url(route, 'hold'), (line) => {
        if (line.startsWith('data: ')) held = true;
      });
      await until(() => held, 10_000, `${route}: the held stream's first event arrived`);
      holding.stop();
      await holding.exited;
      const record = service.streams.at(-1);
      await until(() => record?.ended === 'client-gone', 10_000, `${route}: the upstream saw the client leave`);
    }
  });
});
