/*
 * TCP peers for the session tests that hash what passes: an echo (sha256 of what it got, which
 * is also what it sent back), and a peer that talks without pause and counts what its socket
 * took, so a test can see when websocksy stopped reading from it.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { streamServer } from './peers.js';

export interface HashingEcho {
  readonly address: string;
  /** Bytes the current (last) connection got. */
  received(): number;
  /** sha256 of what the last connection got, hex. */
  digest(): string;
  /** Connections accepted so far. */
  connections(): number;
  /** Resolves when the last connection's client side has ended (FIN). */
  ended(): Promise<void>;
  close(): Promise<void>;
}

export async function hashingEcho(): Promise<HashingEcho> {
  let count = 0;
  let bytes = 0;
  let hash: Hash = createHash('sha256');
  let ended: Promise<void> = new Promise(() => undefined);
  const peer = await streamServer((socket) => {
    count += 1;
    bytes = 0;
    hash = createHash('sha256');
    ended = new Promise((resolve) => socket.once('end', resolve));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
      if (!socket.write(chunk)) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
  });
  return {
    address: peer.address,
    received: () => bytes,
    digest: () => hash.copy().digest('hex'),
    connections: () => count,
    ended: () => ended,
    close: peer.close,
  };
}

export interface TalkingPeer {
  readonly address: string;
  /** Bytes its socket has taken (written and drained into the kernel or beyond). */
  written(): number;
  /** Stops talking after what is written so far. */
  hush(): void;
  /** sha256 of everything written, hex. */
  digest(): string;
  close(): Promise<void>;
}

/** A peer that writes random 64 KiB blocks to its first connection for as long as it may. */
export async function talkingPeer(): Promise<TalkingPeer> {
  const block = randomBytes(64 * 1024);
  const hash = createHash('sha256');
  let written = 0;
  let talking = true;
  let index = 0;
  const talk = (socket: Socket): void => {
    while (talking && !socket.destroyed) {
      // Each block differs (its first 4 bytes count blocks), so order shows in the hash.
      const chunk = Buffer.from(block);
      chunk.writeUInt32BE(index++, 0);
      hash.update(chunk);
      written += chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', () => talk(socket));
        return;
      }
    }
  };
  const peer = await streamServer((socket) => talk(socket));
  return {
    address: peer.address,
    written: () => written,
    hush: () => {
      talking = false;
    },
    digest: () => hash.copy().digest('hex'),
    close: peer.close,
  };
}
