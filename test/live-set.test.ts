/*
 * LiveSet (src/lib/live-set.ts), the Set stand-in for short-lived members of long-lived owners:
 * membership through any order of adds and deletes, a member added twice counted once, and
 * iteration that survives members leaving and joining while it runs (as closing every client
 * of a set does); one object in several sets at once (a bridge is in its listener's clients and
 * in the tallies), and a copy of a member (a spread copies its index too) not taken for it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LiveSet } from '../src/lib/live-set.js';

describe('LiveSet', () => {
  test('agrees with a Set through a random run of adds and deletes', () => {
    const members = Array.from({ length: 40 }, (_, index) => ({ index }));
    const live = new LiveSet<{ index: number }>();
    const reference = new Set<{ index: number }>();
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let step = 0; step < 5000; step++) {
      const member = members[next() % members.length] as { index: number };
      if (next() % 2 === 0) {
        live.add(member);
        reference.add(member);
      } else assert.equal(live.delete(member), reference.delete(member));
      assert.equal(live.size, reference.size);
    }
    for (const member of members) assert.equal(live.has(member), reference.has(member));
    assert.deepEqual(new Set(live), reference);
  });

  test('a member added twice is one member', () => {
    const live = new LiveSet<object>();
    const member = {};
    live.add(member);
    live.add(member);
    assert.equal(live.size, 1);
    assert.equal(live.delete(member), true);
    assert.equal(live.delete(member), false);
    assert.equal(live.size, 0);
  });

  test('iteration visits every member present when it began, while members leave and join', () => {
    const members = Array.from({ length: 10 }, (_, index) => ({ index }));
    const live = new LiveSet<{ index: number }>();
    for (const member of members) live.add(member);
    const visited: number[] = [];
    for (const member of live) {
      visited.push(member.index);
      live.delete(member);
      live.add({ index: 100 + member.index });
    }
    assert.deepEqual(visited.sort((a, b) => a - b), members.map((member) => member.index));
    assert.equal(live.size, 10);
    assert.ok([...live].every((member) => member.index >= 100));
  });

  test('one object in two sets is a member of each on its own', () => {
    const first = new LiveSet<object>();
    const second = new LiveSet<object>();
    const shared = {};
    const other = {};
    first.add(other);
    first.add(shared);
    second.add(shared);
    assert.equal(first.delete(other), true);
    assert.equal(first.has(shared), true);
    assert.equal(second.has(shared), true);
    assert.equal(second.delete(shared), true);
    assert.equal(first.has(shared), true);
    assert.equal(second.has(shared), false);
    assert.deepEqual([...first], [shared]);
  });

  test('a copy of a member is not a member', () => {
    const live = new LiveSet<object>();
    const member = {};
    live.add(member);
    const copy = { ...member };
    assert.equal(live.has(copy), false);
    assert.equal(live.delete(copy), false);
    assert.equal(live.size, 1);
    live.add(copy);
    assert.equal(live.size, 2);
    assert.equal(live.delete(member), true);
    assert.deepEqual([...live], [copy]);
  });
});
