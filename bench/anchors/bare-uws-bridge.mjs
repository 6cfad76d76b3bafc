// The ceiling of websocksy's stack: uWebSockets.js + node:net with nothing else (no backend,
// no framing, no checks), only the backpressure uWS's docs ask for. A benchmark anchor.
// Usage: node bench/anchors/bare-uws-bridge.mjs LISTEN_PORT PEER_HOST PEER_PORT [no-proto]
// With `no-proto`, the peer's connect options have no prototype: on Node 20 (V8 11) net.Socket's
// copy of options that have one gets a map of its own each time, and every inline cache that
// reads it misses (src/lib/socket-options.ts, which websocksy uses). Written as anyone would,
// the anchor pays that; the variant is bare uWS given the same fix.
import net from 'node:net';
import { selectEngine } from '../../dist/src/front/engine.js';

// The native build websocksy itself picks on this Node (docs/engine.md): the `uWebSockets.js`
// package alone has none for Node 22 or 24, and would fall back to a Node implementation.
const uWS = (await selectEngine(false)).uws;

const [listenPort, peerHost, peerPort, connectForm] = process.argv.slice(2);
const NO_PROTO = connectForm === 'no-proto';
const MiB = 1024 * 1024;
const HIGH_WATER = MiB; // pause the peer above this much unsent WebSocket data

const open = new Set();

const app = uWS.App().ws('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * MiB,
  // We pause at 1 MiB and peer reads are at most 64 KiB, so this limit is never reached.
  maxBackpressure: 64 * MiB,
  idleTimeout: 0,

  upgrade: (res, req, context) => {
    // Read everything from req now: it is gone after the first return.
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol').split(',')[0].trim(); // accept the first offered
    const extensions = req.getHeader('sec-websocket-extensions');
    const socket = NO_PROTO ? net.connect({ __proto__: null, port: Number(peerPort), host: peerHost }) : net.connect(Number(peerPort), peerHost);
    socket.setNoDelay(true);
    let aborted = false;
    let connected = false;
    res.onAborted(() => {
      aborted = true;
      socket.destroy();
    });
    socket.on('error', () => {}); // 'close' follows
    socket.once('connect', () => {
      connected = true;
      if (!aborted) res.cork(() => res.upgrade({ socket, closed: false }, key, protocol, extensions, context));
    });
    socket.once('close', () => {
      if (!connected && !aborted) res.cork(() => res.writeStatus('502 Bad Gateway').end('Peer unreachable\n', true));
    });
  },

  open: (ws) => {
    const data = ws.getUserData();
    const { socket } = data;
    open.add(ws);
    socket.on('data', (chunk) => {
      if (data.closed) return;
      ws.send(chunk, true);
      if (ws.getBufferedAmount() > HIGH_WATER) socket.pause();
    });
    socket.on('close', () => {
      if (!data.closed) ws.end(1000);
    });
    if (socket.destroyed && !data.closed) ws.end(1000);
  },

  message: (ws, message) => {
    // The ArrayBuffer is only valid during this callback: copy it.
    ws.getUserData().socket.write(Buffer.from(message.slice(0)));
  },

  drain: (ws) => {
    if (ws.getBufferedAmount() < HIGH_WATER) ws.getUserData().socket.resume();
  },

  close: (ws) => {
    const data = ws.getUserData();
    data.closed = true;
    open.delete(ws);
    data.socket.destroy();
  },
});

let listenSocket = null;
app.listen('127.0.0.1', Number(listenPort), (token) => {
  if (!token) {
    console.error(`cannot listen on port ${listenPort}`);
    process.exit(1);
  }
  listenSocket = token;
  console.log(`listening ${uWS.us_socket_local_port(token)}`);
});

function stop() {
  if (listenSocket !== null) uWS.us_listen_socket_close(listenSocket);
  for (const ws of [...open]) ws.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
