import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchTokens } from '../../src/engine/kv/diff.js';
import { rng } from '../../src/engine/util/rng.js';

/** Length of a longest common subsequence, by dynamic programming. */
function lcsLength(a: number[], b: number[]): number {
  let prev = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Int32Array(b.length + 1);
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    prev = cur;
  }
  return prev[b.length]!;
}

test('matchTokens returns a longest common subsequence of valid, increasing, equal pairs', () => {
  const r = rng(3);
  for (let trial = 0; trial < 500; trial++) {
    const a = Array.from({ length: Math.floor(r() * 60) }, () => Math.floor(r() * 5));
    // b: a with a few random edits at a few places, or unrelated
    const b = [...a];
    const edits = Math.floor(r() * 6);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(r() * (b.length + 1));
      b.splice(at, Math.floor(r() * 4), ...Array.from({ length: Math.floor(r() * 4) }, () => Math.floor(r() * 5)));
    }
    const m = matchTokens(a, b);
    let pi = -1;
    let pj = -1;
    for (const [i, j] of m) {
      assert.ok(i > pi && j > pj, 'pairs must increase');
      assert.equal(a[i], b[j]);
      pi = i;
      pj = j;
    }
    assert.equal(m.length, lcsLength(a, b), `trial ${trial}: not a longest common subsequence`);
  }
});

test('a cursor move (two separate changes) keeps the tokens between them', () => {
  const a = Array.from({ length: 1000 }, (_, i) => i);
  const b = [...a.slice(0, 100), 5000, 5001, ...a.slice(102, 800), 6000, ...a.slice(801)];
  const m = matchTokens(a, b);
  assert.equal(m.length, 997);
});

test('past maxD the middle counts as replaced, still valid', () => {
  const a = Array.from({ length: 200 }, (_, i) => i);
  const b = Array.from({ length: 200 }, (_, i) => (i % 2 ? i : 1000 + i));
  const m = matchTokens(a, b, 10);
  for (const [i, j] of m) assert.equal(a[i], b[j]);
});
