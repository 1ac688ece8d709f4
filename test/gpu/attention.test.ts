import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attention, attentionRef, type AttentionParams } from '../../src/engine/kernels/attention.js';
import { kvStore, kvStoreRef } from '../../src/engine/kernels/kvstore.js';
import { assertClose, randn, readChecked, rng, SENTINEL, testGpu } from '../helpers/gpu.js';

/** Positions for nRows rows: a shuffled range with holes (-1), as rows look after PIE edits. */
function rowPositions(nRows: number, maxRows: number, seed: number, holes = 0.1): Int32Array {
  const r = rng(seed);
  const pos = new Int32Array(maxRows).fill(-1);
  const order = Array.from({ length: nRows }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let i = 0; i < nRows; i++) pos[i] = r() < holes ? -1 : order[i]!;
  return pos;
}

const cases: (Omit<AttentionParams, 'maxRows' | 'layer'> & { nLayers: number })[] = [
  { tokens: 1, nHeads: 8, nKvHeads: 2, headDim: 64, nRows: 300, nLayers: 2 },
  { tokens: 17, nHeads: 4, nKvHeads: 4, headDim: 48, nRows: 1100, nLayers: 1 },
  { tokens: 17, nHeads: 6, nKvHeads: 3, headDim: 8, nRows: 5, nLayers: 3 },
  { tokens: 3, nHeads: 2, nKvHeads: 1, headDim: 128, nRows: 1, nLayers: 1 },
  { tokens: 1, nHeads: 8, nKvHeads: 4, headDim: 4, nRows: 4096, nLayers: 2 },
];

for (const c of cases) {
  test(`attention tokens=${c.tokens} heads=${c.nHeads}/${c.nKvHeads} headDim=${c.headDim} rows=${c.nRows}`, async () => {
    const ctx = await testGpu();
    const maxRows = c.nRows + 3;
    const layer = c.nLayers - 1;
    const p: AttentionParams = { ...c, maxRows, layer };
    const cacheLen = c.nLayers * c.nKvHeads * maxRows * c.headDim;
    const k = randn(cacheLen, c.nRows + 1, 2);
    const v = randn(cacheLen, c.nRows + 2);
    const q = randn(c.tokens * c.nHeads * c.headDim, c.nRows + 3);
    const rowPos = rowPositions(c.nRows, maxRows, c.nRows);
    // query positions: the middle, the end, beyond the end, and -1 (nothing visible: zeros)
    const qPos = Int32Array.from({ length: c.tokens }, (_, t) => [Math.floor(c.nRows / 2), c.nRows - 1, c.nRows + 10, -1][t % 4]!);
    const n = c.tokens * c.nHeads * c.headDim;
    const out = ctx.upload(new Float32Array(n + 64).fill(SENTINEL), 'out');
    const b = ctx.batch();
    attention(b, ctx.upload(q, 'q'), ctx.upload(k, 'k'), ctx.upload(v, 'v'), ctx.upload(rowPos, 'rowPos'), ctx.upload(qPos, 'qPos'), out, p);
    b.submit();
    const got = await readChecked(ctx, out, n);
    assertClose(got, attentionRef(q, k, v, rowPos, qPos, p), 1e-5, 'attention');
    for (let t = 3; t < c.tokens; t += 4) {
      for (let i = 0; i < c.nHeads * c.headDim; i++) assert.equal(got[t * c.nHeads * c.headDim + i], 0, 'a token with no visible row must get zeros');
    }
  });
}

test('kv_store writes only the given rows of the given layer', async () => {
  const ctx = await testGpu();
  const p = { tokens: 5, nKvHeads: 3, headDim: 6, maxRows: 11, layer: 1 };
  const cacheLen = 3 * p.nKvHeads * p.maxRows * p.headDim;
  const k = randn(p.tokens * p.nKvHeads * p.headDim, 1);
  const v = randn(p.tokens * p.nKvHeads * p.headDim, 2);
  const rows = Uint32Array.from([10, 0, 4, 5, 7]);
  const kc0 = new Float32Array(cacheLen).fill(SENTINEL);
  const vc0 = new Float32Array(cacheLen).fill(SENTINEL);
  const kc = ctx.upload(kc0, 'kc');
  const vc = ctx.upload(vc0, 'vc');
  const b = ctx.batch();
  kvStore(b, ctx.upload(k, 'k'), ctx.upload(v, 'v'), ctx.upload(rows, 'rows'), kc, vc, p);
  b.submit();
  const [wantK, wantV] = kvStoreRef(k, v, rows, kc0, vc0, p);
  assert.deepEqual(await ctx.readF32(kc, 0, cacheLen), wantK);
  assert.deepEqual(await ctx.readF32(vc, 0, cacheLen), wantV);
});
