import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attention, attentionPlan, type AttentionPlan, attentionRef, attentionWithPlan, type AttentionParams } from '../../src/engine/kernels/attention.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { assertClose, randn, readChecked, rng, sentinelBuffer, testGpu } from '../helpers/gpu.js';

/** Positions for nRows rows: a shuffled range with holes (-1), as rows look after PIE edits; rows past nRows are empty. */
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

interface Case extends Omit<AttentionParams, 'maxRows' | 'layer'> {
  nLayers: number;
  /** Standard deviation of q and k: large values make the softmax peaked and test the max subtraction. */
  spread?: number;
}

/** Runs one call (with `plan`, or attention()'s own) against the f64 reference; checks zeros for blind tokens. */
async function check(ctx: GpuContext, c: Case, plan?: AttentionPlan): Promise<void> {
  const maxRows = c.nRows + 3;
  const layer = c.nLayers - 1;
  const p: AttentionParams = { ...c, maxRows, layer };
  const cacheLen = c.nLayers * c.nKvHeads * maxRows * c.headDim;
  const spread = c.spread ?? 1;
  const k = randn(cacheLen, c.nRows + 1, spread);
  const v = randn(cacheLen, c.nRows + 2);
  const q = randn(c.tokens * c.nHeads * c.headDim, c.nRows + 3, spread);
  const rowPos = rowPositions(c.nRows, maxRows, c.nRows);
  // query positions: the middle, the end, beyond the end, and -1 (nothing visible: zeros)
  const qPos = Int32Array.from({ length: c.tokens }, (_, t) => [Math.floor(c.nRows / 2), c.nRows - 1, c.nRows + 10, -1][t % 4]!);
  const n = c.tokens * c.nHeads * c.headDim;
  const out = sentinelBuffer(ctx, n);
  const bufs = [ctx.upload(q, 'q'), ctx.upload(k, 'k'), ctx.upload(v, 'v'), ctx.upload(rowPos, 'rowPos'), ctx.upload(qPos, 'qPos')] as const;
  const b = ctx.batch();
  if (plan) attentionWithPlan(b, ...bufs, out, p, plan);
  else attention(b, ...bufs, out, p);
  b.submit();
  const got = await readChecked(ctx, out, n);
  assertClose(got, attentionRef(q, k, v, rowPos, qPos, p), 1e-5, 'attention');
  const perToken = c.nHeads * c.headDim;
  for (let t = 0; t < c.tokens; t++) {
    if (qPos[t]! >= 0 && c.nRows > 0) continue;
    for (let i = 0; i < perToken; i++) assert.equal(got[t * perToken + i], 0, `token ${t} sees no row and must get zeros`);
  }
}

const cases: Case[] = [
  { tokens: 1, nHeads: 8, nKvHeads: 2, headDim: 64, nRows: 300, nLayers: 2 },
  { tokens: 17, nHeads: 8, nKvHeads: 2, headDim: 64, nRows: 300, nLayers: 2 },
  { tokens: 17, nHeads: 4, nKvHeads: 4, headDim: 48, nRows: 1100, nLayers: 1 },
  { tokens: 1, nHeads: 4, nKvHeads: 4, headDim: 48, nRows: 1100, nLayers: 1 },
  { tokens: 17, nHeads: 6, nKvHeads: 3, headDim: 8, nRows: 5, nLayers: 3 },
  { tokens: 1, nHeads: 6, nKvHeads: 3, headDim: 8, nRows: 5, nLayers: 3 },
  { tokens: 3, nHeads: 2, nKvHeads: 1, headDim: 128, nRows: 1, nLayers: 1 },
  { tokens: 1, nHeads: 8, nKvHeads: 4, headDim: 4, nRows: 4096, nLayers: 2 },
  { tokens: 5, nHeads: 3, nKvHeads: 1, headDim: 256, nRows: 70, nLayers: 1 },
  { tokens: 2, nHeads: 4, nKvHeads: 2, headDim: 16, nRows: 0, nLayers: 1 },
  { tokens: 9, nHeads: 8, nKvHeads: 1, headDim: 64, nRows: 200, nLayers: 1, spread: 6 },
];

for (const c of cases) {
  test(`attention tokens=${c.tokens} heads=${c.nHeads}/${c.nKvHeads} headDim=${c.headDim} rows=${c.nRows}${c.spread ? ` spread=${c.spread}` : ''}`, async () => {
    await check(await testGpu(), c);
  });
}

// attention() picks one plan per device; every other tile and chunk count must agree too (a GPU runs split-K with many
// chunks; chunks past the last row are empty).
const planCases: Case[] = [
  { tokens: 7, nHeads: 8, nKvHeads: 2, headDim: 48, nRows: 130, nLayers: 2 },
  { tokens: 6, nHeads: 4, nKvHeads: 4, headDim: 8, nRows: 5, nLayers: 1 },
];
for (const c of planCases) {
  const group = c.nHeads / c.nKvHeads;
  for (const qt of [1, 2, 4] as const) {
    for (const tt of [1, 2, 4] as const) {
      if (group % qt !== 0 || qt * tt > 4) continue;
      for (const nChunks of [1, 3, 40]) {
        test(`attention plan ${qt}x${tt} chunks=${nChunks} tokens=${c.tokens} heads=${c.nHeads}/${c.nKvHeads} rows=${c.nRows}`, async () => {
          await check(await testGpu(), c, { qt, tt, nChunks });
        });
      }
    }
  }
}

test('attention plans: 4 queries per invocation where the shapes allow, chunks only where invocations are few', async () => {
  const ctx = await testGpu();
  const p = { nHeads: 8, headDim: 64, maxRows: 4096, nRows: 2048, layer: 0 };
  assert.deepEqual(attentionPlan(ctx, { ...p, tokens: 64, nKvHeads: 2 }), { qt: 4, tt: 1, nChunks: 1 });
  assert.deepEqual(attentionPlan(ctx, { ...p, tokens: 64, nKvHeads: 4 }), { qt: 2, tt: 2, nChunks: 1 });
  assert.deepEqual(attentionPlan(ctx, { ...p, tokens: 64, nKvHeads: 8 }), { qt: 1, tt: 4, nChunks: 1 });
  assert.deepEqual(attentionPlan(ctx, { ...p, tokens: 1, nHeads: 9, nKvHeads: 3 }).qt, 1);
  assert.ok(attentionPlan(ctx, { ...p, tokens: 1, nKvHeads: 2 }).nChunks > 1);
  assert.equal(attentionPlan(ctx, { ...p, tokens: 1, nKvHeads: 2, nRows: 20 }).nChunks, 1, 'no chunk under 32 rows');
});

test('attention rejects head dims that are not a multiple of 4', async () => {
  const ctx = await testGpu();
  const buf = ctx.buffer(64, 'x');
  const p: AttentionParams = { tokens: 1, nHeads: 1, nKvHeads: 1, headDim: 6, maxRows: 1, nRows: 1, layer: 0 };
  assert.throws(() => attention(ctx.batch(), buf, buf, buf, buf, buf, buf, p), /multiple of 4/);
});
