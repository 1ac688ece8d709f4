// Weight matrices on the GPU, in the tensor format the GGUF file stores them (src/engine/formats): never dequantized on
// the host, decoded inside the kernels. One storage buffer per matrix in the format's GPU layout (rows word-aligned,
// blocks padded: formats/index.ts repackRows), written row range by row range so that a large tensor is streamed from
// the file rather than held whole.
import { fitsRows, gpuRowWords, rawRowBytes, repackRows, type TensorFormat } from '../formats/index.js';
import { fmtBytes, type GpuContext, GpuMemoryError } from './context.js';

/** A (rows, cols) row-major weight matrix on the GPU (ggml layout: each row of `cols` elements contiguous). */
export interface GpuWeight {
  format: TensorFormat;
  rows: number;
  cols: number;
  /** u32 words per row in the format's GPU layout. */
  rowWords: number;
  data: GPUBuffer;
  /** GPU bytes. */
  bytes: number;
  label: string;
}

function checkShape(format: TensorFormat, rows: number, cols: number, label: string): void {
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0) {
    throw new Error(`${label}: invalid shape (${rows}, ${cols})`);
  }
  if (!fitsRows(format, cols)) {
    throw new Error(`${label}: ${format.name} rows must hold whole blocks of ${format.blockElems}, but cols = ${cols}`);
  }
}

/** An empty weight of the given shape, to be filled with writeWeightRows. */
export function createWeight(ctx: GpuContext, format: TensorFormat, rows: number, cols: number, label: string): GpuWeight {
  checkShape(format, rows, cols, label);
  const rowWords = gpuRowWords(format, cols);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  if (rowWords * 4 + ctx.limits.minStorageBufferOffsetAlignment > maxBinding) {
    throw new GpuMemoryError(`${label}: one row of ${fmtBytes(rowWords * 4)} is over this device's largest storage binding (${fmtBytes(maxBinding)})`);
  }
  const data = ctx.buffer(rows * rowWords * 4, label);
  return { format, rows, cols, rowWords, data, bytes: data.size, label };
}

/** Writes whole rows of raw GGUF bytes, from row `row0`, into the weight (repacked into the GPU layout). */
export function writeWeightRows(ctx: GpuContext, w: GpuWeight, row0: number, raw: Uint8Array): void {
  const rowRaw = rawRowBytes(w.format, w.cols);
  const rows = raw.byteLength / rowRaw;
  if (!Number.isInteger(rows) || row0 + rows > w.rows) throw new Error(`${w.label}: ${raw.byteLength} bytes at row ${row0} are not whole rows inside (${w.rows}, ${w.cols})`);
  ctx.write(w.data, repackRows(w.format, raw, rows, w.cols), row0 * w.rowWords * 4);
}

/** Uploads the raw GGUF bytes of a whole tensor. */
export function uploadWeight(ctx: GpuContext, format: TensorFormat, raw: Uint8Array, rows: number, cols: number, label: string): GpuWeight {
  checkShape(format, rows, cols, label);
  const want = rows * rawRowBytes(format, cols);
  if (raw.byteLength !== want) throw new Error(`${label}: ${format.name} (${rows}, ${cols}) needs ${want} bytes, got ${raw.byteLength}`);
  const w = createWeight(ctx, format, rows, cols, label);
  writeWeightRows(ctx, w, 0, raw);
  return w;
}

export interface WeightRowChunk {
  /** First row of the chunk and number of rows. */
  row0: number;
  rows: number;
  /** The chunk's binding (offset aligned to minStorageBufferOffsetAlignment). */
  data: { buffer: GPUBuffer; offset: number; size: number };
}

/**
 * Splits a weight into row ranges whose bindings fit the device's largest storage binding, each starting at an aligned
 * byte offset. One chunk (the whole matrix) in the common case. `maxBinding` is for tests.
 */
export function weightRowChunks(ctx: GpuContext, w: GpuWeight, maxBinding = ctx.limits.maxStorageBufferBindingSize): WeightRowChunk[] {
  if (w.data.size <= maxBinding) return [{ row0: 0, rows: w.rows, data: { buffer: w.data, offset: 0, size: w.data.size } }];
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const rowBytes = w.rowWords * 4;
  // Rows per chunk: a multiple of `step`, the fewest rows after which the byte offset is aligned again.
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const step = align / gcd(align, rowBytes % align || align);
  const per = Math.floor(Math.floor(maxBinding / rowBytes) / step) * step;
  if (per === 0) throw new GpuMemoryError(`${w.label}: cannot split into aligned row ranges under ${fmtBytes(maxBinding)}`);
  const chunks: WeightRowChunk[] = [];
  for (let row0 = 0; row0 < w.rows; row0 += per) {
    const rows = Math.min(per, w.rows - row0);
    chunks.push({ row0, rows, data: { buffer: w.data, offset: row0 * rowBytes, size: rows * rowBytes } });
  }
  return chunks;
}
