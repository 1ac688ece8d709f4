// The WGSL decoders of every format in FORMATS against its CPU dequantizer: random rows quantized (test/helpers/
// quantize.ts), laid out by repackRows and decoded by a test kernel, once with w_chunk for whole chunks and w_elem for
// the tail, once with w_elem for every element. The decoders are exact (products of small integers and f16 scales),
// so the GPU must match bit for bit; outputs are pre-filled with a sentinel to catch out-of-bounds writes.
// Then the same on bytes our encoder never writes (test/helpers/format-bytes.ts): the random bytes on which
// test/unit/formats-ggml.test.ts holds the CPU dequantizers to ggml's, and edge cases placed on purpose (every zero,
// subnormal, infinite and NaN f16 scale of both signs, negative m and dmin, every 6-bit K-quant scale and min and every
// Q6_K scale in every position, every f16 and bf16 pattern, f32 NaN payloads and subnormals), through the test kernel
// (the decoder alone) and through the engine's embedding kernel (the decoder as the engine composes it).
// Bit for bit means the same f32 bits, except where the CPU gives a NaN: there the GPU must give a NaN, of any sign and
// payload. The CPU cannot be held to a payload (a JS number carries one NaN; f16ToF32 returns it for every f16 NaN)
// and neither can WGSL (an Inf scale times a zero quant is a NaN whose bits the hardware picks; ggml's x86 build gives
// 0xffc00000 there), while a NaN where the CPU has a number, or a number where it has a NaN, is a decoder bug.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { dequantize, FORMATS, formatWgsl, gpuRowWords, repackRows, type TensorFormat } from '../../src/engine/formats/index.js';
import type { GpuContext, KernelDef } from '../../src/engine/gpu/context.js';
import { uniformStruct } from '../../src/engine/gpu/uniforms.js';
import { uploadWeight } from '../../src/engine/gpu/weight.js';
import { embedding } from '../../src/engine/kernels/embedding.js';
import { allPatterns, coverage, edgeBytes, ggmlRandomBytes } from '../helpers/format-bytes.js';
import { randn, readChecked, sentinelBuffer, testGpu } from '../helpers/gpu.js';
import { quantize } from '../helpers/quantize.js';

after(async () => (await testGpu()).destroy());

const Params = uniformStruct('Params', { rows: 'u32', cols: 'u32', rowWords: 'u32', mode: 'u32' });
const WG = 64;

// out (rows, cols) = the decoded rows. mode 0: one invocation per whole chunk of 32 (w_chunk) and one per tail element
// (w_elem); mode 1: one invocation per element, through w_elem.
const body = /* wgsl */ `
${Params.wgsl}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let id = gid.x;
  let chunks = params.cols / 32u;
  if (params.mode == 1u) {
    if (id >= params.rows * params.cols) {
      return;
    }
    out[id] = w_elem((id / params.cols) * params.rowWords, id % params.cols);
    return;
  }
  let per = chunks + params.cols % 32u;
  if (id >= params.rows * per) {
    return;
  }
  let r = id / per;
  let u = id % per;
  let row = r * params.rowWords;
  let o = r * params.cols;
  if (u < chunks) {
    var c = w_chunk(row, u);
    for (var i = 0u; i < 8u; i++) {
      for (var e = 0u; e < 4u; e++) {
        out[o + 32u * u + 4u * i + e] = c[i][e];
      }
    }
  } else {
    let k = 32u * chunks + (u - chunks);
    out[o + k] = w_elem(row, k);
  }
}
`;

function kernel(f: TensorFormat): KernelDef {
  return { name: `formats-test-${f.name}`, source: `${formatWgsl(f)}\n${body}`, bindings: ['uniform', 'read-only-storage', 'storage'], params: Params };
}

/** Asserts got equals want bit for bit (where want is NaN: got is a NaN), naming the first difference. */
function assertBitExact(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < w.length; i++) {
    if (g[i] !== w[i] && !(Number.isNaN(want[i]) && Number.isNaN(got[i]))) {
      assert.fail(`${what}: element ${i} is ${got[i]} (0x${g[i]!.toString(16)}), the CPU dequantizer gives ${want[i]} (0x${w[i]!.toString(16)})`);
    }
  }
}

/** Decodes `rows` rows of `cols` elements of raw GGUF bytes with the test kernel: [w_chunk + w_elem, w_elem only]. */
async function decodeOnGpu(ctx: GpuContext, f: TensorFormat, raw: Uint8Array, rows: number, cols: number): Promise<[Float32Array, Float32Array]> {
  const gpu = repackRows(f, raw, rows, cols);
  const rowWords = gpuRowWords(f, cols);
  assert.equal(gpu.byteLength, rows * rowWords * 4, 'repacked size');
  const w = ctx.upload(gpu, `w.${f.name}`);
  const got: Float32Array[] = [];
  for (const mode of [0, 1]) {
    const n = mode === 0 ? rows * (Math.floor(cols / 32) + (cols % 32)) : rows * cols;
    const out = sentinelBuffer(ctx, rows * cols);
    const b = ctx.batch();
    b.dispatch(kernel(f), { rows, cols, rowWords, mode }, [w, out], Math.ceil(n / WG));
    b.submit();
    got.push(await readChecked(ctx, out, rows * cols));
    ctx.throwIfFailed();
    out.destroy();
  }
  w.destroy();
  return got as [Float32Array, Float32Array];
}

