// matmul against its CPU reference on the dequantized weights, for every tensor format of the registry, decode and
// prefill shapes, odd sizes (element formats with K not a multiple of 32 or 4 take the element-wise tail), with and
// without the fused residual add; outputs pre-filled with a sentinel to catch out-of-bounds writes. Both kernels (tiled
// and subgroup) are checked, and every run asserts which of them it dispatched (GpuContext.traceDispatches): the
// subgroup kernel where it was asked for and the device has subgroups (lavapipe and SwiftShader do, and must), the
// tiled kernel otherwise; the two give the same results within the tolerance.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FORMATS, formatNamed, type TensorFormat } from '../../src/engine/formats/index.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { uploadWeight, weightRowChunks } from '../../src/engine/gpu/weight.js';
import { GPU_CONFIG, type MatmulTiles, matmul, matmulChunks, matmulConfig, matmulRef, setMatmulConfig } from '../../src/engine/kernels/matmul.js';
import { makeWeights, shapesFor, smallCols } from '../helpers/formats.js';
import { assertClose, randn, readChecked, SENTINEL, sentinelBuffer, testGpu } from '../helpers/gpu.js';

// The reference uses the same (dequantized) weights and x in f64, so only the kernel's f32 summation differs: 1e-5
// normalised error holds for every format.

after(async () => (await testGpu()).destroy());

type Variant = 'subgroup' | 'tiled';

/** The kernel a matmul of `tokens` tokens must run with the current config: subgroup where asked for and available. */
function expectedVariant(ctx: GpuContext, tokens: number): Variant {
  const cfg = matmulConfig(ctx);
  return (tokens === 1 ? cfg.decode : cfg.prefill).subgroup === true && ctx.features.subgroups ? 'subgroup' : 'tiled';
}

/**
 * Records matmul dispatches with `record` and asserts that each one ran the `want` kernel: matvec.wgsl (subgroupAdd,
 * the device's subgroup size) or matmul.wgsl. Returns the number of dispatches.
 */
function assertVariant(ctx: GpuContext, want: Variant, what: string, record: () => void): number {
  const log = ctx.traceDispatches(record).filter((d) => d.kernel.name.startsWith('matmul'));
  assert.ok(log.length > 0, `${what}: no matmul dispatched`);
  for (const d of log) {
    const subgroup = d.kernel.name.startsWith('matmul-subgroup.') && d.kernel.source.includes('subgroupAdd(');
    assert.equal(subgroup ? 'subgroup' : 'tiled', want, `${what}: dispatched ${d.kernel.name} ${JSON.stringify(d.constants)}`);
    if (!subgroup) assert.ok(!d.kernel.source.includes('subgroupAdd('), `${what}: ${d.kernel.name} is the subgroup kernel`);
  }
  return log.length;
}

