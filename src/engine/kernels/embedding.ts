import source from '../../../shaders/embedding.wgsl';
import { formatWgsl, type TensorFormat } from '../formats/index.js';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';
import { type GpuWeight, type WeightRowChunk, weightRowChunks } from '../gpu/weight.js';

const Params = uniformStruct('Params', { tokens: 'u32', cols: 'u32', row0: 'u32', rows: 'u32', rowWords: 'u32' });
const WG = 64;

const kernels = new Map<string, KernelDef>();

/** The embedding kernel composed with a format's decoder. */
export function embeddingKernel(format: TensorFormat): KernelDef {
  let k = kernels.get(format.name);
  if (!k) {
    k = {
      name: `embedding.${format.name}`,
      source: `${formatWgsl(format)}\n${source}`,
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
      params: Params,
    };
    kernels.set(format.name, k);
  }
  return k;
}

/**
 * out (tokens, table.cols) = the rows ids[t] (u32, tokens) of `table`, dequantized to f32. Ids must be below table.rows
 * (the caller checks): the row of an id outside the table is left unwritten.
 */
export function embedding(b: Batch, ids: Binding, table: GpuWeight, out: Binding, p: { tokens: number }): void {
  embeddingChunks(b, ids, table, out, p, weightRowChunks(b.ctx, table));
}

/** embedding() with the table bound in the given row ranges (see weightRowChunks): one dispatch per range. */
export function embeddingChunks(b: Batch, ids: Binding, table: GpuWeight, out: Binding, p: { tokens: number }, chunks: WeightRowChunk[]): void {
  const workgroups = grid(b.ctx, p.tokens);
  const kernel = embeddingKernel(table.format);
  for (const c of chunks) {
    const params = { tokens: p.tokens, cols: table.cols, row0: c.row0, rows: c.rows, rowWords: table.rowWords };
    b.dispatch(kernel, params, [ids, c.data, out], workgroups, { WG });
  }
}

/** CPU reference: the rows ids[t] of `table` (rows, cols), already dequantized (formats' dequantize). */
export function embeddingRef(ids: Uint32Array, table: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(ids.length * cols);
  ids.forEach((id, t) => out.set(table.subarray(id * cols, (id + 1) * cols), t * cols));
  return out;
}
