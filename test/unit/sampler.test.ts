import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmaxOf, Sampler, topKIndices } from '../../src/engine/sampler.js';
import { rng } from '../../src/engine/util/rng.js';

test('argmaxOf: lowest index on ties, NaN never wins, all -inf gives 0', () => {
  assert.equal(argmaxOf([1, 3, 3, 2]), 1);
  assert.equal(argmaxOf([NaN, 1, NaN, 0.5]), 1);
  assert.equal(argmaxOf([-Infinity, -Infinity]), 0);
});

test('topKIndices equals the first k of a full descending sort (heap and sort paths)', () => {
  const r = rng(5);
  for (const [n, k] of [
    [1000, 5],
    [1000, 200],
    [37, 37],
    [50000, 40],
  ] as const) {
    const x = Float32Array.from({ length: n }, () => Math.round(r() * 100) / 10); // many ties
    const expected = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => x[b]! - x[a]! || a - b)
      .slice(0, k);
    assert.deepEqual(topKIndices(x, k), expected, `n=${n} k=${k}`);
  }
});

test('greedy sampler is argmax', () => {
  const s = new Sampler({ temperature: 0 });
  assert.equal(s.sample([0.1, 5, 2]), 1);
});

test('seeded sampling is reproducible, and different seeds differ', () => {
  const logits = Array.from({ length: 100 }, (_, i) => Math.sin(i));
  const draw = (seed: number) => {
    const s = new Sampler({ temperature: 1, topK: 0, topP: 1, seed });
    return Array.from({ length: 50 }, () => s.sample(logits));
  };
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

test('temperature 1 reproduces the softmax distribution', () => {
  const p = [0.5, 0.3, 0.2];
  const s = new Sampler({ temperature: 1, topK: 0, topP: 1, seed: 1 });
  const counts = [0, 0, 0];
  const n = 20000;
  for (let i = 0; i < n; i++) counts[s.sample(p.map(Math.log))]!++;
  counts.forEach((c, i) => assert.ok(Math.abs(c / n - p[i]!) < 0.02, `token ${i}: ${c / n} vs ${p[i]}`));
});

test('top-p keeps the smallest prefix reaching p; top-k 1 is greedy', () => {
  const logits = [0.5, 0.3, 0.2].map(Math.log);
  const s = new Sampler({ temperature: 1, topK: 0, topP: 0.6, seed: 3 });
  const seen = new Set(Array.from({ length: 2000 }, () => s.sample(logits)));
  assert.deepEqual([...seen].sort(), [0, 1]);
  const k1 = new Sampler({ temperature: 2, topK: 1, topP: 1, seed: 3 });
  for (let i = 0; i < 100; i++) assert.equal(k1.sample(logits), 0);
});

test('bad options are refused', () => {
  assert.throws(() => new Sampler({ topP: 0 }), /topP/);
  assert.throws(() => new Sampler({ topK: -1 }), /topK/);
});
