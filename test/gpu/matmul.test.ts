// matmul against its CPU reference on the dequantized weights, for every tensor format of the registry, decode and
// prefill shapes, odd sizes (element formats with K not a multiple of 32 or 4 take the element-wise tail), with and
// without the fused residual add; outputs pre-filled with a sentinel to catch out-of-bounds writes. Both kernels (tiled
// and subgroup) are checked.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FORMATS, formatNamed, type TensorFormat } from '../../src/engine/formats/index.js';
import { uploadWeight, weightRowChunks } from '../../src/engine/gpu/weight.js';
import { type MatmulTiles, matmul, matmulChunks, matmulRef, setMatmulConfig } from '../../src/engine/kernels/matmul.js';
import { makeWeights, shapesFor, smallCols } from '../helpers/formats.js';
import { assertClose, randn, readChecked, SENTINEL, sentinelBuffer, testGpu } from '../helpers/gpu.js';

// The reference uses the same (dequantized) weights and x in f64, so only the kernel's f32 summation differs: 1e-5
// normalised error holds for every format.

after(async () => (await testGpu()).destroy());

/** Runs y = x·wᵀ (and, if `acc`, y += x·wᵀ on a residual) with the current config and checks both against matmulRef. */
async function check(format: TensorFormat, tokens: number, N: number, K: number, what: string, acc = true): Promise<void> {
  const ctx = await testGpu();
  const { raw, ref } = makeWeights(format, N, K, N * 7 + K);
  const w = uploadWeight(ctx, format, raw, N, K, `w.${format.name}`);
  const x = randn(tokens * K, tokens * 13 + K);
  const xb = ctx.upload(x, 'x');
  const y = sentinelBuffer(ctx, tokens * N);
  let b = ctx.batch();
  matmul(b, xb, w, y, { tokens });
  b.submit();
  assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `${what}: y = x·wᵀ`);
  const bufs = [xb, y, w.data];
  if (acc) {
    const residual = randn(tokens * N, tokens + N, 2);
    const yAcc = ctx.upload(Float32Array.from([...residual, ...new Float32Array(64).fill(SENTINEL)]), 'yAcc');
    b = ctx.batch();
    matmul(b, xb, w, yAcc, { tokens, accumulate: true });
    b.submit();
    assertClose(await readChecked(ctx, yAcc, tokens * N), matmulRef(x, ref, tokens, N, K, residual), 1e-5, `${what}: y += x·wᵀ`);
    bufs.push(yAcc);
  }
  for (const buf of bufs) buf?.destroy();
}

for (const format of FORMATS) {
  for (const [N, K] of shapesFor(format)) {
    for (const tokens of [1, 7, 33, 130]) {
      test(`matmul ${format.name} tokens=${tokens} N=${N} K=${K}`, () => check(format, tokens, N, K, `${format.name} tokens=${tokens}`));
    }
  }
}

// The shape of a small model's logits (vocab 32000, dim 288) with the default config.
for (const name of ['f32', 'q8_0'] as const) {
  for (const tokens of [1, 7]) {
    test(`matmul logits ${name} tokens=${tokens} N=32000 K=288`, () => check(formatNamed(name), tokens, 32000, 288, `logits ${name}`, false));
  }
}

