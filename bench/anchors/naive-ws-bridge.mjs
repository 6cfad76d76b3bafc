// A WebSocket-to-TCP bridge as one writes it by hand with the `ws` package: no flow control
// beyond what this code gets for free. A benchmark anchor; do not optimise it.
// Usage: node bench/anchors/naive-ws-bridge.mjs LISTEN_PORT PEER_HOST PEER_PORT
import net from 'node:net';
import { WebSocketServer } from 'ws';

const [listenPort, peerHost, peerPort] = process.argv.slice(2);

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(listenPort) });
wss.on('listening', () => console.log(`listening ${wss.address().port}`));

wss.on('connection', (ws) => {
  const socket = net.connect(Number(peerPort), peerHost);
  ws.on('message', (data) => socket.write(data));
  socket.on('data', (data) => ws.send(data));
  ws.on('close', () => socket.destroy());
  socket.on('close', () => ws.close());
  ws.on('error', () => socket.destroy());
  socket.on('error', () => ws.terminate());
});

function stop() {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
