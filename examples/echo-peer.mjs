#!/usr/bin/env node
// A TCP echo server to try websocksy with: node examples/echo-peer.mjs [port]
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 5900);
createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
}).listen(port, '127.0.0.1', () => console.log(`echo peer on tcp://127.0.0.1:${port}`));
