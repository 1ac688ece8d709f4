// The tensor formats on the CPU: every format in FORMATS round-trips random data through test/helpers/quantize.ts and
// its CPU dequantizer within a stated error bound; hand-built blocks (bytes written here from the ggml-common.h
// layouts, values worked out by hand) check each dequantizer independently of the encoders; the registry agrees with
// ggml's type traits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantize, FORMATS, formatNamed, formatOfGGML, gpuBlockBytes, rawRowBytes } from '../../src/engine/formats/index.js';
import { ggmlTypeTraits } from '../../src/engine/model/gguf.js';
import { rng } from '../../src/engine/util/rng.js';
import { quantize } from '../helpers/quantize.js';

function randn(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

function normalisedError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

// ||deq - x|| / ||x|| on standard normal data, with headroom over the measured value (about 2/3 of the bound; the
// test prints it). f32 is exact.
const BOUNDS: Record<string, number> = {
  f32: 0,
  f16: 3e-4,
  bf16: 2.5e-3,
  q8_0: 8e-3,
  q4_0: 0.12,
  q4_1: 0.11,
  q5_0: 0.06,
  q5_1: 0.055,
  q4_k: 0.11,
  q5_k: 0.055,
  q6_k: 0.028,
};

test('the registry: ggml type order, unique names, block sizes as in ggml, GPU blocks whole words', () => {
  for (let i = 1; i < FORMATS.length; i++) assert.ok(FORMATS[i - 1]!.ggmlType < FORMATS[i]!.ggmlType, `${FORMATS[i]!.name} out of ggml type order`);
  for (const f of FORMATS) {
    assert.equal(formatNamed(f.name), f);
    assert.equal(formatOfGGML(f.ggmlType), f);
    assert.deepEqual(ggmlTypeTraits(f.ggmlType), { blockSize: f.blockElems, typeSize: f.blockBytes }, f.name);
    if (f.blockElems > 1) assert.equal(gpuBlockBytes(f) % 4, 0, f.name);
  }
  assert.deepEqual(
    FORMATS.map((f) => f.name),
    ['f32', 'f16', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q4_k', 'q5_k', 'q6_k', 'bf16'],
  );
});

for (const f of FORMATS) {
  test(`${f.name}: quantize then dequantize random data`, (t) => {
    const bound = BOUNDS[f.name];
    assert.ok(bound !== undefined, `no error bound stated for ${f.name}`);
    // A few hundred blocks in an odd number of rows.
    const [rows, cols] = f.blockElems === 1 ? [13, 35] : f.blockElems === 32 ? [13, 32 * 23] : [37, 256 * 9];
    const x = randn(rows * cols, 1000 + f.ggmlType);
    const raw = quantize(f.name, x);
    assert.equal(raw.byteLength, rows * rawRowBytes(f, cols), 'quantized size');
    const err = normalisedError(dequantize(f, raw, rows * cols), x);
    t.diagnostic(`${f.name}: ${rows}x${cols}, normalised error ${err.toExponential(3)} (bound ${bound})`);
    assert.ok(err <= bound, `${f.name}: normalised error ${err} > ${bound}`);
  });

  test(`${f.name}: zero and constant blocks`, () => {
    const n = f.blockElems === 1 ? 8 : f.blockElems * 2;
    const zeros = dequantize(f, quantize(f.name, new Float32Array(n)), n);
    assert.ok(zeros.every((v) => v === 0), `${f.name}: zeros decode to ${zeros.find((v) => v !== 0)}`);
    const c = dequantize(f, quantize(f.name, new Float32Array(n).fill(-0.75)), n);
    assert.ok(
      c.every((v) => Math.abs(v + 0.75) <= 0.75 * 0.02),
      `${f.name}: a constant -0.75 decodes to ${c.find((v) => Math.abs(v + 0.75) > 0.015)}`,
    );
  });
}

/** Asserts every element of `got` equals `want`, naming the first difference. */
function assertElements(got: Float32Array, want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.equal(got[i], want[i], `${what}: element ${i}`);
}

/** Raw bytes from a list of byte arrays (a block's fields in file order). */
const bytes = (...parts: ArrayLike<number>[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const range = (n: number, fn: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => fn(i));

// f16 bit patterns (little-endian byte pairs): 1.0 = 0x3c00, 0.5 = 0x3800, 0.25 = 0x3400, 2.0 = 0x4000, -3.0 = 0xc200.
const F16_1 = [0x00, 0x3c];
const F16_HALF = [0x00, 0x38];
const F16_QUARTER = [0x00, 0x34];
const F16_2 = [0x00, 0x40];
const F16_M3 = [0x00, 0xc2];

test('hand-built f32, f16 and bf16 elements', () => {
  assertElements(dequantize(formatNamed('f32'), bytes([0, 0, 0x80, 0x3f], [0, 0, 0x20, 0xc1]), 2), [1, -10], 'f32');
  // f16: 1, -3, 2^-24 (the smallest subnormal), 65504 (the largest finite).
  assertElements(dequantize(formatNamed('f16'), bytes(F16_1, F16_M3, [0x01, 0x00], [0xff, 0x7b]), 4), [1, -3, 2 ** -24, 65504], 'f16');
  // bf16 = top half of an f32: 0x3f80 = 1, 0x4049 = 3.140625, 0xc000 = -2, 0x0001 = 2^-133 (subnormal).
  assertElements(dequantize(formatNamed('bf16'), bytes([0x80, 0x3f], [0x49, 0x40], [0x00, 0xc0], [0x01, 0x00]), 4), [1, 3.140625, -2, 2 ** -133], 'bf16');
});

test('hand-built q8_0 block: d = 2, q[j] = j - 16', () => {
  const raw = bytes(F16_2, range(32, (j) => (j - 16) & 0xff));
  assertElements(dequantize(formatNamed('q8_0'), raw, 32), range(32, (j) => 2 * (j - 16)), 'q8_0');
});

test('hand-built q4_0 block: d = 0.5, qs[j] = j | (15 - j) << 4', () => {
  // Elements 0..15 are the low nibbles j, elements 16..31 the high nibbles 15 - j; x = d (q - 8).
  const raw = bytes(F16_HALF, range(16, (j) => j | ((15 - j) << 4)));
  const want = [...range(16, (j) => (j - 8) / 2), ...range(16, (j) => (7 - j) / 2)];
  assertElements(dequantize(formatNamed('q4_0'), raw, 32), want, 'q4_0');
  assert.deepEqual([want[0], want[15], want[16], want[31]], [-4, 3.5, 3.5, -4]);
});

test('hand-built q4_1 block: d = 0.25, m = -3, qs[j] = j | (15 - j) << 4', () => {
  const raw = bytes(F16_QUARTER, F16_M3, range(16, (j) => j | ((15 - j) << 4)));
  const want = [...range(16, (j) => 0.25 * j - 3), ...range(16, (j) => 0.25 * (15 - j) - 3)];
  assertElements(dequantize(formatNamed('q4_1'), raw, 32), want, 'q4_1');
  assert.deepEqual([want[0], want[15], want[16], want[31]], [-3, 0.75, 0.75, -3]);
});

test('hand-built q5_0 block: d = 1, qh bits 0, 5, 16, 31, qs[j] = j | (15 - j) << 4', () => {
  // qh is the little-endian u32 0x80010021: bit e is bit 4 of element e; x = d (q - 16).
  const raw = bytes(F16_1, [0x21, 0x00, 0x01, 0x80], range(16, (j) => j | ((15 - j) << 4)));
  const want = [...range(16, (j) => j - 16), ...range(16, (j) => 15 - j - 16)];
  for (const e of [0, 5, 16, 31]) want[e]! += 16;
  assertElements(dequantize(formatNamed('q5_0'), raw, 32), want, 'q5_0');
  assert.deepEqual([want[0], want[1], want[5], want[16], want[17], want[31]], [0, -15, 5, 15, -2, 0]);
});

test('hand-built q5_1 block: d = 0.25, m = 1, qh = 0xffff0000, qs[j] = j | j << 4', () => {
  // The high half of qh sets bit 4 of elements 16..31 only: x = 0.25 q + 1.
  const raw = bytes(F16_QUARTER, F16_1, [0x00, 0x00, 0xff, 0xff], range(16, (j) => j | (j << 4)));
  const want = [...range(16, (j) => 0.25 * j + 1), ...range(16, (j) => 0.25 * (j + 16) + 1)];
  assertElements(dequantize(formatNamed('q5_1'), raw, 32), want, 'q5_1');
  assert.deepEqual([want[15], want[16], want[31]], [4.75, 5, 8.75]);
});

// Q4_K and Q5_K scales: sub-block scales [1, 2, 3, 63, 17, 32, 48, 5] and mins [0, 1, 62, 4, 33, 16, 63, 2], packed by
// hand: bytes 0..3 = scale s (s < 4) | top 2 bits of scale s + 4 << 6; bytes 4..7 = min s | top 2 bits of min s + 4 << 6;
// bytes 8..11 = low 4 bits of scale s + 4 | low 4 bits of min s + 4 << 4.
const K_SCALES = [1, 2, 3, 63, 17, 32, 48, 5];
const K_MINS = [0, 1, 62, 4, 33, 16, 63, 2];
const K_SCALE_BYTES = [
  1 | (1 << 6), // 17 = 0b01_0001
  2 | (2 << 6), // 32 = 0b10_0000
  3 | (3 << 6), // 48 = 0b11_0000
  63, // 5 = 0b00_0101
  0 | (2 << 6), // 33 = 0b10_0001
  1 | (1 << 6), // 16 = 0b01_0000
  62 | (3 << 6), // 63 = 0b11_1111
  4, // 2
  1 | (1 << 4),
  0 | (0 << 4),
  0 | (15 << 4),
  5 | (2 << 4),
];
// qs[i] = (i % 16) | (15 - i % 16) << 4: sub-block s (low nibbles for even s, high for odd) of qs[32 (s / 2) + l] has
// q = l % 16 for even s and 15 - l % 16 for odd s.
const K_QS = range(128, (i) => (i % 16) | ((15 - (i % 16)) << 4));
const kNibble = (s: number, l: number): number => (s % 2 === 0 ? l % 16 : 15 - (l % 16));

test('hand-built q4_k block: d = 1, dmin = 0.5, 6-bit scales and mins with high bits', () => {
  assert.deepEqual(K_SCALE_BYTES, [65, 130, 195, 63, 128, 65, 254, 4, 17, 0, 240, 37]);
  const raw = bytes(F16_1, F16_HALF, K_SCALE_BYTES, K_QS);
  const want = range(256, (e) => {
    const s = e >> 5;
    return K_SCALES[s]! * kNibble(s, e & 31) - 0.5 * K_MINS[s]!;
  });
  assertElements(dequantize(formatNamed('q4_k'), raw, 256), want, 'q4_k');
  // By hand: e0 = 1*0 - 0; e32 = 2*15 - 0.5; e99 = 63*12 - 2; e133 = 17*5 - 16.5; e193 = 48*1 - 31.5; e255 = 5*0 - 1.
  assert.deepEqual([want[0], want[32], want[99], want[133], want[193], want[255]], [0, 29.5, 754, 68.5, 16.5, -1]);
});

test('hand-built q5_k block: the q4_k scales and nibbles, qh[l] = 1 << (l % 8)', () => {
  // Bit s of qh[l] is bit 4 of element l of sub-block s: set where s = l % 8.
  const raw = bytes(F16_1, F16_HALF, K_SCALE_BYTES, range(32, (l) => 1 << (l % 8)), K_QS);
  const want = range(256, (e) => {
    const s = e >> 5;
    const l = e & 31;
    return K_SCALES[s]! * (kNibble(s, l) + (l % 8 === s ? 16 : 0)) - 0.5 * K_MINS[s]!;
  });
  assertElements(dequantize(formatNamed('q5_k'), raw, 256), want, 'q5_k');
  // e0 = 1*16 - 0; e32 = 2*15 - 0.5; e33 = 2*(14 + 16) - 0.5; e255 = 5*(0 + 16) - 1 (l = 31, 31 % 8 = 7).
  assert.deepEqual([want[0], want[32], want[33], want[255]], [16, 29.5, 59.5, 79]);
});

test('hand-built q6_k block: d = 0.5, signed scales, ql[i] = i, qh[i] = 37 i mod 256', () => {
  const scales = [1, -1, 2, -2, 3, -3, 4, -4, 127, -128, 10, -10, 20, -20, 0, 5];
  const ql = range(128, (i) => i);
  const qh = range(64, (i) => (37 * i) & 0xff);
  const raw = bytes(ql, qh, scales.map((s) => s & 0xff), F16_HALF);
  // Element e: half h = e / 128, quarter t = (e / 32) % 4, l = e % 32. Low 4 bits: ql[64h + 32 (t % 2) + l], low nibble
  // for t < 2, high for t >= 2; high 2 bits: bits 2t, 2t + 1 of qh[32h + l]; scale scales[8h + 2t + l / 16].
  const want = range(256, (e) => {
    const h = e >> 7;
    const t = (e >> 5) & 3;
    const l = e & 31;
    const b = ql[64 * h + 32 * (t & 1) + l]!;
    const q = (t < 2 ? b & 15 : b >> 4) | (((qh[32 * h + l]! >> (2 * t)) & 3) << 4);
    return 0.5 * scales[8 * h + 2 * t + (l >> 4)]! * (q - 32);
  });
  assertElements(dequantize(formatNamed('q6_k'), raw, 256), want, 'q6_k');
  // By hand: e0: q = 0, scale 1 -> -16. e16: ql 16 -> 0, qh 80 -> 0, scale -1 -> 16. e100 (t 3, l 4): ql[36] >> 4 = 2,
  // qh[4] = 148 >> 6 = 2 -> q = 34, scale 4 -> 4. e177 (h 1, t 1, l 17): ql[113] & 15 = 1, (qh[49] = 21 >> 2) & 3 = 1
  // -> q = 17, scale -10 -> 75. e200 (h 1, t 2, l 8): ql[72] >> 4 = 4, (qh[40] = 200 >> 4) & 3 = 0 -> q = 4, scale
  // 20 -> -280.
  assert.deepEqual([want[0], want[16], want[100], want[177], want[200]], [-16, 16, 4, 75, -280]);
});
