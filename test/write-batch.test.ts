/*
 * The write batch (src/core/write-batch.ts) on real sockets: many peers' messages added in one
 * loop turn arrive in order, each at its own peer, whatever their sizes; a flush before end()
 * loses nothing; a peer that is not reading never keeps a whole shared slab alive for a
 * small write; and slabs are used again once written, never while a socket still holds a view.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { WriteBatch } from '../src/core/write-batch.js';
import { assertDelivered, sent, type Sent } from './helpers/delivery.js';
import { recordingStreamPeer, type RecordingPeer } from './helpers/recorders.js';

/** The batch's shared slab size (write-batch.ts): a chunk whose memory is this large is a slab view. */
const SLAB_BYTES = 256 * 1024;
/** A pooled piece of a large message (lib/pooled-pieces.ts). */
const PIECE_BYTES = 64 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function dial(peer: RecordingPeer): Promise<Socket> {
  const port = Number(/:(\d+)$/.exec(peer.address)?.[1]);
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** Adds `message` as uWS hands it over: in a buffer that is overwritten right after the call. */
function addTransient(batch: WriteBatch, message: Buffer): void {
  const transient = Buffer.from(message);
  batch.add(transient);
  transient.fill(0xee);
}

/** Adds four 60 KiB messages a turn for `turns` turns, letting each turn's writes complete; returns them. */
async function steadyTurns(batch: WriteBatch, turns: number): Promise<Buffer[]> {
  const messages: Buffer[] = [];
  for (let turn = 0; turn < turns; turn++) {
    for (let n = 0; n < 4; n++) {
      const message = randomBytes(60 * 1024);
      messages.push(message);
      addTransient(batch, message);
    }
    await nextTurn();
    await nextTurn();
  }
  return messages;
}

/** Calls `note` with each chunk the socket hands its handle, alone (_write) or corked together (_writev). */
function onChunksWritten(socket: Socket, note: (chunk: Buffer) => void): void {
  const spied = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = spied[name].bind(socket);
    spied[name] = (...args: unknown[]) => {
      if (name === '_write') note(args[0] as Buffer);
      else for (const { chunk } of args[0] as Array<{ chunk: Buffer }>) note(chunk);
      return original(...args);
    };
  }
}

/** The sizes of the distinct memory blocks behind the chunks a socket still holds, but for `ignored` ones. */
function heldBlocks(socket: Socket, ignored: readonly Buffer[] = []): number[] {
  const skip = new Set(ignored.map((buffer) => buffer.buffer));
  const blocks = new Set<ArrayBufferLike>();
  // writableBuffer (what the socket queued behind the write in progress) is missing from @types/node.
  const queued = (socket as unknown as { writableBuffer: Array<{ chunk: Buffer }> }).writableBuffer;
  for (const { chunk } of queued) if (!skip.has(chunk.buffer)) blocks.add(chunk.buffer);
  return [...blocks].map((block) => block.byteLength);
}

