// Hostile tensor bytes for the format tests: what a GGUF file may hold besides what our test encoder writes. Two sets
// per format of the registry:
//   - ggmlRandomBytes: uniform random bytes, the recipe of test/unit/formats-ggml.test.ts (seed 5, 7 * 8 blocks of 32
//     or 256), on which our CPU dequantizers equal ggml's bit for bit;
//   - edgeBytes: every value class of every field, placed on purpose rather than left to chance. Element formats:
//     every 16-bit pattern (f16, bf16), or specials and random words (f32). Block formats: random bytes whose f16 scale
//     fields take each of F16_EDGES in turn (every zero and subnormal, the infinities and NaNs, both signs, every
//     normal exponent), the second f16 field (Q4_1/Q5_1 m, K-quant dmin) a different one each block, and every 6-bit
//     scale and min (Q4_K, Q5_K) and every 8-bit scale (Q6_K) in every sub-block position.
// coverage() says which of those classes a set holds, so that a test can require them instead of trusting the recipe.
import type { TensorFormat } from '../../src/engine/formats/index.js';
import { scaleMinK4 } from '../../src/engine/formats/kquants.js';
import { rng } from '../../src/engine/util/rng.js';

/** Byte offsets of a block format's f16 fields: the scale d first, then the offset (m, dmin) where there is one. */
const F16_FIELDS: Record<string, number[]> = {
  q4_0: [0],
  q4_1: [0, 2],
  q5_0: [0],
  q5_1: [0, 2],
  q8_0: [0],
  q4_k: [0, 2],
  q5_k: [0, 2],
  q6_k: [208],
};

/** The f16 fields of a block format (throws for a format this helper does not know yet: add it above). */
export function f16Fields(f: TensorFormat): number[] {
  const fields = F16_FIELDS[f.name];
  if (!fields) throw new Error(`test/helpers/format-bytes.ts: no f16 fields listed for block format ${f.name}`);
  return fields;
}

/**
 * f16 bit patterns: every pattern with exponent 0 (±0 and every subnormal), ±Inf, 8 NaNs (quiet and signalling, both
 * signs, small and large payloads: the CPU decodes every NaN to one NaN, so more would only crowd the comparison with
 * NaN outputs), and for each normal exponent and sign the mantissas 0, 1, 0x155, 0x200, 0x2aa and 0x3ff. 2418 patterns.
 */
export const F16_EDGES: readonly number[] = (() => {
  const out: number[] = [];
  for (const sign of [0, 0x8000]) {
    for (let m = 0; m < 1024; m++) out.push(sign | m);
    out.push(sign | 0x7c00);
    for (const m of [1, 0x155, 0x200, 0x3ff]) out.push(sign | 0x7c00 | m);
    for (let e = 1; e < 31; e++) for (const m of [0, 1, 0x155, 0x200, 0x2aa, 0x3ff]) out.push(sign | (e << 10) | m);
  }
  return out;
})();

/** The random bytes of test/unit/formats-ggml.test.ts: 7 * 8 blocks (of 32 elements for element formats). */
export function ggmlRandomBytes(f: TensorFormat): { raw: Uint8Array; count: number } {
  const count = 8 * Math.max(f.blockElems, 32) * 7;
  const r = rng(5);
  const raw = Uint8Array.from({ length: (count / f.blockElems) * f.blockBytes }, () => Math.floor(r() * 256));
  return { raw, count };
}

