/*
 * The bytes of the session oracle (session-oracle.ts): a client and the bridge's peer that both
 * know, from one seed, what the other must send. A session's first input record is a marker
 * line naming the seed and how much the peer is to say; after it, the client's input is the
 * seed's input stream and the peer's output the seed's output stream, each pseudo-random so
 * that a byte taken twice, dropped or moved can never look right.
 */

/** Starts every oracle session's input; 0xfe first, so that no text and few fuzz inputs begin with it. */
export const ORACLE_PREFIX = Buffer.from('\xfewebsocksy-fuzz-oracle ', 'latin1');
/** A marker line longer than this is not one. */
const MAX_MARKER = ORACLE_PREFIX.length + 40;

export function markerLine(seed: number, outputBytes: number): Buffer {
  return Buffer.concat([ORACLE_PREFIX, Buffer.from(`${seed} ${outputBytes}\n`, 'latin1')]);
}

export type MarkerRead = { readonly seed: number; readonly outputBytes: number; readonly rest: Buffer } | 'undecided' | 'not a marker';

/** What the first bytes of a peer connection are: a whole marker line, maybe the start of one, or not one. */
export function readMarker(first: Buffer): MarkerRead {
  const head = first.subarray(0, ORACLE_PREFIX.length);
  if (!head.equals(ORACLE_PREFIX.subarray(0, head.length))) return 'not a marker';
  const end = first.indexOf(0x0a, ORACLE_PREFIX.length);
  if (end < 0) return first.length < MAX_MARKER ? 'undecided' : 'not a marker';
  const match = /^(\d{1,10}) (\d{1,9})$/.exec(first.subarray(ORACLE_PREFIX.length, end).toString('latin1'));
  if (match === null) return 'not a marker';
  return { seed: Number(match[1]), outputBytes: Number(match[2]), rest: first.subarray(end + 1) };
}

/** A seeded byte stream (mulberry32, four bytes a step), read in pieces of any size. */
export class ByteStream {
  private state: number;
  private word = 0;
  private left = 0;
  /** Bytes produced so far. */
  offset = 0;

  constructor(seed: number, salt: number) {
    this.state = (seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  }

  next(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) {
      if (this.left === 0) {
        this.state = (this.state + 0x6d2b79f5) >>> 0;
        let t = this.state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        this.word = (t ^ (t >>> 14)) >>> 0;
        this.left = 4;
      }
      out[i] = this.word & 0xff;
      this.word >>>= 8;
      this.left--;
    }
    this.offset += length;
    return out;
  }

  /** Checks that `chunk` is what comes next: -1 if so, else the stream offset of the first wrong byte. */
  verify(chunk: Uint8Array): number {
    const from = this.offset;
    const expected = this.next(chunk.length);
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== expected[i]) return from + i;
    return -1;
  }
}

/** The salts of the two directions. */
export const INPUT_SALT = 1;
export const OUTPUT_SALT = 2;
