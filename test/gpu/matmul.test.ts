// matmul against its CPU reference on the dequantized weights, for each weight type, decode and prefill shapes, odd
// sizes (K not a multiple of 4 or 8 takes the element-wise path), with and without the fused residual add; outputs
// pre-filled with a sentinel to catch out-of-bounds writes. Both kernels (tiled and subgroup) are checked.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type MatmulTiles, matmul, matmulChunks, matmulRef, setMatmulConfig } from '../../src/engine/kernels/matmul.js';
import { dequantize, uploadWeight, type WeightType, weightRowChunks } from '../../src/engine/model/weights.js';
import { f32ToF16Bits, quantizeQ8_0Bytes } from '../helpers/gguf-rewrite.js';
import { assertClose, randn, readChecked, SENTINEL, sentinelBuffer, testGpu } from '../helpers/gpu.js';

/** Random (N, K) weights of `type` as raw GGUF bytes, and their exact f32 values. */
function makeWeights(type: WeightType, N: number, K: number, seed: number): { raw: Uint8Array; ref: Float32Array } {
  const f = randn(N * K, seed, 0.5);
  let raw: Uint8Array;
  if (type === 'f32') raw = new Uint8Array(f.buffer);
  else if (type === 'f16') raw = new Uint8Array(Uint16Array.from(f, f32ToF16Bits).buffer);
  else raw = quantizeQ8_0Bytes(f);
  return { raw, ref: dequantize(type, raw, N * K) };
}

// [N, K]. The reference uses the same (dequantized) weights and x in f64, so only the kernel's f32 summation differs:
// 1e-5 normalised error holds for every type.
const shapes: Record<WeightType, [number, number][]> = {
  f32: [
    [315, 1000],
    [1000, 315],
    [2179, 64],
  ],
  f16: [
    [315, 1000],
    [315, 315],
    [2179, 64],
  ],
  q8_0: [
    [1000, 2176],
    [2179, 64],
  ],
};

after(async () => (await testGpu()).destroy());

/** Runs y = x·wᵀ (and, if `acc`, y += x·wᵀ on a residual) with the current config and checks both against matmulRef. */
async function check(type: WeightType, tokens: number, N: number, K: number, what: string, acc = true): Promise<void> {
  const ctx = await testGpu();
  const { raw, ref } = makeWeights(type, N, K, N * 7 + K);
  const w = uploadWeight(ctx, type, raw, N, K, `w.${type}`);
  const x = randn(tokens * K, tokens * 13 + K);
  const xb = ctx.upload(x, 'x');
  const y = sentinelBuffer(ctx, tokens * N);
  let b = ctx.batch();
  matmul(b, xb, w, y, { tokens });
  b.submit();
  assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `${what}: y = x·wᵀ`);
  const bufs = [xb, y, w.data, w.scales];
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

for (const type of ['f32', 'f16', 'q8_0'] as const) {
  for (const [N, K] of shapes[type]) {
    for (const tokens of [1, 7, 33, 130]) {
      test(`matmul ${type} tokens=${tokens} N=${N} K=${K}`, () => check(type, tokens, N, K, `${type} tokens=${tokens}`));
    }
  }
}

// The shape of a small model's logits (vocab 32000, dim 288) with the default config. f16 is left out only because the
// test's f16 conversion of 9.2M weights takes 15 s; its row addressing is the same as f32's.
for (const type of ['f32', 'q8_0'] as const) {
  for (const tokens of [1, 7]) {
    test(`matmul logits ${type} tokens=${tokens} N=32000 K=288`, () => check(type, tokens, 32000, 288, `logits ${type}`, false));
  }
}

// Every tile shape of both kernels (the subgroup kernel falls back to the tiled one where it cannot run: no subgroups,
// or f16 with an odd K), on odd sizes.
test('matmul tile shapes (f32 tokens=6 N=67 K=35, f16 tokens=6 N=67 K=34 and K=35, q8_0 tokens=6 N=67 K=64)', async () => {
  const ctx = await testGpu();
  try {
    const cases: [WeightType, number, number, number][] = [
      ['f32', 6, 67, 35],
      ['f16', 6, 67, 34],
      ['f16', 6, 67, 35],
      ['q8_0', 6, 67, 64],
    ];
    for (const [type, tokens, N, K] of cases) {
      const { raw, ref } = makeWeights(type, N, K, 99);
      const w = uploadWeight(ctx, type, raw, N, K, 'w');
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
      for (const buf of [xb, w.data, w.scales]) buf?.destroy();
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
  const { raw, ref } = makeWeights('q8_0', N, K, 3);
  const w = uploadWeight(ctx, 'q8_0', raw, N, K, 'w');
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
test('matmul over row chunks (f16 N=300 K=67 in 20000-byte bindings, q8_0 N=300 K=96 in 8 KiB bindings)', async () => {
  const ctx = await testGpu();
  try {
    for (const [type, N, K, limit] of [
      ['f16', 300, 67, 20000],
      ['q8_0', 300, 96, 8192],
    ] as const) {
      const { raw, ref } = makeWeights(type, N, K, 42);
      const w = uploadWeight(ctx, type, raw, N, K, 'w');
      const chunks = weightRowChunks(ctx, w, limit);
      assert.ok(chunks.length > 1, 'expected several chunks');
      assert.equal(chunks.reduce((n, c) => n + c.rows, 0), N);
      for (const c of chunks) {
        assert.equal(c.data.offset % ctx.limits.minStorageBufferOffsetAlignment, 0);
        assert.equal((c.scales?.offset ?? 0) % ctx.limits.minStorageBufferOffsetAlignment, 0);
        assert.ok(c.data.size <= limit && (c.scales?.size ?? 0) <= limit);
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