// Every tile shape of both kernels (the subgroup kernel falls back to the tiled one where there are no subgroups), on
// odd sizes: tokens=6 N=67; f32 with K=35 (x read by element, an element-wise tail) and q4_k with two 256-blocks (x read
// in 16-byte words, block decoding). The tiling does not depend on the format (every format runs the shape tests above
// with the default tiles); each tile shape is a pipeline to compile, about 30 s per format on a cold lavapipe.
test('matmul tile shapes (f32 K=35, q4_k K=512; tokens=6 N=67)', async () => {
  const ctx = await testGpu();
  try {
    const cases: [TensorFormat, number, number, number][] = ['f32', 'q4_k'].map((n) => [formatNamed(n), 6, 67, smallCols(formatNamed(n))]);
    for (const [format, tokens, N, K] of cases) {
      const type = format.name;
      const { raw, ref } = makeWeights(format, N, K, 99);
      const w = uploadWeight(ctx, format, raw, N, K, 'w');
      const x = randn(tokens * K, 5);
      const xb = ctx.upload(x, 'x');
      for (const subgroup of [false, true]) {
        for (const tr of [1, 2, 3, 4]) {
          for (const tt of [1, 4] as const) {
            const tiles: MatmulTiles = { wg: 32, tr, tt, subgroup };
            setMatmulConfig(ctx, { decode: tiles, prefill: tiles });
            for (const t of [1, tokens]) {
              const y = sentinelBuffer(ctx, t * N);
              const b = ctx.batch();
              matmul(b, xb, w, y, { tokens: t });
              b.submit();
              assertClose(await readChecked(ctx, y, t * N), matmulRef(x, ref, t, N, K), 1e-5, `${type} K=${K} tokens=${t} ${JSON.stringify(tiles)}`);
              y.destroy();
            }
          }
        }
      }
      for (const buf of [xb, w.data]) buf.destroy();
    }
  } finally {
    setMatmulConfig(ctx, null);
  }
});

// A workgroup count over the per-dimension limit is split with grid(): 70000 rows, one per workgroup (WG = 1).
test('matmul grid split (q8_0 tokens=3 N=70000 K=32, tiled and subgroup)', async () => {
  const ctx = await testGpu();
  const [tokens, N, K] = [3, 70000, 32];
  assert.ok(N > ctx.limits.maxComputeWorkgroupsPerDimension);
  const q8_0 = formatNamed('q8_0');
  const { raw, ref } = makeWeights(q8_0, N, K, 3);
  const w = uploadWeight(ctx, q8_0, raw, N, K, 'w');
  const x = randn(tokens * K, 6);
  const xb = ctx.upload(x, 'x');
  try {
    // The subgroup kernel rounds WG up to the subgroup size and gives each subgroup one tile.
    for (const subgroup of [false, true]) {
      setMatmulConfig(ctx, { prefill: { wg: 1, tr: 1, tt: 4, subgroup } });
      const y = sentinelBuffer(ctx, tokens * N);
      const b = ctx.batch();
      matmul(b, xb, w, y, { tokens });
      b.submit();
      assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `grid split subgroup=${subgroup}`);
      y.destroy();
    }
  } finally {
    setMatmulConfig(ctx, null);
  }
});

// A weight larger than one storage binding is bound in aligned row ranges (forced here with a small fake limit).
test('matmul over row chunks (every format, N=300, K=67 or 3 blocks, in bindings of a third of the matrix)', async () => {
  const ctx = await testGpu();
  try {
    for (const format of FORMATS) {
      const type = format.name;
      const [N, K] = [300, format.blockElems === 1 ? 67 : 3 * format.blockElems];
      const { raw, ref } = makeWeights(format, N, K, 42);
      const w = uploadWeight(ctx, format, raw, N, K, 'w');
      const limit = Math.ceil(w.bytes / 3);
      const chunks = weightRowChunks(ctx, w, limit);
      assert.ok(chunks.length > 1, 'expected several chunks');
      assert.equal(chunks.reduce((n, c) => n + c.rows, 0), N);
      for (const c of chunks) {
        assert.equal(c.data.offset % ctx.limits.minStorageBufferOffsetAlignment, 0);
        assert.ok(c.data.size <= limit);
      }
      for (const subgroup of [false, true]) {
        const tiles: MatmulTiles = { wg: 32, tr: 2, tt: 1, subgroup };
        setMatmulConfig(ctx, { decode: tiles, prefill: { ...tiles, tt: 4 } });
        for (const tokens of [1, 7]) {
          const x = randn(tokens * K, 8);
          const y = sentinelBuffer(ctx, tokens * N);
          const b = ctx.batch();
          matmulChunks(b, ctx.upload(x, 'x'), w, y, { tokens }, chunks);
          b.submit();
          assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `${type} tokens=${tokens} subgroup=${subgroup}`);
        }
      }
    }
  } finally {
    setMatmulConfig(ctx, null);
  }
});
