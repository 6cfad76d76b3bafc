/*
 * Pooled memory for data paths (src/lib/buffer-pool.ts) and the pieces a request body is copied
 * into on its way to an http:// upstream (src/lib/pooled-pieces.ts): the pool gives memory back
 * only once and only its own; a body is cut into pooled and exact pieces with every byte in
 * order; and uploads of random bytes through websocksy to an upstream that reads slowly arrive
 * whole while other uploads go through the same pool, so a piece is never reused before its
 * write completed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BufferPool } from '../src/lib/buffer-pool.js';
import { copyIntoPieces, pieceWritten } from '../src/lib/pooled-pieces.js';
import { tempDir } from './helpers/peers.js';
import { startWebsocksy, type RunningWebsocksy } from './helpers/websocksy.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('buffer pool', () => {
  test('memory given back is taken again; a view gives back its whole buffer', () => {
    const pool = new BufferPool(1024, 4);
    const first = pool.take();
    assert.equal(first.length, 1024);
    pool.give(first.subarray(10, 20));
    const again = pool.take();
    assert.equal(again.buffer, first.buffer);
    assert.equal(again.length, 1024);
    assert.notEqual(pool.take().buffer, first.buffer, 'an empty pool makes new memory');
  });

  test('memory given back twice is handed out once; foreign memory is left alone', () => {
    const pool = new BufferPool(1024, 4);
    const buffer = pool.take();
    pool.give(buffer);
    pool.give(buffer);
    pool.give(Buffer.alloc(1024));
    const taken = [pool.take(), pool.take()];
    assert.equal(taken[0]?.buffer, buffer.buffer);
    assert.notEqual(taken[1]?.buffer, buffer.buffer, 'the second take makes new memory');
  });

  test('at most maxIdle buffers wait for reuse', () => {
    const pool = new BufferPool(64, 2);
    const [a, b, c] = [pool.take(), pool.take(), pool.take()];
    for (const buffer of [a, b, c]) pool.give(buffer);
    // a and b fill the idle list; c is left to the GC.
    assert.deepEqual(new Set([pool.take().buffer, pool.take().buffer]), new Set([a.buffer, b.buffer]));
    assert.ok(![a.buffer, b.buffer, c.buffer].includes(pool.take().buffer), 'the third take makes new memory');
  });
});

describe('upload pieces', () => {
  test('every size cuts into pieces that hold the bytes in order: small ones exact, large ones in 64 KiB pool buffers', () => {
    for (const size of [0, 1, 32 * 1024 - 1, 32 * 1024, 64 * 1024, 64 * 1024 + 1, 96 * 1024, 96 * 1024 + 1, 512 * 1024 + 7]) {
      const chunk = randomBytes(size);
      const pieces = copyIntoPieces(chunk);
      assert.deepEqual(Buffer.concat(pieces), chunk, `${size} bytes`);
      for (const piece of pieces) assert.ok(piece.length <= 64 * 1024, `${size} bytes: a piece of ${piece.length}`);
      // The bytes are copies: the caller's buffer is lent, and is overwritten after the call.
      chunk.fill(0);
      if (size > 0) assert.notDeepEqual(Buffer.concat(pieces), chunk);
      // A piece is pooled when its memory, once given back, is what the next pooled copy gets.
      // (Node's own Buffer pool is 64 KiB on Node 24, so the memory's size cannot tell.)
      for (const piece of pieces) {
        pieceWritten(piece);
        const [probe] = copyIntoPieces(randomBytes(64 * 1024)) as [Buffer];
        const pooled = probe.buffer === piece.buffer;
        pieceWritten(probe);
        assert.equal(pooled, piece.length >= 32 * 1024, `${size} bytes: a piece of ${piece.length} ${pooled ? 'is' : 'is not'} pooled`);
      }
    }
  });
});

describe('uploads through a route to an upstream that reads slowly', () => {
  const dir = tempDir('websocksy-uploads-');
  let upstream: Server;
  let proxy: RunningWebsocksy;

  before(async () => {
    // Reads each body a piece at a time with a pause between, so websocksy's writes wait in its socket.
    upstream = createServer((req: IncomingMessage, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        req.pause();
        setTimeout(() => req.resume(), 1);
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as AddressInfo).port;
    writeFileSync(`${dir.path}/uploads.cfg`, ['[core]', 'listen = 127.0.0.1', 'port = 0', '[route /up]', `to = http://127.0.0.1:${port}/`, ''].join('\n'));
    proxy = await startWebsocksy([`${dir.path}/uploads.cfg`]);
  });

  after(async () => {
    await proxy.stop();
    upstream.close();
    dir.remove();
  });

  function upload(body: Buffer, chunked: boolean): Promise<{ bytes: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) };
      const req = request({ host: '127.0.0.1', port: proxy.port, path: '/up/', method: 'POST', headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`status ${String(res.statusCode)}: ${Buffer.concat(parts).toString()}`));
          else resolve(JSON.parse(Buffer.concat(parts).toString()) as { bytes: number; sha256: string });
        });
      });
      req.on('error', reject);
      // Written in uneven pieces, so websocksy gets pieces of every size.
      for (let at = 0; at < body.length; ) {
        const size = 1 + ((at * 7919) % (300 * 1024));
        req.write(body.subarray(at, at + size));
        at += size;
      }
      req.end();
    });
  }

  test('six uploads of 6 MiB at once, with a length and chunked, arrive whole', async () => {
    const bodies = Array.from({ length: 6 }, () => randomBytes(6 * 1024 * 1024));
    const answers = await Promise.all(bodies.map((body, i) => upload(body, i % 2 === 1)));
    answers.forEach((answer, i) => {
      assert.deepEqual(answer, { bytes: bodies[i]?.length, sha256: sha256(bodies[i] as Buffer) }, `upload ${i}`);
    });
  });
});
