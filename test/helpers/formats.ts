// Test data in every tensor format of the registry: random weights as raw GGUF bytes (test/helpers/quantize.ts) with
// their exact values (the format's CPU dequantizer), and shapes that suit each format's block size.
import { dequantize, type TensorFormat } from '../../src/engine/formats/index.js';
import { randn } from './gpu.js';
import { quantize } from './quantize.js';

/** Random (rows, cols) weights of `format` as raw GGUF bytes, and their exact f32 values. */
export function makeWeights(format: TensorFormat, rows: number, cols: number, seed: number, scale = 0.5): { raw: Uint8Array; ref: Float32Array } {
  const raw = quantize(format.name, randn(rows * cols, seed, scale));
  return { raw, ref: dequantize(format, raw, rows * cols) };
}

/**
 * [rows, cols] shapes for a format's kernel tests: odd sizes; element formats also get row lengths that are not a
 * multiple of 32 or of 4 (the element-wise tail), block formats whole blocks of odd counts.
 */
export function shapesFor(format: TensorFormat): [number, number][] {
  if (format.blockElems === 1) return [[315, 1000], [1000, 315], [2179, 64]];
  if (format.blockElems === 32) return [[1000, 2176], [2179, 64]];
  return [[315, 1280], [2179, 256]];
}

/** The smallest odd-ish row length for a format: 35 elements, or 2 blocks. */
export function smallCols(format: TensorFormat): number {
  return format.blockElems === 1 ? 35 : 2 * format.blockElems;
}
