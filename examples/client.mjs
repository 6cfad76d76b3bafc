#!/usr/bin/env node
// A minimal WebSocket client: sends each line you type, prints each message it gets.
// node examples/client.mjs ws://localhost:8001/path [subprotocol]
import { isUtf8 } from 'node:buffer';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const [url = 'ws://localhost:8001/', protocol] = process.argv.slice(2);
const ws = new WebSocket(url, protocol === undefined ? [] : [protocol]);
ws.on('open', () => {
  console.log(`connected to ${url}; type a line`);
  createInterface({ input: process.stdin }).on('line', (line) => ws.send(line + '\n')).on('close', () => ws.close());
});
// Binary messages that are UTF-8 text print as text (websocksy.cfg's binary framing sends text that way).
ws.on('message', (data, binary) => process.stdout.write(!binary || isUtf8(data) ? data.toString() : `[binary ${data.length} bytes] ${data.toString('hex')}\n`));
ws.on('unexpected-response', (_request, response) => {
  console.error(`refused: HTTP ${response.statusCode}`);
  process.exit(1);
});
ws.on('close', (code, reason) => {
  console.log(`closed: ${code} ${reason.toString()}`);
  process.exit(0);
});
ws.on('error', (error) => console.error(error.message));
