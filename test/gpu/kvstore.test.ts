import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvStore, type KvStoreParams, kvStoreRef } from '../../src/engine/kernels/kvstore.js';
import { randn, rng, SENTINEL, testGpu } from '../helpers/gpu.js';

const GUARD = 64;

for (const [nLayers, p] of [
  [3, { tokens: 5, nKvHeads: 3, headDim: 6, maxRows: 11, layer: 1 }],
  [2, { tokens: 1, nKvHeads: 2, headDim: 64, maxRows: 300, layer: 0 }],
  [4, { tokens: 33, nKvHeads: 1, headDim: 80, maxRows: 33, layer: 3 }],
  [1, { tokens: 17, nKvHeads: 4, headDim: 128, maxRows: 1000, layer: 0 }],
] as [number, KvStoreParams][]) {
  test(`kv_store writes only rows[t] of layer ${p.layer} (layers=${nLayers} tokens=${p.tokens} kvHeads=${p.nKvHeads} headDim=${p.headDim} maxRows=${p.maxRows})`, async () => {
    const ctx = await testGpu();
    const cacheLen = nLayers * p.nKvHeads * p.maxRows * p.headDim;
    const n = p.tokens * p.nKvHeads * p.headDim;
    const k = randn(n, n + 1);
    const v = randn(n, n + 2);
    // distinct destination rows in random order (33 tokens in 33 rows: a permutation)
    const r = rng(p.maxRows);
    const free = Array.from({ length: p.maxRows }, (_, i) => i);
    const rows = Uint32Array.from({ length: p.tokens }, () => free.splice(Math.floor(r() * free.length), 1)[0]!);
    // caches filled with the sentinel, with a guard past the end that must stay so
    const kc0 = new Float32Array(cacheLen + GUARD).fill(SENTINEL);
    const vc0 = new Float32Array(cacheLen + GUARD).fill(SENTINEL);
    const kc = ctx.upload(kc0, 'kc');
    const vc = ctx.upload(vc0, 'vc');
    const b = ctx.batch();
    kvStore(b, ctx.upload(k, 'k'), ctx.upload(v, 'v'), ctx.upload(rows, 'rows'), kc, vc, p);
    b.submit();
    const [wantK, wantV] = kvStoreRef(k, v, rows, kc0, vc0, p);
    assert.deepEqual(await ctx.readF32(kc, 0, cacheLen + GUARD), wantK);
    assert.deepEqual(await ctx.readF32(vc, 0, cacheLen + GUARD), wantV);
  });
}