/** Runs y = x·wᵀ (and, if `acc`, y += x·wᵀ on a residual) with the current config and checks both against matmulRef. */
async function check(format: TensorFormat, tokens: number, N: number, K: number, what: string, acc = true): Promise<void> {
  const ctx = await testGpu();
  const { raw, ref } = makeWeights(format, N, K, N * 7 + K);
  const w = uploadWeight(ctx, format, raw, N, K, `w.${format.name}`);
  const x = randn(tokens * K, tokens * 13 + K);
  const xb = ctx.upload(x, 'x');
  const y = sentinelBuffer(ctx, tokens * N);
  // the default config's kernel: on a GPU with subgroups, decode runs the subgroup kernel (GPU_CONFIG)
  const want = expectedVariant(ctx, tokens);
  let b = ctx.batch();
  assertVariant(ctx, want, what, () => matmul(b, xb, w, y, { tokens }));
  b.submit();
  assertClose(await readChecked(ctx, y, tokens * N), matmulRef(x, ref, tokens, N, K), 1e-5, `${what}: y = x·wᵀ`);
  const bufs = [xb, y, w.data];
  if (acc) {
    const residual = randn(tokens * N, tokens + N, 2);
    const yAcc = ctx.upload(Float32Array.from([...residual, ...new Float32Array(64).fill(SENTINEL)]), 'yAcc');
    b = ctx.batch();
    assertVariant(ctx, want, `${what} (accumulate)`, () => matmul(b, xb, w, yAcc, { tokens, accumulate: true }));
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
// with the default tiles); each tile shape is a pipeline to compile, about 30 s per format on a cold lavapipe. Each run
// asserts the kernel it dispatched, and the subgroup kernel's y equals the tiled kernel's of the same tile within the
// tolerance (it sums in another order: some bits differ, printed).
test('matmul tile shapes (f32 K=35, q4_k K=512; tokens=6 N=67)', async (t) => {
  const ctx = await testGpu();
  try {
    const cases: [TensorFormat, number, number, number][] = ['f32', 'q4_k'].map((n) => [formatNamed(n), 6, 67, smallCols(formatNamed(n))]);
    let runs = 0;
    let differing = 0;
    for (const [format, tokens, N, K] of cases) {
      const type = format.name;
      const { raw, ref } = makeWeights(format, N, K, 99);
      const w = uploadWeight(ctx, format, raw, N, K, 'w');
      const x = randn(tokens * K, 5);
      const xb = ctx.upload(x, 'x');
      const tiled = new Map<string, Float32Array>();
      for (const subgroup of [false, true]) {
        for (const tr of [1, 2, 3, 4]) {
          for (const tt of [1, 4] as const) {
            const tiles: MatmulTiles = { wg: 32, tr, tt, subgroup };
            setMatmulConfig(ctx, { decode: tiles, prefill: tiles });
            for (const tok of [1, tokens]) {
              const what = `${type} K=${K} tokens=${tok} ${JSON.stringify(tiles)}`;
              const y = sentinelBuffer(ctx, tok * N);
              const b = ctx.batch();
              assertVariant(ctx, subgroup && ctx.features.subgroups ? 'subgroup' : 'tiled', what, () => matmul(b, xb, w, y, { tokens: tok }));
              b.submit();
              const got = await readChecked(ctx, y, tok * N);
              const want = matmulRef(x, ref, tok, N, K);
              assertClose(got, want, 1e-5, what);
              const key = `${tr} ${tt} ${tok}`;
              if (!subgroup) tiled.set(key, got);
              else {
                assertClose(got, tiled.get(key)!, 1e-5, `${what}: subgroup vs tiled kernel`);
                differing += got.filter((v, i) => v !== tiled.get(key)![i]).length;
                runs++;
              }
              y.destroy();
            }
          }
        }
      }
      for (const buf of [xb, w.data]) buf.destroy();
    }
    t.diagnostic(`subgroups: ${ctx.features.subgroups}; ${runs} subgroup runs equal to the tiled kernel's within 1e-5, ${differing} outputs not bit-identical`);
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
      assertVariant(ctx, expectedVariant(ctx, tokens), `grid split subgroup=${subgroup}`, () => matmul(b, xb, w, y, { tokens }));
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
      const tiled: Float32Array[] = [];
      for (const subgroup of [false, true]) {
        const tiles: MatmulTiles = { wg: 32, tr: 2, tt: 1, subgroup };
        setMatmulConfig(ctx, { decode: tiles, prefill: { ...tiles, tt: 4 } });
        for (const [i, tokens] of [1, 7].entries()) {
          const what = `${type} tokens=${tokens} subgroup=${subgroup}`;
          const x = randn(tokens * K, 8);
          const y = sentinelBuffer(ctx, tokens * N);
          const b = ctx.batch();
          const n = assertVariant(ctx, expectedVariant(ctx, tokens), what, () => matmulChunks(b, ctx.upload(x, 'x'), w, y, { tokens }, chunks));
          assert.equal(n, chunks.length, `${what}: one dispatch per chunk`);
          b.submit();
          const got = await readChecked(ctx, y, tokens * N);
          assertClose(got, matmulRef(x, ref, tokens, N, K), 1e-5, what);
          if (subgroup) assertClose(got, tiled[i]!, 1e-5, `${what}: subgroup vs tiled kernel`);
          else tiled.push(got);
        }
      }
    }
  } finally {
    setMatmulConfig(ctx, null);
  }
});

// Which kernel the engine's own configs run, and that the subgroup kernel is really tested here: lavapipe and SwiftShader
// report subgroups (the CPU drivers the tests run on), and a device that has them must have been asked for them. With the
// default config a GPU runs the subgroup kernel for decode (GPU_CONFIG) and the tiled one for prefill; a CPU driver the
// tiled kernel for both (CPU_DRIVER_CONFIG, SWIFTSHADER_CONFIG: measured faster there). Forcing the tiled kernel gives
// the same decode within the tolerance.
test('matmul kernel variants: subgroups are used where the device has them; the default config picks its kernel; subgroup = tiled', async (t) => {
  const ctx = await testGpu();
  const name = `${ctx.info.architecture} ${ctx.info.description} ${ctx.info.backend}`;
  assert.equal(ctx.features.subgroups, ctx.device.features.has('subgroups' as GPUFeatureName), 'features.subgroups is what the device was given');
  if (/lavapipe|swiftshader/i.test(name)) assert.ok(ctx.features.subgroups, `${ctx.describe()} reports subgroups: the device must have them`);
  assert.equal(GPU_CONFIG.decode.subgroup, true, 'GPUs decode with the subgroup kernel');
  const format = formatNamed('q8_0');
  const [N, K] = [67, 96];
  const { raw, ref } = makeWeights(format, N, K, 7);
  const w = uploadWeight(ctx, format, raw, N, K, 'w');
  const ran: string[] = [];
  try {
    for (const tokens of [1, 5]) {
      const x = randn(tokens * K, tokens);
      const xb = ctx.upload(x, 'x');
      const run = async (want: Variant, what: string): Promise<Float32Array> => {
        const y = sentinelBuffer(ctx, tokens * N);
        const b = ctx.batch();
        assertVariant(ctx, want, what, () => matmul(b, xb, w, y, { tokens }));
        b.submit();
        const got = await readChecked(ctx, y, tokens * N);
        assertClose(got, matmulRef(x, ref, tokens, N, K), 1e-5, what);
        y.destroy();
        ran.push(`${what}: ${want}`);
        return got;
      };
      setMatmulConfig(ctx, null);
      const def = matmulConfig(ctx);
      const defaultWant: Variant = !ctx.info.cpu && ctx.features.subgroups && tokens === 1 ? 'subgroup' : 'tiled';
      assert.equal(expectedVariant(ctx, tokens), defaultWant, `the default config's kernel for tokens=${tokens}`);
      const byDefault = await run(defaultWant, `default config tokens=${tokens}`);
      const tiles = tokens === 1 ? def.decode : def.prefill;
      for (const subgroup of [true, false]) {
        setMatmulConfig(ctx, { decode: { ...def.decode, subgroup }, prefill: { ...def.prefill, subgroup } });
        const got = await run(subgroup && ctx.features.subgroups ? 'subgroup' : 'tiled', `forced subgroup=${subgroup} ${JSON.stringify({ ...tiles, subgroup })} tokens=${tokens}`);
        assertClose(got, byDefault, 1e-5, `forced subgroup=${subgroup} vs default, tokens=${tokens}`);
      }
      xb.destroy();
    }
  } finally {
    setMatmulConfig(ctx, null);
    w.data.destroy();
  }
  t.diagnostic(`${ctx.describe()}: subgroups ${ctx.features.subgroups} (sizes ${ctx.device.adapterInfo?.subgroupMinSize}..${ctx.device.adapterInfo?.subgroupMaxSize}); ${ran.join('; ')}`);
});
