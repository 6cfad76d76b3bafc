// @ts-check
/*
 * The route module test/route-modules.test.ts drives: each path under the prefix is one
 * behaviour, good or bad. Uploads are hashed as they stream in and kept as blobs, downloads
 * stream out with backpressure (or without, to be cut off), some handlers throw, reject or never
 * answer; the WebSocket side echoes, broadcasts, floods and faults on request.
 * module-config: `close-throws` makes close() throw at shutdown, `init-throws` makes init() fail,
 * `init-waits-for=FILE` makes init() wait (20 s at most) until FILE exists: a start held open.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';

const CHUNK = 64 * 1024;

/** Uploaded bodies, by name. */
/** @type {Map<string, Buffer>} */
const blobs = new Map();
/** @type {Set<import('websocksy').RouteSocket>} */
const sockets = new Set();
/** Sockets told `last-words`, waiting for their drain: how many messages went before it. */
const lastWords = new Map();
let closeThrows = false;
/** How many responses were aborted under a waiting handler. */
let aborts = 0;

/**
 * @param {import('websocksy').RouteResponse} response
 * @param {Buffer} data
 */
async function writeAll(response, data) {
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    if (!response.write(data.subarray(offset, offset + CHUNK))) await response.drained();
  }
}

/**
 * @param {import('websocksy').RouteResponse} response
 * @param {number} status
 * @param {unknown} value
 */
function json(response, status, value) {
  response.status = status;
  response.setHeader('Content-Type', 'application/json');
  response.end(JSON.stringify(value));
}

/** @type {import('websocksy').RouteModule} */
export default {
  async init(config) {
    if (config === 'init-throws') throw new Error('lab: init refused');
    const waitFor = /^init-waits-for=(.+)$/.exec(config ?? '')?.[1];
    for (let waited = 0; waitFor !== undefined && !existsSync(waitFor); waited += 20) {
      if (waited > 20_000) throw new Error(`lab: ${waitFor} never came`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    closeThrows = config === 'close-throws';
  },

  async request(request, response) {
    const [, what = '', name = ''] = request.rest.split('/');
    if (what === 'echo') {
      response.setHeader('X-Lab', ['one', 'two']);
      json(response, 200, { method: request.method, path: request.path, rest: request.rest, query: request.query, tag: request.header('X-LAB-TAG'), client: request.clientAddress });
    } else if (what === 'blob' && (request.method === 'PUT' || request.method === 'POST')) {
      const hash = createHash('sha256');
      /** @type {Buffer[]} */
      const chunks = [];
      for await (const chunk of request.body) {
        hash.update(chunk);
        chunks.push(chunk);
      }
      const blob = Buffer.concat(chunks);
      blobs.set(name, blob);
      json(response, 201, { bytes: blob.length, sha256: hash.digest('hex') });
    } else if (what === 'blob') {
      const blob = blobs.get(name);
      if (blob === undefined) return json(response, 404, { error: 'no such blob' });
      // ?length sends a Content-Length; without, the body goes out chunked.
      if (request.query === 'length') response.setHeader('Content-Length', String(blob.length));
      await writeAll(response, blob);
      response.end();
    } else if (what === 'endless') {
      const chunk = Buffer.alloc(CHUNK, 0x61);
      while (!response.aborted) if (!response.write(chunk)) await response.drained();
    } else if (what === 'flood') {
      // Writes on whatever write() says: websocksy cuts it off.
      const chunk = Buffer.alloc(CHUNK, 0x62);
      for (let i = 0; i < 4096 && !response.aborted; i++) response.write(chunk);
    } else if (what === 'wait') {
      // More than a client that reads nothing can take, and a drained() nobody awaits: when
      // the client leaves, that promise rejects, and must not end the process.
      response.onAborted(() => aborts++);
      const eight = Buffer.alloc(8 * 1024 * 1024);
      for (let i = 0; i < 4; i++) response.write(eight);
      void response.drained();
    } else if (what === 'aborts') {
      json(response, 200, { aborts });
    } else if (what === 'throw') {
      throw new Error('lab: thrown');
    } else if (what === 'reject') {
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error('lab: rejected');
    } else if (what === 'never') {
      // Never answers: the route's timeout does.
    } else if (what === 'cut') {
      response.write('the first part');
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw new Error('lab: thrown after the answer began');
    } else {
      json(response, 404, { error: 'not found' });
    }
  },

  websocket: {
    accept(request, offered) {
      if (request.rest === '/refused') return 403;
      if (request.rest === '/accept-throws') throw new Error('lab: accept threw');
      return offered.includes('lab') ? 'lab' : null;
    },
    open(socket) {
      sockets.add(socket);
    },
    message(socket, data, isBinary) {
      const text = isBinary ? '' : data.toString();
      if (text === 'throw') throw new Error('lab: message threw');
      if (text === 'reject') return Promise.reject(new Error('lab: message rejected'));
      if (text === 'protocol') socket.send(socket.protocol);
      else if (text.startsWith('all:')) for (const other of sockets) other.send(text.slice(4));
      else if (text.startsWith('flood:')) {
        // Sends on whatever send() says: websocksy closes the client that does not read (1013).
        const big = Buffer.alloc(256 * 1024, 0x63);
        for (let i = 0; i < Number(text.slice(6)) && !socket.closed; i++) socket.send(big);
      } else if (text === 'last-words') {
        // Sends until told to wait, then, once drained, one more large message and nothing else.
        const big = Buffer.alloc(256 * 1024, 0x64);
        let sent = 0;
        do sent++;
        while (socket.send(big) && sent < 200);
        lastWords.set(socket, sent);
      } else socket.send(data, isBinary);
    },
    drain(socket) {
      const sent = lastWords.get(socket);
      if (sent === undefined) return;
      lastWords.delete(socket);
      socket.send(Buffer.alloc(1024 * 1024 - 16, sent));
    },
    close(socket) {
      sockets.delete(socket);
    },
  },

  close() {
    if (closeThrows) throw new Error('lab: close threw');
  },
};