describe('write batch', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function peersWithBatches(count: number, options: { paused?: boolean } = {}): Promise<{ peer: RecordingPeer; sockets: Socket[]; batches: WriteBatch[] }> {
    const peer = await recordingStreamPeer(undefined, options);
    cleanup.push(() => peer.close());
    const sockets = await Promise.all(Array.from({ length: count }, () => dial(peer)));
    cleanup.push(() => sockets.forEach((socket) => socket.destroy()));
    return { peer, sockets, batches: sockets.map((socket) => new WriteBatch(socket)) };
  }

  /** Flushes each batch and ends its socket, as a finishing peer does. */
  function finishAll(sockets: readonly Socket[], batches: readonly WriteBatch[]): void {
    batches.forEach((batch, i) => {
      batch.flush();
      sockets[i]?.end();
    });
  }

  test('40 peers, messages of every size interleaved in each loop turn: each peer gets its own, in order', async () => {
    const { peer, sockets, batches } = await peersWithBatches(40);
    const sizes = [1, 17, 1000, 40_000, 64 * 1024, 64 * 1024 + 1, 200_000, 300_000, 3];
    const messages: Buffer[][] = batches.map(() => []);
    for (let turn = 0; turn < 5; turn++) {
      for (let round = 0; round < sizes.length; round++) {
        batches.forEach((batch, k) => {
          const message = randomBytes(sizes[(round + k + turn) % sizes.length] as number);
          messages[k]?.push(message);
          addTransient(batch, message);
        });
      }
      await nextTurn();
    }
    finishAll(sockets, batches);
    await assertDelivered(peer, messages.map((list) => sent(list)));
  });

  test('messages of several MiB between small ones, in one turn', async () => {
    const { peer, sockets, batches } = await peersWithBatches(4);
    const expected: Sent[] = batches.map((batch) => {
      const list = [randomBytes(10), randomBytes(5 * 1024 * 1024), randomBytes(100), randomBytes(3 * 1024 * 1024 + 7), randomBytes(1)];
      for (const message of list) addTransient(batch, message);
      return sent(list);
    });
    await nextTurn();
    finishAll(sockets, batches);
    await assertDelivered(peer, expected);
  });

  test('flush() then end() in the turn the messages came: nothing is lost', async () => {
    const { peer, sockets, batches } = await peersWithBatches(20);
    const expected = batches.map((batch, k) => {
      const list = [Buffer.from(`peer ${k} first`), randomBytes(70_000 + k), Buffer.from(`peer ${k} last`)];
      for (const message of list) addTransient(batch, message);
      return sent(list);
    });
    finishAll(sockets, batches);
    await assertDelivered(peer, expected);
  });

  test('discard() forgets only its own pending bytes; a batch added after it in the same slab is whole', async () => {
    const { peer, sockets, batches } = await peersWithBatches(2);
    const [dropped, kept] = batches as [WriteBatch, WriteBatch];
    addTransient(dropped, randomBytes(500));
    assert.equal(dropped.pendingBytes, 500);
    assert.equal(dropped.discard(), 500);
    assert.equal(dropped.pendingBytes, 0);
    sockets[0]?.destroy();
    const message = randomBytes(1000);
    addTransient(kept, message);
    kept.flush();
    sockets[1]?.end();
    // The destroyed connection ends with nothing: the discarded bytes never left.
    await assertDelivered(peer, [sent([]), sent([message])]);
  });

  test('a peer that is not reading: small writes never keep a whole slab alive', async () => {
    const { peer, sockets, batches } = await peersWithBatches(2, { paused: true });
    const slow = sockets[0] as Socket;
    const [slowBatch, fastBatch] = batches as [WriteBatch, WriteBatch];
    // Fill the kernel's buffers toward the paused peer until the socket keeps what it is given.
    const filler: Buffer[] = [];
    while (slow.writableLength === 0) {
      const chunk = randomBytes(1024 * 1024);
      filler.push(chunk);
      slow.write(chunk);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const small: Buffer[] = [];
    for (let turn = 0; turn < 50; turn++) {
      const message = randomBytes(10);
      small.push(message);
      addTransient(slowBatch, message);
      // A busy neighbour shares the slab in the same turns.
      addTransient(fastBatch, randomBytes(4000));
      await nextTurn();
    }
    const blocks = heldBlocks(slow, filler);
    assert.ok(blocks.length > 0, 'the small writes wait in the socket');
    assert.ok(Math.max(...blocks) < 16 * 1024, `chunks waiting for the slow peer hold blocks of ${blocks.join(', ')} bytes, not exact copies`);
    peer.resume();
    finishAll(sockets.slice(0, 1), [slowBatch]);
    await assertDelivered(peer, [sent([...filler, ...small])], 30_000);
  });

  test('a peer that falls behind in a turn pins at most that turn\'s slab, never one per message', async () => {
    const { peer, sockets, batches } = await peersWithBatches(1, { paused: true });
    const [slow] = sockets as [Socket];
    const [batch] = batches as [WriteBatch];
    const messages: Buffer[] = [];
    let turns = 0;
    // Only slab-sized traffic: writes of 60 KiB stay in the slab (under the own-buffer size).
    while (turns < 400) {
      for (let n = 0; n < 4; n++) {
        const message = randomBytes(60 * 1024);
        messages.push(message);
        addTransient(batch, message);
      }
      await nextTurn();
      turns++;
      if (slow.writableLength > 0 && turns % 10 === 0 && heldBlocks(slow).length > 20) break;
    }
    const slabs = heldBlocks(slow).filter((size) => size === SLAB_BYTES).length;
    assert.ok(slow.writableLength > 0, 'the peer fell behind');
    assert.ok(slabs <= 1, `${slabs} slabs held for one slow peer (blocks: ${heldBlocks(slow).length})`);
    peer.resume();
    finishAll(sockets, batches);
    await assertDelivered(peer, [sent(messages)], 30_000);
  });
  test('each loop turn\'s chunks reach the kernel in one write: one write for a plain turn, one writev for a mixed one', async () => {
    const { peer, sockets, batches } = await peersWithBatches(2);
    const [socket] = sockets as [Socket, Socket];
    const [batch, otherBatch] = batches as [WriteBatch, WriteBatch];
    // What the socket hands its handle: _write for one chunk, _writev for the chunks a cork held.
    const calls: string[] = [];
    const spied = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    for (const name of ['_write', '_writev'] as const) {
      const original = spied[name].bind(socket);
      spied[name] = (...args: unknown[]) => {
        calls.push(name === '_writev' ? `writev of ${(args[0] as unknown[]).length}` : 'write');
        return original(...args);
      };
    }
    const turns: Buffer[][] = [
      // Small messages only: copied into the slab, handed over once at the turn's end.
      [randomBytes(100), randomBytes(3000), randomBytes(7)],
      // A message too large to batch (in pooled pieces of its own) between small ones, and another
      // peer's bytes after them in the slab.
      [randomBytes(50), randomBytes(200 * 1024), randomBytes(60)],
    ];
    const otherMessage = randomBytes(10);
    const expected = ['write', /^writev of \d+$/];
    for (const [turn, messages] of turns.entries()) {
      for (const message of messages) addTransient(batch, message);
      if (turn === 1) addTransient(otherBatch, otherMessage);
      await nextTurn();
      await nextTurn();
      assert.equal(calls.length, turn + 1, `turn ${turn}: ${calls.join(', ')}`);
      const want = expected[turn] as string | RegExp;
      if (typeof want === 'string') assert.equal(calls[turn], want);
      else assert.match(calls[turn] ?? '', want);
    }
    finishAll(sockets, batches);
    await assertDelivered(peer, [sent(turns.flat()), sent([otherMessage])], 30_000);
  });

  test('slabs are used again once written: 9 MiB through a reading peer goes through a few slabs, not one per 256 KiB', async () => {
    const { peer, sockets, batches } = await peersWithBatches(1);
    const [socket] = sockets as [Socket];
    const [batch] = batches as [WriteBatch];
    const slabs = new Set<ArrayBufferLike>();
    const noteChunk = (chunk: Buffer): void => {
      if (chunk.buffer.byteLength === SLAB_BYTES) slabs.add(chunk.buffer);
    };
    onChunksWritten(socket, noteChunk);
    const messages = await steadyTurns(batch, 40);
    finishAll(sockets, batches);
    await assertDelivered(peer, [sent(messages)], 30_000);
    assert.ok(slabs.size > 0, 'the messages went out as views of slabs');
    assert.ok(slabs.size <= 8, `${slabs.size} different slabs carried 37 slabs' worth of bytes`);
  });

  test('large messages go out in pooled pieces, used again: 24 MiB in messages of 100 KiB to 2 MiB, fast and slow turns', async () => {
    const { peer, sockets, batches } = await peersWithBatches(1);
    const [socket] = sockets as [Socket];
    const [batch] = batches as [WriteBatch];
    const pooled = new Set<ArrayBufferLike>();
    let pooledChunks = 0;
    let ownBytes = 0;
    let allBytes = 0;
    const noteChunk = (chunk: Buffer): void => {
      allBytes += chunk.length;
      if (chunk.buffer.byteLength === PIECE_BYTES) {
        pooled.add(chunk.buffer);
        pooledChunks++;
      } else if (chunk.buffer.byteLength !== SLAB_BYTES) {
        ownBytes += chunk.length;
      }
    };
    onChunksWritten(socket, noteChunk);
    const messages: Buffer[] = [];
    for (let bytes = 0, n = 0; bytes < 24 * 1024 * 1024; n++) {
      const message = randomBytes(100 * 1024 + ((n * 7919 * 131) % (2 * 1024 * 1024 - 100 * 1024)));
      messages.push(message);
      bytes += message.length;
      addTransient(batch, message);
      // Every third message follows at once, while the socket may still be writing the last.
      if (n % 3 !== 0) {
        await nextTurn();
        await nextTurn();
      }
    }
    finishAll(sockets, batches);
    await assertDelivered(peer, [sent(messages)], 30_000);
    assert.ok(ownBytes < allBytes / 50, `${ownBytes} of ${allBytes} bytes went out in copies of their own (only tails under 32 KiB should)`);
    assert.ok(pooled.size <= 64, `${pooled.size} different pooled buffers carried ${pooledChunks} pieces`);
  });

  test('a slab a stalled peer still holds a view of is not used again while a neighbour fills forty more', async () => {
    const stalledPeer = await peersWithBatches(1, { paused: true });
    const readingPeer = await peersWithBatches(1);
    const [stalled] = stalledPeer.sockets as [Socket];
    const [stalledBatch] = stalledPeer.batches as [WriteBatch];
    const [busyBatch] = readingPeer.batches as [WriteBatch];
    // One turn of 8 MiB for a peer that reads nothing: it is not behind when the turn begins, so it
    // gets views, and the kernel takes only part of them.
    const held: Buffer[] = [];
    for (let n = 0; n < 140; n++) {
      const message = randomBytes(60 * 1024);
      held.push(message);
      addTransient(stalledBatch, message);
    }
    await nextTurn();
    // All of it went out as slab views in one writev, which the kernel took only in part.
    assert.ok(stalled.writableLength > 0, 'views of slabs wait in the stalled peer\'s socket');
    const busyMessages = await steadyTurns(busyBatch, 40);
    assert.ok(stalled.writableLength > 0, 'the stalled peer still has not taken its views');
    finishAll(readingPeer.sockets, readingPeer.batches);
    await assertDelivered(readingPeer.peer, [sent(busyMessages)], 30_000);
    stalledPeer.peer.resume();
    finishAll(stalledPeer.sockets, stalledPeer.batches);
    await assertDelivered(stalledPeer.peer, [sent(held)], 30_000);
  });
});
