// The WGSL decoders of every format in FORMATS against its CPU dequantizer: random rows quantized (test/helpers/
// quantize.ts), laid out by repackRows and decoded by a test kernel, once with w_chunk for whole chunks and w_elem for
// the tail, once with w_elem for every element. The decoders are exact (products of small integers and f16 scales),
// so the GPU must match bit for bit; outputs are pre-filled with a sentinel to catch out-of-bounds writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { dequantize, FORMATS, formatWgsl, gpuRowWords, repackRows, type TensorFormat } from '../../src/engine/formats/index.js';
import type { KernelDef } from '../../src/engine/gpu/context.js';
import { uniformStruct } from '../../src/engine/gpu/uniforms.js';
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

/** Asserts got equals want bit for bit, naming the first difference. */
function assertBitExact(got: Float32Array, want: Float32Array, what: string): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < w.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: element ${i} is ${got[i]}, the CPU dequantizer gives ${want[i]}`);
  }
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
        const gpu = repackRows(f, raw, rows, cols);
        const rowWords = gpuRowWords(f, cols);
        assert.equal(gpu.byteLength, rows * rowWords * 4, 'repacked size');
        const w = ctx.upload(gpu, `w.${f.name}`);
        for (const mode of [0, 1]) {
          const n = mode === 0 ? rows * (Math.floor(cols / 32) + (cols % 32)) : rows * cols;
          const out = sentinelBuffer(ctx, rows * cols);
          const b = ctx.batch();
          b.dispatch(kernel(f), { rows, cols, rowWords, mode }, [w, out], Math.ceil(n / WG));
          b.submit();
          const got = await readChecked(ctx, out, rows * cols);
          ctx.throwIfFailed();
          assertBitExact(got, want, `${f.name} ${mode === 0 ? 'w_chunk + w_elem' : 'w_elem'} ${rows}x${cols}`);
        }
      });
    }
  }
}
