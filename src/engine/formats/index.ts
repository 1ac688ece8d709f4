// The registry of tensor formats: the single list of what the engine can compute with. Kernels compose their type-free
// bodies with a format's WGSL (formatWgsl); weights are laid out for the GPU by repackRows; tests loop over FORMATS.
import commonSource from '../../../shaders/formats/common.wgsl';
import { type GGMLType, ggmlTypeName } from './ggml-types.js';
import { bf16 } from './bf16.js';
import { f16 } from './f16.js';
import { f32 } from './f32.js';
import type { TensorFormat } from './format.js';
import { q4_0 } from './q4_0.js';
import { q4_1 } from './q4_1.js';
import { q4_k } from './q4_k.js';
import { q5_0 } from './q5_0.js';
import { q5_1 } from './q5_1.js';
import { q5_k } from './q5_k.js';
import { q6_k } from './q6_k.js';
import { q8_0 } from './q8_0.js';

export type { TensorFormat } from './format.js';

/** Every format the engine supports, in ggml type order. */
export const FORMATS: readonly TensorFormat[] = [f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, bf16];

const byType = new Map<number, TensorFormat>(FORMATS.map((f) => [f.ggmlType, f]));
const byName = new Map<string, TensorFormat>(FORMATS.map((f) => [f.name, f]));

/** The format of a ggml type id, or undefined when the engine does not support it. */
export function formatOfGGML(type: GGMLType | number): TensorFormat | undefined {
  return byType.get(type);
}

/** The format of a name ('q4_k'); throws for an unknown name. */
export function formatNamed(name: string): TensorFormat {
  const f = byName.get(name);
  if (!f) throw new Error(`unknown tensor format ${name} (known: ${supportedFormatNames()})`);
  return f;
}

/** "F32, F16, Q8_0, ..." for messages. */
export function supportedFormatNames(): string {
  return FORMATS.map((f) => ggmlTypeName(f.ggmlType)).join(', ');
}

/** The WGSL a kernel prepends to its body: the shared helpers, then the format's decoder. */
export function formatWgsl(f: TensorFormat): string {
  return `${commonSource}\n${f.wgsl}`;
}

/** Bytes of one block on the GPU (a whole number of words; element formats: their element size). */
export function gpuBlockBytes(f: TensorFormat): number {
  if (f.blockElems === 1) return f.blockBytes;
  const pad = (4 - (f.blockBytes % 4)) % 4;
  if (pad && f.padAt === null) throw new Error(`${f.name}: a ${f.blockBytes}-byte block needs padAt`);
  return f.blockBytes + pad;
}

/** Whether `cols` is a valid row length for the format (rows hold whole blocks). */
export function fitsRows(f: TensorFormat, cols: number): boolean {
  return Number.isInteger(cols) && cols > 0 && cols % f.blockElems === 0;
}

/** Bytes of a row of `cols` elements in a GGUF file. */
export function rawRowBytes(f: TensorFormat, cols: number): number {
  return (cols / f.blockElems) * f.blockBytes;
}

/** u32 words of a row of `cols` elements on the GPU. */
export function gpuRowWords(f: TensorFormat, cols: number): number {
  return Math.ceil(((cols / f.blockElems) * gpuBlockBytes(f)) / 4);
}

/**
 * The GPU layout of `rows` rows of raw GGUF bytes (see format.ts): rows word-aligned, blocks padded at padAt. Returns
 * `raw` itself when the layouts are the same.
 */
export function repackRows(f: TensorFormat, raw: Uint8Array, rows: number, cols: number): Uint8Array {
  const rowRaw = rawRowBytes(f, cols);
  if (raw.byteLength !== rows * rowRaw) throw new Error(`${f.name}: ${rows} rows of ${cols} need ${rows * rowRaw} bytes, got ${raw.byteLength}`);
  const rowGpu = gpuRowWords(f, cols) * 4;
  if (rowGpu === rowRaw) return raw;
  const out = new Uint8Array(rows * rowGpu);
  if (f.blockElems === 1) {
    for (let r = 0; r < rows; r++) out.set(raw.subarray(r * rowRaw, (r + 1) * rowRaw), r * rowGpu);
    return out;
  }
  const gb = gpuBlockBytes(f);
  const at = f.padAt!;
  const tail = gb - f.blockBytes;
  const blocks = rows * (cols / f.blockElems);
  for (let b = 0; b < blocks; b++) {
    const s = b * f.blockBytes;
    const d = b * gb;
    out.set(raw.subarray(s, s + at), d);
    out.set(raw.subarray(s + at, s + f.blockBytes), d + at + tail);
  }
  return out;
}

/** CPU reference dequantization of `count` elements (whole blocks) of raw GGUF bytes, with the lengths checked. */
export function dequantize(f: TensorFormat, raw: Uint8Array, count: number): Float32Array {
  if (count % f.blockElems !== 0) throw new Error(`${f.name}: ${count} elements is not a whole number of blocks of ${f.blockElems}`);
  const need = (count / f.blockElems) * f.blockBytes;
  if (raw.byteLength < need) throw new Error(`${f.name}: ${count} elements need ${need} bytes, got ${raw.byteLength}`);
  return f.dequantize(raw, count);
}