/** Packs the 6-bit scales and mins of 8 sub-blocks into Q4_K/Q5_K's 12 bytes at `at` (inverse of scaleMinK4). */
function packScaleMinK4(raw: Uint8Array, at: number, sc: number[], m: number[]): void {
  raw.fill(0, at, at + 12);
  for (let j = 0; j < 4; j++) {
    raw[at + j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
    raw[at + j + 4] = m[j]! | ((m[j + 4]! >> 4) << 6);
    raw[at + j + 8] = (sc[j + 4]! & 0xf) | ((m[j + 4]! & 0xf) << 4);
  }
}

/**
 * Edge-case bytes of format `f` as `rows` rows of `cols` elements (see the file comment). Block formats: one block per
 * entry of F16_EDGES (rounded up to whole rows), `blocksPerRow` blocks a row.
 */
export function edgeBytes(f: TensorFormat, seed: number): { raw: Uint8Array; rows: number; cols: number } {
  const r = rng(seed);
  const byte = () => Math.floor(r() * 256);
  if (f.name === 'f16' || f.name === 'bf16') {
    // every 16-bit pattern, shuffled so that neighbours in a word or a chunk differ in class
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return { raw: new Uint8Array(all.buffer), rows: 256, cols: 256 };
  }
  if (f.name === 'f32') {
    const rows = 64;
    const cols = 1024;
    const words = Uint32Array.from({ length: rows * cols }, () => (byte() | (byte() << 8) | (byte() << 16) | (byte() << 24)) >>> 0);
    // specials every 7 words: ±0, ±Inf, quiet and signalling NaNs with payloads, subnormals, the extreme normals
    const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xffc12345, 0x00000001, 0x807fffff, 0x00400000, 0x00800000, 0x7f7fffff, 0xff7fffff];
    for (let i = 0; i < words.length; i += 7) words[i] = specials[(i / 7) % specials.length]!;
    return { raw: new Uint8Array(words.buffer), rows, cols };
  }
  if (f.blockElems === 1) throw new Error(`test/helpers/format-bytes.ts: no edge bytes for element format ${f.name}`);
  const fields = f16Fields(f);
  const blocksPerRow = 2;
  const blocks = Math.ceil(F16_EDGES.length / blocksPerRow) * blocksPerRow;
  const raw = Uint8Array.from({ length: blocks * f.blockBytes }, byte);
  const view = new DataView(raw.buffer);
  for (let b = 0; b < blocks; b++) {
    const at = b * f.blockBytes;
    // d takes every edge in turn; the second field a different edge (a stride prime to the list's length)
    fields.forEach((off, i) => view.setUint16(at + off, F16_EDGES[(b * (i ? 1237 : 1) + i * 17) % F16_EDGES.length]!, true));
    if (f.name === 'q4_k' || f.name === 'q5_k') {
      const sc = Array.from({ length: 8 }, (_, s) => (b + 9 * s) & 63);
      const m = Array.from({ length: 8 }, (_, s) => (5 * b + 3 * s + 1) & 63);
      packScaleMinK4(raw, at + 4, sc, m);
    }
    if (f.name === 'q6_k') for (let k = 0; k < 16; k++) raw[at + 192 + k] = (b + 17 * k) & 255;
  }
  return { raw, rows: blocks / blocksPerRow, cols: blocksPerRow * f.blockElems };
}

/** Classes of f16 values: what coverage() counts. */
export type F16Class = 'zero' | 'subnormal' | 'normal' | 'inf' | 'nan' | 'negative';

function f16Classes(h: number): F16Class[] {
  const e = (h >> 10) & 31;
  const m = h & 0x3ff;
  const c: F16Class = e === 0 ? (m ? 'subnormal' : 'zero') : e === 31 ? (m ? 'nan' : 'inf') : 'normal';
  return h & 0x8000 ? [c, 'negative'] : [c];
}

/**
 * What a set of bytes holds: per f16 field of a block format ('d', 'm' or 'dmin'; element formats: 'value'), how many
 * blocks have each class; K-quants: the distinct (sub-block, 6-bit scale) and (sub-block, min) pairs; Q6_K: the
 * distinct (position, 8-bit scale) pairs. Element formats f16/bf16: distinct 16-bit patterns.
 */
export function coverage(f: TensorFormat, raw: Uint8Array): { fields: Record<string, Record<F16Class, number>>; patterns: number } {
  const fields: Record<string, Record<F16Class, number>> = {};
  const count = (field: string, h: number) => {
    fields[field] ??= { zero: 0, subnormal: 0, normal: 0, inf: 0, nan: 0, negative: 0 };
    for (const c of f16Classes(h)) fields[field][c]++;
  };
  const seen = new Set<number>();
  if (f.blockElems === 1) {
    if (f.name === 'f16') for (let i = 0; i < raw.length; i += 2) count('value', raw[i]! | (raw[i + 1]! << 8));
    if (f.name === 'f16' || f.name === 'bf16') for (let i = 0; i < raw.length; i += 2) seen.add(raw[i]! | (raw[i + 1]! << 8));
    return { fields, patterns: seen.size };
  }
  const names = ['d', f.name.endsWith('_k') ? 'dmin' : 'm'];
  for (let at = 0; at + f.blockBytes <= raw.length; at += f.blockBytes) {
    f16Fields(f).forEach((off, i) => count(names[i]!, raw[at + off]! | (raw[at + off + 1]! << 8)));
    if (f.name === 'q4_k' || f.name === 'q5_k') {
      for (let j = 0; j < 8; j++) {
        const [sc, m] = scaleMinK4(raw, at + 4, j);
        seen.add(j * 64 + sc);
        seen.add(512 + j * 64 + m);
      }
    }
    if (f.name === 'q6_k') for (let k = 0; k < 16; k++) seen.add(k * 256 + raw[at + 192 + k]!);
  }
  return { fields, patterns: seen.size };
}

/** The number of distinct patterns coverage() must find for `f` when every scale pattern occurs everywhere. */
export function allPatterns(f: TensorFormat): number {
  if (f.name === 'f16' || f.name === 'bf16') return 65536;
  if (f.name === 'q4_k' || f.name === 'q5_k') return 2 * 8 * 64;
  if (f.name === 'q6_k') return 16 * 256;
  return 0;
}
