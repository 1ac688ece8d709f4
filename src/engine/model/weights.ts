// Weight matrices on the GPU, in the types GGUF files store them: F32, F16 and Q8_0.
//
// F32 and F16 are uploaded byte for byte; kernels bind them as array<u32> and decode with bitcast<f32> or
// unpack2x16float (WGSL's f16 type is missing on many WebGPU paths, the browser ones here included).
// Q8_0 (ggml: blocks of 32 elements, each an f16 scale d then 32 int8 q; x = d * q) stays quantized on the GPU, repacked
// so that kernels read aligned words: `data` holds the int8s, 4 per u32 (element 4i + j in byte j of word i, so a row's
// blocks are contiguous and word-aligned since cols % 32 == 0), and `scales` one f32 per block, in block order.
import { fmtBytes, type GpuContext, GpuMemoryError } from '../gpu/context.js';

export type WeightType = 'f32' | 'f16' | 'q8_0';

/** ggml type id -> WeightType: 0 -> f32, 1 -> f16, 8 -> q8_0; any other type is not supported (null). */
export function weightTypeFromGGML(ggmlType: number): WeightType | null {
  switch (ggmlType) {
    case 0:
      return 'f32';
    case 1:
      return 'f16';
    case 8:
      return 'q8_0';
    default:
      return null;
  }
}

/** Kernel-side code of each type (the WTYPE override constant of the matmul and embedding shaders). */
export const WTYPE_CODE: Readonly<Record<WeightType, number>> = { f32: 0, f16: 1, q8_0: 2 };

export const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 34;

/** A (rows, cols) row-major weight matrix on the GPU (ggml layout: each row of `cols` elements contiguous). */
export interface GpuWeight {
  type: WeightType;
  rows: number;
  cols: number;
  /** f32: the floats; f16: the halves, two per u32; q8_0: the int8s, four per u32. */
  data: GPUBuffer;
  /** q8_0: one f32 scale per block of 32 elements (rows * cols / 32); null for f32 and f16. */
  scales: GPUBuffer | null;
  /** GPU bytes (data + scales). */
  bytes: number;
  label: string;
}

/** Bytes of `count` elements of `type` in a GGUF file. */
export function rawByteLength(type: WeightType, count: number): number {
  switch (type) {
    case 'f32':
      return count * 4;
    case 'f16':
      return count * 2;
    case 'q8_0':
      return (count / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
  }
}

/** Bytes of one element in `data` (q8_0: the int8 only; its scale lives in `scales`). */
export function dataBytesPerElement(type: WeightType): number {
  return type === 'f32' ? 4 : type === 'f16' ? 2 : 1;
}

function checkShape(type: WeightType, raw: Uint8Array, rows: number, cols: number, label: string): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0) {
    throw new Error(`${label}: invalid shape (${rows}, ${cols})`);
  }
  if (type === 'q8_0' && cols % Q8_0_BLOCK !== 0) {
    throw new Error(`${label}: q8_0 rows must hold whole blocks of ${Q8_0_BLOCK}, but cols = ${cols}`);
  }
  const want = rawByteLength(type, rows * cols);
  if (raw.byteLength !== want) {
    throw new Error(`${label}: ${type} (${rows}, ${cols}) needs ${want} bytes, got ${raw.byteLength}`);
  }
}

/**
 * Uploads the raw GGUF bytes of a tensor. F32 and F16 are uploaded as they are (F16 read in WGSL as u32 pairs via
 * unpack2x16float, since f16 is absent on many WebGPU paths); Q8_0 (blocks of 32: f16 scale d + 32 int8) stays quantized
 * on the GPU: repacked into `data` (the int8s, 4 per u32) and `scales` (one f32 per block), and dequantized inside the
 * kernels.
 *
 * A matrix larger than the device's largest storage binding is fine: the kernels bind it in row ranges
 * (see `weightRowChunks`); a single row must fit in one binding.
 */
export function uploadWeight(ctx: GpuContext, type: WeightType, raw: Uint8Array, rows: number, cols: number, label: string): GpuWeight {
  checkShape(type, raw, rows, cols, label);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const rowBytes = cols * dataBytesPerElement(type);
  if (rowBytes + ctx.limits.minStorageBufferOffsetAlignment > maxBinding) {
    throw new GpuMemoryError(`${label}: one row of ${fmtBytes(rowBytes)} is over this device's largest storage binding (${fmtBytes(maxBinding)})`);
  }
  if (type !== 'q8_0') {
    const data = ctx.upload(raw, label);
    return { type, rows, cols, data, scales: null, bytes: data.size, label };
  }
  const nBlocks = (rows * cols) / Q8_0_BLOCK;
  const q = new Uint8Array(nBlocks * Q8_0_BLOCK);
  const d = new Float32Array(nBlocks);
  for (let b = 0, src = 0; b < nBlocks; b++, src += Q8_0_BLOCK_BYTES) {
    d[b] = f16ToF32(raw[src]! | (raw[src + 1]! << 8));
    q.set(raw.subarray(src + 2, src + Q8_0_BLOCK_BYTES), b * Q8_0_BLOCK);
  }
  const data = ctx.upload(q, label);
  const scales = ctx.upload(d, `${label}.scales`);
  return { type, rows, cols, data, scales, bytes: data.size + scales.size, label };
}

