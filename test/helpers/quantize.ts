// Test-only: simple round-to-nearest encoders that write x in a tensor format's raw GGUF bytes (the block layouts of
// ggml-common.h, after ggml's quantize_row_*_ref with the K-quant scale search left out), for synthetic models that
// llama.cpp loads as the oracle and for the format tests. The decoders are the formats' CPU dequantizers.
import { f16ToF32 } from '../../src/engine/formats/half.js';
import { formatNamed } from '../../src/engine/formats/index.js';
import { f32ToF16Bits, quantizeQ8_0Bytes } from './gguf-rewrite.js';

/** Raw GGUF bytes of x in format `format` ('f32', 'q4_k', ...); x.length must be a whole number of blocks. */
export function quantize(format: string, x: Float32Array): Uint8Array {
  const f = formatNamed(format);
  if (x.length % f.blockElems) throw new Error(`quantize ${format}: ${x.length} elements is not a whole number of blocks of ${f.blockElems}`);
  if (format === 'q8_0') return quantizeQ8_0Bytes(x);
  if (format === 'f32') return new Uint8Array(Float32Array.from(x).buffer);
  if (format === 'f16') return new Uint8Array(Uint16Array.from(x, f32ToF16Bits).buffer);
  if (format === 'bf16') return new Uint8Array(Uint16Array.from(new Uint32Array(Float32Array.from(x).buffer), bf16Bits).buffer);
  const enc = ENCODERS[format];
  if (!enc) throw new Error(`quantize: no encoder for ${format}`);
  const nb = x.length / f.blockElems;
  const out = new Uint8Array(nb * f.blockBytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) enc(x.subarray(b * f.blockElems, (b + 1) * f.blockElems), out, view, b * f.blockBytes);
  return out;
}

/** Encodes one block `x` at byte `at` of `out`. */
type Encoder = (x: Float32Array, out: Uint8Array, view: DataView, at: number) => void;

/** Writes v as f16 at byte `at`; returns the value stored. */
function putF16(view: DataView, at: number, v: number): number {
  const h = f32ToF16Bits(v);
  view.setUint16(at, h, true);
  return f16ToF32(h);
}

