#!/usr/bin/env node
// The server examples/streamprox/streamprox.cfg forwards /api to: it says what it was asked.
//   node examples/streamprox/upstream.mjs [port]      (default 8091)
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 8091);
createServer((request, response) => {
  response.setHeader('Content-Type', 'application/json');
  response.end(JSON.stringify({ servedBy: 'upstream', method: request.method, url: request.url, forwardedFor: request.headers['x-forwarded-for'] ?? null }));
}).listen(port, '127.0.0.1', () => console.log(`upstream on http://127.0.0.1:${port}`));
