// The floor of websocksy's HTTP route stack: uWebSockets.js in front, keep-alive node:net
// connections to the upstream behind, and nothing else: no checks, no limits, no timeouts, no
// log, no request bodies, no chunked responses (the upstream must send Content-Length). A
// benchmark anchor, never a proxy to run: it shows what the stack costs a request before
// websocksy adds anything.
// Usage: node bench/anchors/bare-uws-route.mjs LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
import net from 'node:net';
import { selectEngine } from '../../dist/src/front/engine.js';

// The native build websocksy itself picks on this Node (docs/engine.md): the `uWebSockets.js`
// package alone has none for Node 22 or 24, and would fall back to a Node implementation.
const uWS = (await selectEngine(false)).uws;

const [listenPort, upstreamHost, upstreamPort] = process.argv.slice(2);
const HEAD_END = Buffer.from('\r\n\r\n');
/** Hop-by-hop, or set by uWS itself. */
const DROPPED = new Set(['connection', 'keep-alive', 'content-length', 'transfer-encoding', 'date']);

/** Upstream connections waiting for a request. */
const idle = [];

class Upstream {
  constructor() {
    this.socket = net.connect(Number(upstreamPort), upstreamHost);
    this.socket.setNoDelay(true);
    this.exchange = null;
    /** The head's bytes so far, until it is whole. */
    this.received = null;
    /** The body: its length, and what of it is still to come. */
    this.total = -1;
    this.remaining = 0;
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', () => {}); // 'close' follows
    this.socket.on('close', () => this.onClose());
  }

  send(exchange, head) {
    this.exchange = exchange;
    exchange.upstream = this;
    this.received = null;
    this.total = -1;
    this.socket.write(head, 'latin1');
  }

  onData(chunk) {
    if (this.total >= 0) {
      this.body(chunk);
      return;
    }
    const received = this.received === null ? chunk : Buffer.concat([this.received, chunk]);
    const headEnd = received.indexOf(HEAD_END);
    if (headEnd < 0) {
      this.received = received;
      return;
    }
    this.received = null;
    const head = received.toString('latin1', 0, headEnd).split('\r\n');
    let length = 0;
    const headers = [];
    for (let i = 1; i < head.length; i++) {
      const line = head[i];
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      if (!DROPPED.has(name)) headers.push(name, value);
    }
    this.total = length;
    this.remaining = length;
    const rest = received.subarray(headEnd + HEAD_END.length);
    const { res, aborted } = this.exchange;
    if (aborted) {
      this.body(rest);
      return;
    }
    // Head and the body's first bytes in one cork: a small response leaves in one send.
    res.cork(() => {
      res.writeStatus(head[0].slice(9));
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i], headers[i + 1]);
      this.body(rest);
    });
  }

  /** Body bytes, streamed to the client with its backpressure (uWS's tryEnd and onWritable). */
  body(chunk) {
    const part = chunk.subarray(0, this.remaining);
    this.remaining -= part.length;
    const exchange = this.exchange;
    if (!exchange.aborted && (part.length > 0 || this.total === 0)) {
      const { res } = exchange;
      const offset = res.getWriteOffset();
      let sent = true;
      res.cork(() => ([sent] = res.tryEnd(part, this.total)));
      if (!sent) {
        // The upstream waits while the client catches up, unless it has sent everything.
        const paused = this.remaining > 0;
        if (paused) this.socket.pause();
        res.onWritable((at) => {
          const [ok] = res.tryEnd(part.subarray(at - offset), this.total);
          if (ok && paused) this.socket.resume();
          return ok;
        });
      }
    }
    if (this.remaining === 0) {
      exchange.upstream = null;
      this.exchange = null;
      idle.push(this);
    }
  }

  onClose() {
    const at = idle.indexOf(this);
    if (at >= 0) idle.splice(at, 1);
    const exchange = this.exchange;
    this.exchange = null;
    if (exchange === null || exchange.aborted) return;
    // Cut before the head: 502; after it, the client's response is cut too.
    if (this.total < 0) exchange.res.cork(() => exchange.res.writeStatus('502 Bad Gateway').end('Bad gateway'));
    else exchange.res.close();
  }
}

uWS
  .App()
  .any('/*', (res, req) => {
    const exchange = { res, aborted: false, upstream: null };
    // The client went away: its upstream connection, maybe paused mid-body, is not reused.
    res.onAborted(() => {
      exchange.aborted = true;
      exchange.upstream?.socket.destroy();
    });
    const query = req.getQuery();
    let head = `${req.getCaseSensitiveMethod()} ${req.getUrl()}${query ? `?${query}` : ''} HTTP/1.1\r\n`;
    req.forEach((name, value) => {
      if (name !== 'connection') head += `${name}: ${value}\r\n`;
    });
    (idle.pop() ?? new Upstream()).send(exchange, `${head}\r\n`);
  })
  .listen('127.0.0.1', Number(listenPort), (token) => {
    if (!token) {
      console.error(`cannot listen on port ${listenPort}`);
      process.exit(1);
    }
    console.log(`listening port=${uWS.us_socket_local_port(token)}`);
  });
