// The fused rotary correction against its CPU reference, and PIE's invariants on the kernel itself: rotating by +d then
// -d returns the row; 1,000 successive shifts equal one direct rotation by their sum; a rotated key equals the key
// computed at the new position in the first place.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packMoves, pieRekey, pieRekeyRef, type RekeyParams } from '../../src/engine/kernels/pie_rekey.js';
import { ropeRef } from '../../src/engine/kernels/rope.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { assertClose, normalisedError, randn, rng, testGpu } from '../helpers/gpu.js';

const specs: Omit<RekeyParams, 'nMoves'>[] = [
  { nLayers: 3, nKvHeads: 2, maxRows: 37, headDim: 8, ropeDim: 8, base: 10000, scale: 1, layout: 'normal' },
  { nLayers: 2, nKvHeads: 3, maxRows: 50, headDim: 80, ropeDim: 32, base: 1000000, scale: 0.25, layout: 'neox' },
  { nLayers: 1, nKvHeads: 1, maxRows: 9, headDim: 4, ropeDim: 2, base: 10000, scale: 1, layout: 'normal' },
];

const name = (s: Omit<RekeyParams, 'nMoves'>) => `layers=${s.nLayers} kvHeads=${s.nKvHeads} headDim=${s.headDim} ropeDim=${s.ropeDim} scale=${s.scale} ${s.layout}`;

async function rekeyOnGpu(ctx: GpuContext, k: Float32Array, steps: { rows: number[]; deltas: number[] }[], s: Omit<RekeyParams, 'nMoves'>): Promise<Float32Array> {
  const buf = ctx.upload(k, 'k');
  const b = ctx.batch();
  const moveBufs = steps.map((st) => ctx.upload(packMoves(st.rows, st.deltas), 'moves'));
  steps.forEach((st, i) => pieRekey(b, buf, moveBufs[i]!, { ...s, nMoves: st.rows.length }));
  b.submit();
  const out = await ctx.readF32(buf, 0, k.length);
  for (const m of moveBufs) m.destroy();
  buf.destroy();
  return out;
}

for (const s of specs) {
  test(`pie_rekey against its CPU reference; unmoved rows and unrotated dims untouched (${name(s)})`, async () => {
    const ctx = await testGpu();
    const k = randn(s.nLayers * s.nKvHeads * s.maxRows * s.headDim, s.headDim);
    const r = rng(s.maxRows);
    const rows = Array.from({ length: s.maxRows }, (_, i) => i).filter(() => r() < 0.5);
    const deltas = rows.map(() => Math.floor(r() * 4001) - 2000);
    const got = await rekeyOnGpu(ctx, k, [{ rows, deltas }], s);
    const want = pieRekeyRef(k, rows, deltas, { ...s, nMoves: rows.length });
    assertClose(got, want, 1e-6, 'pie_rekey');
    const moved = new Set(rows);
    for (let i = 0; i < k.length; i++) {
      const row = Math.floor(i / s.headDim) % s.maxRows;
      if (!moved.has(row) || i % s.headDim >= s.ropeDim) assert.equal(got[i], k[i], `element ${i} (row ${row}) should not change`);
    }
  });

  test(`rotating by +d then -d returns the row within 1e-6 (${name(s)})`, async () => {
    const ctx = await testGpu();
    const k = randn(s.nLayers * s.nKvHeads * s.maxRows * s.headDim, 7);
    const rows = Array.from({ length: s.maxRows }, (_, i) => i);
    const deltas = rows.map((i) => (i * 7919) % 5000);
    const there = await rekeyOnGpu(ctx, k, [{ rows, deltas }], s);
    assertClose(there, pieRekeyRef(k, rows, deltas, { ...s, nMoves: rows.length }), 1e-6, 'rotation by +d');
    const got = await rekeyOnGpu(ctx, there, [{ rows, deltas: deltas.map((d) => -d) }], s);
    const err = normalisedError(got, k);
    assert.ok(err <= 1e-6, `round trip error ${err.toExponential(2)}`);
  });

  test(`1,000 successive random shifts stay within 1e-5 of one direct rotation (${name(s)})`, async () => {
    const ctx = await testGpu();
    const k = randn(s.nLayers * s.nKvHeads * s.maxRows * s.headDim, 11);
    const rows = Array.from({ length: s.maxRows }, (_, i) => i);
    const r = rng(5);
    const total = rows.map(() => 0);
    const steps = Array.from({ length: 1000 }, () => {
      const deltas = rows.map(() => Math.floor(r() * 41) - 20);
      deltas.forEach((d, i) => (total[i]! += d));
      return { rows, deltas };
    });
    const many = await rekeyOnGpu(ctx, k, steps, s);
    const once = await rekeyOnGpu(ctx, k, [{ rows, deltas: total }], s);
    assertClose(once, pieRekeyRef(k, rows, total, { ...s, nMoves: rows.length }), 1e-6, 'direct rotation');
    const err = normalisedError(many, once);
    assert.ok(err <= 1e-5, `drift after 1,000 shifts: ${err.toExponential(2)}`);
  });
}

test('a key rotated from position p to p + d equals the key rotated to p + d directly (1e-5)', async () => {
  const ctx = await testGpu();
  const s = specs[1]!;
  const heads = s.nLayers * s.nKvHeads;
  // raw keys laid out as (layer*head, row, headDim); rope each row at its position, then move rows by deltas
  const raw = randn(heads * s.maxRows * s.headDim, 3);
  const pos = Array.from({ length: s.maxRows }, (_, i) => 3 * i + 1);
  const deltas = pos.map((_, i) => (i % 2 ? 700 : -1));
  const at = (positions: number[]) => {
    const out = new Float32Array(raw.length);
    for (let lh = 0; lh < heads; lh++) {
      const block = raw.subarray(lh * s.maxRows * s.headDim, (lh + 1) * s.maxRows * s.headDim);
      out.set(ropeRef(block, positions, { ...s, tokens: s.maxRows, nHeads: 1 }), lh * s.maxRows * s.headDim);
    }
    return out;
  };
  const rows = pos.map((_, i) => i);
  const moved = await rekeyOnGpu(ctx, at(pos), [{ rows, deltas }], s);
  const direct = at(pos.map((p, i) => p + deltas[i]!));
  assertClose(moved, direct, 1e-5, 'moved vs direct');
});
