/*
 * The bridge's peer: a TCP echo (what the health client, the frames and the stalled cases
 * expect), except for a connection whose first bytes are the session oracle's marker line
 * (oracle-stream.ts). That one is scripted: it checks every input byte against the seed's input
 * stream as it arrives, says the seed's output stream in pieces of random size and pace (with
 * backpressure, so a paused session holds it back), and then waits for the session to end it.
 * A wrong input byte, input past the marker's session or a second connection for one seed is
 * an oracle finding at once; what it heard is kept for the client to check completeness.
 */
import type { Socket } from 'node:net';
import { Random } from '../test/helpers/random.js';
import { streamServer } from '../test/helpers/peers.js';
import { ByteStream, INPUT_SALT, OUTPUT_SALT, readMarker } from './oracle-stream.js';
import { delay } from './raw-connection.js';

/** How long the first bytes may look like the start of a marker before the connection is an echo. */
const UNDECIDED_MS = 200;
/** The peer stops talking after this long, whatever is left (every loop is bounded). */
const TALK_LIMIT_MS = 60_000;
/** Oracle sightings kept at most (a long run makes many; the client forgets its own when done). */
const MAX_SIGHTINGS = 10_000;

/** What the peer saw of one oracle session. */
export interface OracleSighting {
  connections: number;
  /** Input bytes after the marker, all of them checked. */
  heard: number;
  closed: boolean;
}

export interface BridgePeer {
  readonly port: number;
  sighting(seed: number): OracleSighting | undefined;
  forget(seed: number): void;
  close(): Promise<void>;
}

export async function startBridgePeer(found: (finding: string) => void): Promise<BridgePeer> {
  const sightings = new Map<number, OracleSighting>();

  const script = (socket: Socket, seed: number, outputBytes: number, rest: Buffer): void => {
    const seen = sightings.get(seed) ?? { connections: 0, heard: 0, closed: false };
    if (sightings.size < MAX_SIGHTINGS) sightings.set(seed, seen);
    seen.connections++;
    if (seen.connections > 1) found(`oracle session ${seed}: the peer got connection number ${seen.connections} (a session has one peer connection)`);
    const input = new ByteStream(seed, INPUT_SALT);
    let failed = false;
    const hear = (chunk: Buffer): void => {
      if (failed || chunk.length === 0) return;
      const wrong = input.verify(chunk);
      if (wrong >= 0) {
        failed = true;
        found(`oracle session ${seed}: the peer's input byte ${wrong} is wrong (a byte dropped, doubled or moved; chunk of ${chunk.length} at ${input.offset - chunk.length})`);
      } else seen.heard += chunk.length;
    };
    socket.on('data', hear);
    socket.on('close', () => {
      seen.closed = true;
    });
    hear(rest);
    void talk(socket, seed, outputBytes);
  };

  const server = await streamServer((socket) => {
    let first: Buffer = Buffer.alloc(0);
    let timer: NodeJS.Timeout | null = null;
    const echo = (): void => {
      socket.removeListener('data', decide);
      if (timer !== null) clearTimeout(timer);
      if (first.length > 0) socket.write(first);
      socket.pipe(socket);
    };
    const decide = (chunk: Buffer): void => {
      first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
      const marker = readMarker(first);
      if (marker === 'not a marker') echo();
      else if (marker === 'undecided') timer ??= setTimeout(echo, UNDECIDED_MS);
      else {
        socket.removeListener('data', decide);
        if (timer !== null) clearTimeout(timer);
        script(socket, marker.seed, marker.outputBytes, marker.rest);
      }
    };
    socket.on('data', decide);
  });
  const address = /:(\d+)$/.exec(server.address)?.[1];
  return {
    port: Number(address),
    sighting: (seed) => sightings.get(seed),
    forget: (seed) => {
      sightings.delete(seed);
    },
    close: () => server.close(),
  };
}

/** Writes the seed's output in pieces of 1 byte to 16 KiB, now and then after a pause, waiting out backpressure. */
async function talk(socket: Socket, seed: number, total: number): Promise<void> {
  const output = new ByteStream(seed, OUTPUT_SALT);
  const pace = new Random(seed);
  const until = Date.now() + TALK_LIMIT_MS;
  while (output.offset < total && !socket.destroyed && Date.now() < until) {
    const piece = output.next(Math.min(total - output.offset, pace.pick([1, 100, 1000, 4096, 16_384])));
    if (!socket.write(piece)) await drained(socket, until - Date.now());
    else if (pace.chance(0.3)) await delay(pace.int(1, 20));
  }
}

function drained(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, timeoutMs));
    socket.once('drain', done);
    socket.once('close', done);
  });
}
