/*
 * Stream ids: 32 bits on the wire, so a long session runs past the last one and must wrap.
 * The client opens odd ids, the server even ones, and 0 is reserved (stream 0 carries the
 * session's own frames, and `seen = 0` means "none yet"). Ids are ordered by serial number
 * arithmetic (RFC 1982): `a` comes after `b` when it lies less than half the id space ahead,
 * which holds for every pair of ids alive at once, since a session holds at most a few
 * thousand streams. Both the "already seen" check of an OPEN and resume's "opens the other side
 * never saw" use this order; a new id skips any that is still in use.
 */

const ID_SPACE = 2 ** 32;
const HALF_SPACE = 2 ** 31;

export type Side = 'client' | 'server';

/** True when `a` comes after `b` in the order of one side's ids. */
export function idAfter(a: number, b: number): boolean {
  const distance = (a - b + ID_SPACE) % ID_SPACE;
  return distance !== 0 && distance < HALF_SPACE;
}

/** True when an OPEN of `id` is newer than `seen`, the newest id of that side known so far (0: none). */
export function isUnseen(id: number, seen: number): boolean {
  return seen === 0 || idAfter(id, seen);
}

/** True when `id` is one the `side` may open. */
export function isIdOf(side: Side, id: number): boolean {
  return Number.isInteger(id) && id > 0 && id < ID_SPACE && id % 2 === (side === 'client' ? 1 : 0);
}

/** Hands out one side's stream ids in order, wrapping past 2^32 − 1. */
export class StreamIdAllocator {
  private next: number;

  /** `first` starts elsewhere than at the side's lowest id (tests start near the wrap). */
  constructor(side: Side, first: number = side === 'client' ? 1 : 2) {
    if (!isIdOf(side, first)) throw new RangeError(`${first} is not a ${side} stream id`);
    this.next = first;
  }

  /** The next id not `inUse`. Terminates: fewer ids are in use than there are of either parity. */
  allocate(inUse: (id: number) => boolean): number {
    let id = this.next;
    while (inUse(id)) id = this.after(id);
    this.next = this.after(id);
    return id;
  }

  private after(id: number): number {
    const next = (id + 2) % ID_SPACE;
    return next === 0 ? 2 : next;
  }
}
