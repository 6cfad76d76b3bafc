/*
 * The short-lived objects a long-lived owner keeps track of: the connections open, the upgrades
 * waiting. Not a Set: in V8 (measured on Node 20, 22 and 24) an object that passes through a
 * long-lived Set or Map outlives every young-generation GC until the next major one, and keeps
 * alive everything it references, however briefly it was a member (bench/README.md, "A counter
 * instead of a set of open responses"). An array with swap-remove, each member's index in a
 * WeakMap, has no such effect. Order is not kept; iteration walks a copy, so members may leave
 * or join while it runs.
 */
export class LiveSet<T extends object> implements Iterable<T> {
  private readonly members: T[] = [];
  private readonly slots = new WeakMap<T, number>();

  get size(): number {
    return this.members.length;
  }

  has(member: T): boolean {
    return this.slots.has(member);
  }

  add(member: T): void {
    if (this.slots.has(member)) return;
    this.slots.set(member, this.members.length);
    this.members.push(member);
  }

  /** False when `member` was not in the set. */
  delete(member: T): boolean {
    const slot = this.slots.get(member);
    if (slot === undefined) return false;
    this.slots.delete(member);
    const last = this.members.pop() as T;
    if (last !== member) {
      this.members[slot] = last;
      this.slots.set(last, slot);
    }
    return true;
  }

  [Symbol.iterator](): Iterator<T> {
    return [...this.members][Symbol.iterator]();
  }
}
