/*
 * The short-lived objects a long-lived owner keeps track of: the connections open, the upgrades
 * waiting. Not a Set: in V8 (measured on Node 20, 22 and 24) an object that passes through a
 * long-lived Set or Map outlives every young-generation GC until the next major one, and keeps
 * alive everything it references, however briefly it was a member (bench/README.md, "A counter
 * instead of a set of open responses"). An array with swap-remove has no such effect. Each
 * member carries its index in this set under the set's own symbol, not in a WeakMap: a WeakMap
 * write per join and leave cost a bridged connection ~2 µs in write barriers and ephemeron
 * tables (bench/README.md, "The connection path's own objects"). A member that left keeps the
 * property, set to -1, so that its shape does not change again. Order is not kept; iteration
 * walks a copy, so members may leave or join while it runs.
 */
type Slotted = Record<symbol, number | undefined>;

export class LiveSet<T extends object> implements Iterable<T> {
  private readonly members: T[] = [];
  private readonly slot = Symbol('websocksy.liveSet');

  get size(): number {
    return this.members.length;
  }

  has(member: T): boolean {
    return this.slotOf(member) >= 0;
  }

  add(member: T): void {
    if (this.slotOf(member) >= 0) return;
    (member as Slotted)[this.slot] = this.members.length;
    this.members.push(member);
  }

  /** False when `member` was not in the set. */
  delete(member: T): boolean {
    const slot = this.slotOf(member);
    if (slot < 0) return false;
    (member as Slotted)[this.slot] = -1;
    const last = this.members.pop() as T;
    if (last !== member) {
      this.members[slot] = last;
      (last as Slotted)[this.slot] = slot;
    }
    return true;
  }

  [Symbol.iterator](): Iterator<T> {
    return [...this.members][Symbol.iterator]();
  }

  /** The member's index here, -1 when it is not a member (a copy made by a spread carries the property too, hence the check). */
  private slotOf(member: T): number {
    const slot = (member as Slotted)[this.slot];
    return slot !== undefined && this.members[slot] === member ? slot : -1;
  }
}
