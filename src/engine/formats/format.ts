// One module per tensor format (F32, F16, Q8_0, Q4_K, ...): its ggml type id, its block size in elements and bytes, the
// CPU dequantizer (the reference every GPU path is tested against) and the WGSL that decodes it on the GPU. The matrix
// and embedding kernels are written once, free of any type, and composed with a format's WGSL (see index.ts); so a new
// format is one new module plus its decoder, and the kernel tests, which loop over the registry, test it everywhere.
//
// GPU layout (the same for every format, built by repackRows in index.ts): each row of a (rows, cols) matrix starts on
// a u32 word. Element formats (blockElems 1: f32, f16, bf16) keep their bytes, each row padded to a whole word. Block
// formats keep their blocks in file order, each block made word-aligned by inserting zero bytes at `padAt` (after the
// f16 scale of Q8_0, Q4_0, Q5_0, so that the quants after it start on a word; at the end of Q6_K's 210-byte block).
//
// WGSL contract. The kernel declares the weights as `var<storage, read> w: array<u32>` and prepends
// shaders/formats/common.wgsl and then the format's file, which defines:
//   fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32>
//       elements 32j + 4i .. 32j + 4i + 3 (i < 8) of the row whose first word is w[row] (a word offset, not a row
//       number), dequantized. Called only inside whole chunks of 32 (32 (j + 1) <= cols). Kernels call it for the 8
//       quads of a chunk in turn, so what a chunk shares (a block's scale) is the same expression in each call, which
//       the shader compiler computes once; common.wgsl builds w_chunk (the 8 quads as an array) from it.
//   fn w_elem(row: u32, k: u32) -> f32
//       element k of that row (the tail of a row whose length is not a multiple of 32: only element formats have one).
import type { GGMLType } from './ggml-types.js';

export interface TensorFormat {
  /** Lower-case name ('f32', 'q4_k'): pipeline keys and messages. */
  readonly name: string;
  readonly ggmlType: GGMLType;
  /** Elements per block: 1 for element formats; 32 or 256 for block formats (rows must hold whole blocks). */
  readonly blockElems: number;
  /** Bytes per block in a GGUF file. */
  readonly blockBytes: number;
  /** Block formats whose block is not a whole number of words: the byte offset in the block where zero bytes are inserted. */
  readonly padAt: number | null;
  /** CPU reference: `count` elements (whole blocks) decoded from raw GGUF bytes, as ggml's dequantize_row_* does. */
  dequantize(raw: Uint8Array, count: number): Float32Array;
  /** The WGSL decoder (shaders/formats/<name>.wgsl): w_quad and w_elem, see above. */
  readonly wgsl: string;
}