/** f32 bits to bfloat16 bits, rounding to nearest even (ggml_compute_fp32_to_bf16; NaN stays a quiet NaN). */
function bf16Bits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 64) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The element of largest magnitude, with its sign (the first one on ties). */
function signedAbsMax(x: Float32Array): number {
  let amax = 0;
  let max = 0;
  for (const v of x) {
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

function minMax(x: Float32Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return [min, max];
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** Q4_0 / Q5_0: d = (signed absmax) / -2^(bits-1), q = x / d + 2^(bits-1) clamped; returns the q. */
function symmetric(x: Float32Array, bits: number, view: DataView, at: number): number[] {
  const half = 1 << (bits - 1);
  const d = signedAbsMax(x) / -half;
  const id = d ? 1 / d : 0;
  putF16(view, at, d);
  return Array.from(x, (v) => Math.min(2 * half - 1, Math.trunc(v * id + half + 0.5)));
}

/** Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min, q = (x - min) / d rounded; returns the q. */
function affine(x: Float32Array, bits: number, view: DataView, at: number): number[] {
  const nmax = (1 << bits) - 1;
  const [min, max] = minMax(x);
  const d = (max - min) / nmax;
  const id = d ? 1 / d : 0;
  putF16(view, at, d);
  putF16(view, at + 2, min);
  return Array.from(x, (v) => Math.min(nmax, Math.trunc((v - min) * id + 0.5)));
}

/** 32 quants as 16 bytes: element j < 16 in the low nibble of byte j, element j + 16 in the high nibble. */
function putNibbles(q: number[], out: Uint8Array, at: number): void {
  for (let j = 0; j < 16; j++) out[at + j] = (q[j]! & 0xf) | ((q[j + 16]! & 0xf) << 4);
}

/** The fifth bits of 32 quants as a little-endian u32 (bit j of element j). */
function putHighBits(q: number[], view: DataView, at: number): void {
  let qh = 0;
  for (let j = 0; j < 32; j++) qh |= ((q[j]! >> 4) & 1) << j;
  view.setUint32(at, qh >>> 0, true);
}

/**
 * Q4_K / Q5_K super-block header and quants: each sub-block of 32 takes min(0, its min) and (max - min) / nmax as its
 * min and scale; those are quantized to 6 bits relative to dmin = max min / 63 and d = max scale / 63, packed as
 * get_scale_min_k4 reads them, and x is then quantized against the stored values. Returns the 256 q in 0..nmax.
 */
function kQuant(x: Float32Array, nmax: number, out: Uint8Array, view: DataView, at: number): number[] {
  const scales: number[] = [];
  const mins: number[] = [];
  for (let s = 0; s < 8; s++) {
    const [mn, mx] = minMax(x.subarray(32 * s, 32 * s + 32));
    const lo = Math.min(0, mn);
    scales.push(mx > lo ? (mx - lo) / nmax : 0);
    mins.push(-lo);
  }
  const maxScale = Math.max(...scales);
  const maxMin = Math.max(...mins);
  const d = putF16(view, at, maxScale / 63);
  const dmin = putF16(view, at + 2, maxMin / 63);
  const sc = at + 4;
  const q: number[] = new Array(256).fill(0);
  for (let s = 0; s < 8; s++) {
    const ls = maxScale > 0 ? Math.min(63, Math.round((63 / maxScale) * scales[s]!)) : 0;
    const lm = maxMin > 0 ? Math.min(63, Math.round((63 / maxMin) * mins[s]!)) : 0;
    if (s < 4) {
      out[sc + s] = ls;
      out[sc + s + 4] = lm;
    } else {
      out[sc + s + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[sc + s - 4]! |= (ls >> 4) << 6;
      out[sc + s]! |= (lm >> 4) << 6;
    }
    const ds = d * ls;
    const ms = dmin * lm;
    if (!ds) continue;
    for (let l = 0; l < 32; l++) q[32 * s + l] = clamp(Math.round((x[32 * s + l]! + ms) / ds), 0, nmax);
  }
  return q;
}

// Block formats; the element formats and Q8_0 (gguf-rewrite.ts's quantizeQ8_0Bytes) are done whole in quantize().
const ENCODERS: Record<string, Encoder> = {
  q4_0(x, out, view, at) {
    putNibbles(symmetric(x, 4, view, at), out, at + 2);
  },
  q4_1(x, out, view, at) {
    putNibbles(affine(x, 4, view, at), out, at + 4);
  },
  q5_0(x, out, view, at) {
    const q = symmetric(x, 5, view, at);
    putHighBits(q, view, at + 2);
    putNibbles(q, out, at + 6);
  },
  q5_1(x, out, view, at) {
    const q = affine(x, 5, view, at);
    putHighBits(q, view, at + 4);
    putNibbles(q, out, at + 8);
  },
  q4_k(x, out, view, at) {
    const q = kQuant(x, 15, out, view, at);
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) out[at + 16 + 32 * g + l] = q[64 * g + l]! | (q[64 * g + 32 + l]! << 4);
    }
  },
  q5_k(x, out, view, at) {
    const q = kQuant(x, 31, out, view, at);
    for (let g = 0; g < 4; g++) {
      for (let l = 0; l < 32; l++) out[at + 48 + 32 * g + l] = (q[64 * g + l]! & 0xf) | ((q[64 * g + 32 + l]! & 0xf) << 4);
    }
    for (let s = 0; s < 8; s++) {
      for (let l = 0; l < 32; l++) out[at + 16 + l]! |= (q[32 * s + l]! >> 4) << s;
    }
  },
  q6_k(x, out, view, at) {
    // Sub-blocks of 16: scale = (signed absmax) / -32; the scales are int8 relative to d = (largest scale) / -128.
    const scales: number[] = [];
    for (let s = 0; s < 16; s++) scales.push(signedAbsMax(x.subarray(16 * s, 16 * s + 16)) / -32);
    let maxScale = 0;
    for (const s of scales) if (Math.abs(s) > Math.abs(maxScale)) maxScale = s;
    if (maxScale === 0) return; // all zero: the block stays zero bytes
    const iscale = -128 / maxScale;
    const d = putF16(view, at + 208, 1 / iscale);
    const q: number[] = new Array(256).fill(32);
    for (let s = 0; s < 16; s++) {
      const sc = Math.min(127, Math.round(iscale * scales[s]!));
      view.setInt8(at + 192 + s, sc);
      const ds = d * sc;
      if (!ds) continue;
      for (let l = 0; l < 16; l++) q[16 * s + l] = clamp(Math.round(x[16 * s + l]! / ds), -32, 31) + 32;
    }
    for (let h = 0; h < 2; h++) {
      const L = (i: number): number => q[128 * h + i]!;
      for (let l = 0; l < 32; l++) {
        out[at + 64 * h + l] = (L(l) & 0xf) | ((L(l + 64) & 0xf) << 4);
        out[at + 64 * h + 32 + l] = (L(l + 32) & 0xf) | ((L(l + 96) & 0xf) << 4);
        out[at + 128 + 32 * h + l] = (L(l) >> 4) | ((L(l + 32) >> 4) << 2) | ((L(l + 64) >> 4) << 4) | ((L(l + 96) >> 4) << 6);
      }
    }
  },
};