export interface WeightRowChunk {
  /** First row of the chunk and number of rows. */
  row0: number;
  rows: number;
  /** The chunk's bindings (offsets aligned to minStorageBufferOffsetAlignment). */
  data: { buffer: GPUBuffer; offset: number; size: number };
  scales: { buffer: GPUBuffer; offset: number; size: number } | null;
}

/**
 * Splits a weight into row ranges whose bindings fit the device's largest storage binding, each starting at an aligned
 * byte offset. One chunk (the whole matrix) in the common case. `maxBinding` is for tests.
 */
export function weightRowChunks(ctx: GpuContext, w: GpuWeight, maxBinding = ctx.limits.maxStorageBufferBindingSize): WeightRowChunk[] {
  const align = ctx.limits.minStorageBufferOffsetAlignment;
  const rowBytes = w.cols * dataBytesPerElement(w.type);
  const scaleRowBytes = w.type === 'q8_0' ? (w.cols / Q8_0_BLOCK) * 4 : 0;
  // Kernels bind `data` as array<vec4<u32>>: sizes in whole 16-byte words (the buffer itself is padded to 16).
  const dataSize = (r: number) => Math.ceil((r * rowBytes) / 16) * 16;
  if (w.data.size <= maxBinding && (w.scales?.size ?? 0) <= maxBinding) {
    return [
      {
        row0: 0,
        rows: w.rows,
        data: { buffer: w.data, offset: 0, size: w.data.size },
        scales: w.scales && { buffer: w.scales, offset: 0, size: w.scales.size },
      },
    ];
  }
  // Rows per chunk: a multiple of `step`, the fewest rows after which both byte offsets are aligned again.
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const stepFor = (bytes: number) => (bytes === 0 ? 1 : align / gcd(align, bytes % align || align));
  const a = stepFor(rowBytes);
  const b = stepFor(scaleRowBytes);
  const step = (a * b) / gcd(a, b);
  const fit = Math.floor(maxBinding / Math.max(rowBytes, scaleRowBytes));
  const per = Math.floor(fit / step) * step;
  if (per === 0) throw new GpuMemoryError(`${w.label}: cannot split into aligned row ranges under ${fmtBytes(maxBinding)}`);
  const chunks: WeightRowChunk[] = [];
  for (let row0 = 0; row0 < w.rows; row0 += per) {
    const rows = Math.min(per, w.rows - row0);
    chunks.push({
      row0,
      rows,
      data: { buffer: w.data, offset: row0 * rowBytes, size: dataSize(rows) },
      scales: w.scales && { buffer: w.scales, offset: row0 * scaleRowBytes, size: rows * scaleRowBytes },
    });
  }
  return chunks;
}

const dummies = new WeakMap<GpuContext, GPUBuffer>();

/** A small storage buffer bound where a kernel's binding is unused (`scales` of f32 and f16 weights); one per context. */
export function dummyBuffer(ctx: GpuContext): GPUBuffer {
  let d = dummies.get(ctx);
  if (!d) {
    d = ctx.buffer(16, 'dummy');
    dummies.set(ctx, d);
  }
  return d;
}

/** CPU reference dequantization of raw GGUF bytes to f32 (count elements). */
export function dequantize(type: WeightType, raw: Uint8Array, count: number): Float32Array {
  const need = rawByteLength(type, count);
  if (type === 'q8_0' && count % Q8_0_BLOCK !== 0) throw new Error(`q8_0: ${count} elements is not a whole number of blocks`);
  if (raw.byteLength < need) throw new Error(`${type}: ${count} elements need ${need} bytes, got ${raw.byteLength}`);
  const out = new Float32Array(count);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (type) {
    case 'f32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'f16':
      for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      break;
    case 'q8_0':
      for (let b = 0; b < count / Q8_0_BLOCK; b++) {
        const at = b * Q8_0_BLOCK_BYTES;
        const d = f16ToF32(view.getUint16(at, true));
        for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * view.getInt8(at + 2 + j);
      }
      break;
  }
  return out;
}

/** IEEE half (bits in the low 16 of `h`) to a number: exact, including subnormals, infinities and NaN. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
