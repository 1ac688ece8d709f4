// matmul against its CPU reference on the dequantized weights, for each weight type, decode and prefill shapes, odd
// sizes, with and without the fused residual add; outputs pre-filled with a sentinel to catch out-of-bounds writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { matmul, matmulChunks, matmulRef, setMatmulConfig } from '../../src/engine/kernels/matmul.js';
import { dequantize, f32ToF16, quantizeQ8_0, uploadWeight, type WeightType, weightRowChunks } from '../../src/engine/model/weights.js';
import { assertClose, randn, readChecked, SENTINEL, sentinelBuffer, testGpu } from '../helpers/gpu.js';

/** Random (N, K) weights of `type` as raw GGUF bytes, and their exact f32 values. */
function makeWeights(type: WeightType, N: number, K: number, seed: number): { raw: Uint8Array; ref: Float32Array } {
  const f = randn(N * K, seed, 0.5);
  let raw: Uint8Array;
  if (type === 'f32') raw = new Uint8Array(f.buffer);
  else if (type === 'f16') raw = new Uint8Array(Uint16Array.from(f, f32ToF16).buffer);
  else raw = quantizeQ8_0(f);
  return { raw, ref: dequantize(type, raw, N * K) };
}

const shapes: Record<WeightType, [number, number][]> = {
  f32: [
    [315, 1000],
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

for (const type of ['f32', 'f16', 'q8_0'] as const) {
  for (const [N, K] of shapes[type]) {
    for (const tokens of [1, 5, 64]) {
      test(`matmul ${type} tokens=${tokens} N=${N} K=${K}`, async () => {
        const ctx = await testGpu();
        const { raw, ref } = makeWeights(type, N, K, N * 7 + K);
        const w = uploadWeight(ctx, type, raw, N, K, `w.${type}`);
        const x = randn(tokens * K, tokens * 13 + K);
        const xb = ctx.upload(x, 'x');
        const expected = matmulRef(x, ref, tokens, N, K);

        const y = sentinelBuffer(ctx, tokens * N);
        let b = ctx.batch();
        matmul(b, xb, w, y, { tokens });
        b.submit();
        assertClose(await readChecked(ctx, y, tokens * N), expected, 1e-5, 'y = x·wᵀ');

        // accumulate: y += x·wᵀ on top of a residual.
        const residual = randn(tokens * N, tokens + N, 2);
        const yAcc = ctx.upload(Float32Array.from([...residual, ...new Float32Array(64).fill(SENTINEL)]), 'yAcc');
        b = ctx.batch();
        matmul(b, xb, w, yAcc, { tokens, accumulate: true });
        b.submit();
        assertClose(await readChecked(ctx, yAcc, tokens * N), matmulRef(x, ref, tokens, N, K, residual), 1e-5, 'y += x·wᵀ');
        for (const buf of [xb, y, yAcc, w.data, w.scales]) buf?.destroy();
      });
    }
  }
}

// Every tile shape the kernel supports, and a workgroup count over the per-dimension limit split with grid() (WG = 1).
test('matmul tile shapes and grid split (f16 tokens=6 N=67 K=34, q8_0 tokens=3 N=70000 K=32)', async () => {
  const ctx = await testGpu();
  try {
    const cases: [WeightType, number, number, number][] = [
      ['f16', 6, 67, 34],
      ['q8_0', 6, 67, 64],
    ];
    for (const [type, tokens, N, K] of cases) {
      const { raw, ref } = makeWeights(type, N, K, 99);
      const w = uploadWeight(ctx, type, raw, N, K, 'w');
      const x = randn(tokens * K, 5);
      const xb = ctx.upload(x, 'x');
      for (const tr of [1, 2, 3, 4]) {
        for (const tt of [1, 4] as const) {
          for (const wg of [1, 32]) {
            const tiles = { wg, tr, tt };
            setMatmulConfig(ctx, { decode: tiles, prefill: tiles });
            const y = sentinelBuffer(ctx, tokens * N);
            const b = ctx.batch();
            matmul(b, xb, w, y, { tokens });
            b.submit();
            assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `${type} ${JSON.stringify(tiles)}`);
            y.destroy();
          }
        }
      }
    }
    // 70000 rows, one row per workgroup: 70000 workgroups, over 65535 in x.
    const [tokens, N, K] = [3, 70000, 32];
    assert.ok(N > ctx.limits.maxComputeWorkgroupsPerDimension);
    const { raw, ref } = makeWeights('q8_0', N, K, 3);
    const w = uploadWeight(ctx, 'q8_0', raw, N, K, 'w');
    const x = randn(tokens * K, 6);
    setMatmulConfig(ctx, { prefill: { wg: 1, tr: 1, tt: 4 } });
    const y = sentinelBuffer(ctx, tokens * N);
    const b = ctx.batch();
    matmul(b, ctx.upload(x, 'x'), w, y, { tokens });
    b.submit();
    assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, 'grid split');
  } finally {
    setMatmulConfig(ctx, null);
  }
});

// A weight larger than one storage binding is bound in aligned row ranges (forced here with a small fake limit).
test('matmul over row chunks (f16 N=300 K=67 in 20000-byte bindings, q8_0 N=300 K=96 in 8 KiB bindings)', async () => {
  const ctx = await testGpu();
  for (const [type, N, K, limit] of [
    ['f16', 300, 67, 20000],
    ['q8_0', 300, 96, 8192],
  ] as const) {
    const { raw, ref } = makeWeights(type, N, K, 42);
    const w = uploadWeight(ctx, type, raw, N, K, 'w');
    const chunks = weightRowChunks(ctx, w, limit);
    assert.ok(chunks.length > 1, 'expected several chunks');
    for (const c of chunks) {
      assert.equal(c.data.offset % ctx.limits.minStorageBufferOffsetAlignment, 0);
      assert.equal((c.scales?.offset ?? 0) % ctx.limits.minStorageBufferOffsetAlignment, 0);
      assert.ok(c.data.size <= limit && (c.scales?.size ?? 0) <= limit);
    }
    for (const tokens of [1, 7]) {
      const x = randn(tokens * K, 8);
      const y = sentinelBuffer(ctx, tokens * N);
      const b = ctx.batch();
      matmulChunks(b, ctx.upload(x, 'x'), w, y, { tokens }, chunks);
      b.submit();
      assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `${type} tokens=${tokens}`);
    }
  }
});