/** The rows of `raw` through the engine's embedding kernel (ids 0 .. rows - 1 in reverse, so each row moves). */
async function embedOnGpu(ctx: GpuContext, f: TensorFormat, raw: Uint8Array, rows: number, cols: number): Promise<{ got: Float32Array; ids: Uint32Array }> {
  const table = uploadWeight(ctx, f, raw, rows, cols, `table.${f.name}`);
  const ids = Uint32Array.from({ length: rows }, (_, i) => rows - 1 - i);
  const idBuf = ctx.upload(ids, 'ids');
  const out = sentinelBuffer(ctx, rows * cols);
  const b = ctx.batch();
  embedding(b, idBuf, table, out, { tokens: rows });
  b.submit();
  const got = await readChecked(ctx, out, rows * cols);
  ctx.throwIfFailed();
  for (const buf of [table.data, idBuf, out]) buf.destroy();
  return { got, ids };
}

// Row lengths: one block and several blocks; element formats also lengths with a tail (35, 67).
function colsOf(f: TensorFormat): number[] {
  return f.blockElems === 1 ? [32, 35, 67, 256] : [f.blockElems, 5 * f.blockElems];
}

for (const f of FORMATS) {
  for (const rows of [3, 7]) {
    for (const cols of colsOf(f)) {
      test(`${f.name} decoders rows=${rows} cols=${cols}`, async () => {
        const ctx = await testGpu();
        const raw = quantize(f.name, randn(rows * cols, rows * 1000 + cols + f.ggmlType, 2));
        const want = dequantize(f, raw, rows * cols);
        const [chunk, elem] = await decodeOnGpu(ctx, f, raw, rows, cols);
        assertBitExact(chunk, want, `${f.name} w_chunk + w_elem ${rows}x${cols}`);
        assertBitExact(elem, want, `${f.name} w_elem ${rows}x${cols}`);
      });
    }
  }
}

/** How many of `x` are NaN, ±Inf, -0. */
function specials(x: Float32Array): { nan: number; inf: number; negZero: number } {
  let nan = 0;
  let inf = 0;
  let negZero = 0;
  for (const v of x) {
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else if (Object.is(v, -0)) negZero++;
  }
  return { nan, inf, negZero };
}

for (const f of FORMATS) {
  test(`${f.name} decoders on bytes our encoder never writes (ggml test's random bytes; every scale class and pattern) equal the CPU dequantizer`, async (t) => {
    const ctx = await testGpu();
    const g = ggmlRandomBytes(f);
    const e = edgeBytes(f, 100 + f.ggmlType);
    // The edge set must hold what it is for, whatever the recipe does: every class of every f16 field, every scale pattern.
    const cov = coverage(f, e.raw);
    if (f.blockElems > 1) {
      assert.ok(Object.keys(cov.fields).length >= 1, `${f.name}: no f16 fields counted`);
      for (const [field, classes] of Object.entries(cov.fields)) {
        for (const [c, n] of Object.entries(classes)) assert.ok(n > 0, `${f.name}: no block whose ${field} is ${c}`);
      }
    }
    assert.equal(cov.patterns, allPatterns(f), `${f.name}: distinct scale patterns`);
    const sets = [
      { what: 'random bytes of formats-ggml.test.ts', raw: g.raw, rows: 7, cols: g.count / 7 },
      { what: 'edge cases', ...e },
    ];
    for (const set of sets) {
      const { raw, rows, cols } = set;
      const want = dequantize(f, raw, rows * cols);
      const s = specials(want);
      if (set.what === 'edge cases') {
        assert.ok(s.nan > 0 && s.inf > 0, `${f.name} edge cases: the CPU gives ${s.nan} NaN and ${s.inf} infinities; expected some of each`);
      }
      const [chunk, elem] = await decodeOnGpu(ctx, f, raw, rows, cols);
      assertBitExact(chunk, want, `${f.name} ${set.what}: w_chunk + w_elem ${rows}x${cols}`);
      assertBitExact(elem, want, `${f.name} ${set.what}: w_elem ${rows}x${cols}`);
      const emb = await embedOnGpu(ctx, f, raw, rows, cols);
      const wantRows = new Float32Array(rows * cols);
      emb.ids.forEach((id, i) => wantRows.set(want.subarray(id * cols, (id + 1) * cols), i * cols));
      assertBitExact(emb.got, wantRows, `${f.name} ${set.what}: embedding kernel ${rows}x${cols}`);
      const [gb, wb] = [new Uint32Array(chunk.buffer), new Uint32Array(want.buffer)];
      const nanBitsEqual = gb.filter((v, i) => Number.isNaN(want[i]) && v === wb[i]).length;
      t.diagnostic(
        `${set.what}: ${rows}x${cols} elements equal on 3 paths; the CPU gives ${s.nan} NaN (${nanBitsEqual} with the GPU's exact bits), ` +
          `${s.inf} infinities, ${s.negZero} negative zeros`,
      );
    }
    if (f.blockElems > 1) {
      const d = cov.fields.d!;
      t.diagnostic(`edge blocks: d zero ${d.zero}, subnormal ${d.subnormal}, normal ${d.normal}, inf ${d.inf}, nan ${d.nan}, negative ${d.negative}; ${cov.patterns} distinct (position, scale) patterns`);
    }
  });
}
