// Attention over the resident KV cache in two dispatches: attention.wgsl (split-K partial softmax per chunk of rows)
// and attention_merge.wgsl. See the shader headers for the masking rule (by position) and the chunking.
import mergeSource from '../../../shaders/attention_merge.wgsl';
import source from '../../../shaders/attention.wgsl';
import { type Batch, type Binding, type GpuContext, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', {
  tokens: 'u32',
  nHeads: 'u32',
  nKvHeads: 'u32',
  headDim: 'u32',
  maxRows: 'u32',
  nRows: 'u32',
  layer: 'u32',
  nChunks: 'u32',
  chunk: 'u32',
  scale: 'f32',
});
const MergeParams = uniformStruct('Params', { tokens: 'u32', nHeads: 'u32', headDim: 'u32', nChunks: 'u32' });
const WG = 64;
export const MAX_HEAD_DIM = 256;
/** Fewest rows a chunk is worth. */
const MIN_CHUNK = 32;

export const attentionKernel: KernelDef = {
  name: 'attention',
  source,
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
  params: Params,
};

export const attentionMergeKernel: KernelDef = {
  name: 'attention_merge',
  source: mergeSource,
  bindings: ['uniform', 'read-only-storage', 'storage'],
  params: MergeParams,
};

export interface AttentionParams {
  tokens: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  maxRows: number;
  nRows: number;
  layer: number;
}

/** The partial-softmax scratch of each device, grown on demand and shared by every attention call on it. */
const scratch = new WeakMap<GpuContext, GPUBuffer>();

function scratchFor(ctx: GpuContext, floats: number): GPUBuffer {
  const have = scratch.get(ctx);
  if (have && have.size >= floats * 4) return have;
  // The old buffer may still be bound by a recorded, unsubmitted batch, so it is dropped, not destroyed.
  const buf = ctx.buffer(Math.max(floats * 4, (have?.size ?? 0) * 2), 'attention.part');
  scratch.set(ctx, buf);
  return buf;
}

/** Chunks per (token, head): enough invocations to fill the device, none shorter than MIN_CHUNK rows. */
export function attentionChunks(ctx: GpuContext, tokens: number, nHeads: number, nRows: number): number {
  const target = ctx.info.cpu ? 256 : 8192;
  const want = Math.ceil(target / (tokens * nHeads));
  return Math.max(1, Math.min(want, Math.ceil(nRows / MIN_CHUNK)));
}

/** out (tokens, nHeads, headDim) = softmax(q kᵀ / sqrt(headDim)) v over the visible cache rows of `layer`. */
export function attention(b: Batch, q: Binding, kCache: Binding, vCache: Binding, rowPos: Binding, qPos: Binding, out: Binding, p: AttentionParams): void {
  if (p.headDim > MAX_HEAD_DIM) throw new Error(`attention: head dim ${p.headDim} is over the supported ${MAX_HEAD_DIM}`);
  if (p.nHeads % p.nKvHeads !== 0) throw new Error(`attention: ${p.nHeads} query heads do not split over ${p.nKvHeads} KV heads`);
  const nRows = Math.max(p.nRows, 1);
  const nChunks = attentionChunks(b.ctx, p.tokens, p.nHeads, nRows);
  const chunk = Math.ceil(nRows / nChunks);
  const part = scratchFor(b.ctx, p.tokens * p.nHeads * nChunks * (p.headDim + 2));
  const n1 = p.tokens * p.nHeads * nChunks;
  b.dispatch(attentionKernel, { ...p, nChunks, chunk, scale: 1 / Math.sqrt(p.headDim) }, [q, kCache, vCache, rowPos, qPos, part], grid(b.ctx, Math.ceil(n1 / WG)), { WG });
  const n2 = p.tokens * p.nHeads * p.headDim;
  b.dispatch(attentionMergeKernel, { tokens: p.tokens, nHeads: p.nHeads, headDim: p.headDim, nChunks }, [part, out], grid(b.ctx, Math.ceil(n2 / WG)), { WG });
}

/** CPU reference in f64. */
export function attentionRef(q: Float32Array, kCache: Float32Array, vCache: Float32Array, rowPos: ArrayLike<number>, qPos: ArrayLike<number>, p: AttentionParams): Float32Array {
  const D = p.headDim;
  const out = new Float32Array(p.tokens * p.nHeads * D);
  const group = p.nHeads / p.nKvHeads;
  for (let t = 0; t < p.tokens; t++) {
    for (let h = 0; h < p.nHeads; h++) {
      const base = ((p.layer * p.nKvHeads + Math.floor(h / group)) * p.maxRows) * D;
      const qo = (t * p.nHeads + h) * D;
      const scores: [number, number][] = [];
      for (let r = 0; r < p.nRows; r++) {
        if (rowPos[r]! < 0 || rowPos[r]! > qPos[t]!) continue;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qo + d]! * kCache[base + r * D + d]!;
        scores.push([r, s / Math.sqrt(D)]);
      }
      if (scores.length === 0) continue;
      const m = Math.max(...scores.map(([, s]) => s));
      let l = 0;
      const acc = new Float64Array(D);
      for (const [r, s] of scores) {
        const w = Math.exp(s - m);
        l += w;
        for (let d = 0; d < D; d++) acc[d] += w * vCache[base + r * D + d]!;
      }
      for (let d = 0; d < D; d++) out[qo + d] = acc[d]! / l;
    }
  }
  return out;
}
