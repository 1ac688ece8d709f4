// Our CPU dequantizers (the reference every GPU decoder is held to, bit for bit) against ggml's own, run inside the
// test: python3's ctypes calls dequantize_row_* in the libggml-base.so that node-llama-cpp ships (the llama.cpp build
// of the oracle tests). Inputs are our encoders' blocks and random bytes (any bit pattern a file may hold: every scale,
// every high bit), and the outputs must be identical bit for bit (NaN to NaN).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FORMATS, type TensorFormat } from '../../src/engine/formats/index.js';
import { rng } from '../../src/engine/util/rng.js';
import { randn } from '../helpers/gpu.js';
import { quantize } from '../helpers/quantize.js';

const LIB = join(process.cwd(), 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so');

/** ggml's row dequantizer of each format (ggml.h, ggml-quants.h). */
const GGML_FN: Record<string, string> = {
  f16: 'ggml_fp16_to_fp32_row',
  bf16: 'ggml_bf16_to_fp32_row',
  q4_0: 'dequantize_row_q4_0',
  q4_1: 'dequantize_row_q4_1',
  q5_0: 'dequantize_row_q5_0',
  q5_1: 'dequantize_row_q5_1',
  q8_0: 'dequantize_row_q8_0',
  q4_k: 'dequantize_row_q4_K',
  q5_k: 'dequantize_row_q5_K',
  q6_k: 'dequantize_row_q6_K',
};

// argv: library, function, input file, element count, output file
const PY = `
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
raw = open(sys.argv[3], 'rb').read()
n = int(sys.argv[4])
out = (ctypes.c_float * n)()
getattr(lib, sys.argv[2])(ctypes.c_char_p(raw), out, ctypes.c_int64(n))
open(sys.argv[5], 'wb').write(bytes(out))
`;
import { skipOrFail } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pie-ggml-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function ggmlDequantize(f: TensorFormat, raw: Uint8Array, count: number): Float32Array {
  const inp = join(dir, `${f.name}.raw`);
  const out = join(dir, `${f.name}.f32`);
  writeFileSync(inp, raw);
  const r = spawnSync('python3', ['-c', PY, LIB, GGML_FN[f.name]!, inp, String(count), out], { encoding: 'utf8' });
  assert.equal(r.status, 0, `python3 (ctypes) failed: ${r.error?.message ?? r.stderr}`);
  const b = readFileSync(out);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function sameBits(ours: Float32Array, theirs: Float32Array, what: string): void {
  assert.equal(ours.length, theirs.length);
  const a = new Uint32Array(ours.buffer, ours.byteOffset, ours.length);
  const b = new Uint32Array(theirs.buffer, theirs.byteOffset, theirs.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(Number.isNaN(ours[i]) && Number.isNaN(theirs[i]))) {
      assert.fail(`${what}: element ${i} is ${ours[i]} (0x${a[i]!.toString(16)}), ggml gives ${theirs[i]} (0x${b[i]!.toString(16)})`);
    }
  }
}

for (const f of FORMATS.filter((x) => x.name !== 'f32')) {
  test(`${f.name}: our dequantizer equals ggml's ${GGML_FN[f.name]} bit for bit (our encoder's blocks and random bytes)`, (t) => {
    if (!existsSync(LIB)) {
      return skipOrFail(t, `missing ${LIB} (npm ci installs node-llama-cpp's linux-x64 build)`);
    }
    const count = 8 * Math.max(f.blockElems, 32) * 7; // several blocks, an odd number of 256-blocks
    const encoded = quantize(f.name, randn(count, 11, 2));
    sameBits(f.dequantize(encoded, count), ggmlDequantize(f, encoded, count), `${f.name} (encoder)`);
    const r = rng(5);
    const random = Uint8Array.from({ length: (count / f.blockElems) * f.blockBytes }, () => Math.floor(r() * 256));
    sameBits(f.dequantize(random, count), ggmlDequantize(f, random, count), `${f.name} (random bytes)`);
  });
}
