// Attention over the resident KV cache: attention.wgsl, plus attention_merge.wgsl when the rows are split into chunks.
// See the shader headers for the masking rule (by position), the query tiles and the chunking.
//
// Why this shape. Measured with Dawn on a 2-core x86 VM, nHeads 8, nKvHeads 2, headDim 64, every row visible; ms per
// call, best of 3 rounds that time the variants in turn (the host is shared: figures drift by up to 30% between runs,
// so only numbers of one run are compared, and the lavapipe decode columns are within that noise of each other):
//
//   lavapipe (Mesa 25.0.7)                               tokens=1              tokens=64
//                                                  nRows=256  nRows=2048  nRows=256  nRows=2048
//   one workgroup of 32 per (token, head): rows        0.71       3.75        35.9       238
//     split between invocations, merged through
//     workgroup memory (2 barriers per 64 dims)
//   one invocation per (token, head), scalar loads     0.56       3.17        25.8       191
//   the same per (token, head, chunk), 256             0.61       3.86        26.4       196
//     invocations + merge pass (the previous kernel)
//   one invocation per (token, head), vec4 loads       0.34       2.35        15.9       132
//   one invocation per 4 queries of a KV head (4       0.34       2.36         9.5        85
//     heads here), vec4 loads; 8/32 chunks + merge
//     in decode, 1 chunk in prefill (this kernel)
//
//   SwiftShader 5.0.0, same rows
//   one workgroup per (token, head), barriers          4.17      22.9        213       1340
//   one invocation per (token, head), scalar loads     2.63      19.6        117       1143
//   the previous kernel                                2.74      19.4        117       1151
//   one invocation per (token, head), vec4 loads       1.54      11.5         66        622
//   this kernel                                        1.15       7.4         39        343
//
// Barriers cost more than they save on a CPU driver (one workgroup per (token, head) was the slowest design on both
// drivers), and splitting rows into many chunks did not pay either. What pays is fewer loads per multiply-add (a CPU
// driver runs invocations as SIMD lanes, so a storage load whose address differs per lane is a gather): reading K and V
// as vec4 and letting each K/V vector serve 4 queries made attention 1.6-3.4x faster than the previous kernel. The 4
// queries are the heads of one KV group where the group allows, else consecutive tokens: with nKvHeads 8 (no GQA) and
// 64 tokens, 4 tokens per invocation measured 12.0 / 94 ms against 14.2 / 104 ms for 1 (nRows 256 / 2048, lavapipe).
// With 1 token and a KV group of 4, the 2 invocations of one chunk leave most SIMD lanes idle (4.6 ms at nRows 2048),
// hence chunks up to 64 invocations on a CPU driver (1.4-2.4 ms for 8 to 32 chunks, flat within the noise). On a real
// GPU (not measured here) the target is 8192 invocations, so that decode, where tokens x heads is small, still fills
// the device.
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
/** 4 * MAX_D4 in attention.wgsl: the private arrays hold this many dims per query. */
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

/** How one attention call is cut up: query tiles (QT heads x TT tokens per invocation) and chunks of rows. */
export interface AttentionPlan {
  qt: 1 | 2 | 4;
  tt: 1 | 2 | 4;
  nChunks: number;
}

/** The partial-softmax scratch of each device, grown on demand and shared by every split-K attention call on it. */
const scratch = new WeakMap<GpuContext, GPUBuffer>();
const owned = new WeakSet<GpuContext>();

function scratchFor(ctx: GpuContext, floats: number): GPUBuffer {
  const have = scratch.get(ctx);
  if (have && have.size >= floats * 4) return have;
  // The old buffer may still be bound by a recorded, unsubmitted batch: it goes once that batch has run.
  if (have) ctx.retire(have);
  if (!owned.has(ctx)) {
    owned.add(ctx);
    ctx.ownScratch(() => {
      scratch.get(ctx)?.destroy();
      scratch.delete(ctx);
    });
  }
  const buf = ctx.buffer(Math.max(floats * 4, (have?.size ?? 0) * 2), 'attention.part');
  scratch.set(ctx, buf);
  return buf;
}

/**
 * The plan for a call on `ctx`: 4 queries per invocation where the shapes allow (QT = the largest of 4, 2, 1 that
 * divides the KV group, TT = the tokens that fill the other slots), and as many chunks of rows as it takes to reach a
 * number of invocations that keeps the device busy (a few SIMD batches per core on a CPU driver; tens of thousands of
 * threads on a GPU), none shorter than MIN_CHUNK rows.
 */
export function attentionPlan(ctx: GpuContext, p: AttentionParams): AttentionPlan {
  const group = p.nHeads / p.nKvHeads;
  const qt = group % 4 === 0 ? 4 : group % 2 === 0 ? 2 : 1;
  const tt = p.tokens === 1 ? 1 : ((4 / qt) as 1 | 2 | 4);
  const invocations = Math.ceil(p.tokens / tt) * (p.nHeads / qt);
  const target = ctx.info.cpu ? 64 : 8192;
  const nChunks = Math.max(1, Math.min(Math.ceil(target / invocations), Math.ceil(p.nRows / MIN_CHUNK)));
  return { qt, tt, nChunks };
}

/** out (tokens, nHeads, headDim) = softmax(q kᵀ / sqrt(headDim)) v over the visible cache rows of `layer`. */
export function attention(b: Batch, q: Binding, kCache: Binding, vCache: Binding, rowPos: Binding, qPos: Binding, out: Binding, p: AttentionParams): void {
  attentionWithPlan(b, q, kCache, vCache, rowPos, qPos, out, p, attentionPlan(b.ctx, p));
}

/** attention() cut up as `plan` says (benchmarks compare plans through this). */
export function attentionWithPlan(b: Batch, q: Binding, kCache: Binding, vCache: Binding, rowPos: Binding, qPos: Binding, out: Binding, p: AttentionParams, plan: AttentionPlan): void {
  if (p.headDim % 4 !== 0 || p.headDim > MAX_HEAD_DIM) throw new Error(`attention: head dim ${p.headDim} is not a multiple of 4 up to ${MAX_HEAD_DIM}`);
  if (p.nHeads % p.nKvHeads !== 0) throw new Error(`attention: ${p.nHeads} query heads do not split over ${p.nKvHeads} KV heads`);
  if ((p.nHeads / p.nKvHeads) % plan.qt !== 0 || plan.qt * plan.tt > 4) throw new Error(`attention: tile ${plan.qt}x${plan.tt} does not fit the KV group`);
  const { nChunks } = plan;
  const chunk = Math.ceil(Math.max(p.nRows, 1) / nChunks);
  const invocations = Math.ceil(p.tokens / plan.tt) * (p.nHeads / plan.qt) * nChunks;
  const params = { ...p, nChunks, chunk, scale: 1 / Math.sqrt(p.headDim) };
  const constants = { WG, QT: plan.qt, TT: plan.tt, DIRECT: nChunks === 1 ? 1 : 0 };
  const workgroups = grid(b.ctx, Math.ceil(invocations / WG));
  if (nChunks === 1) {
    b.dispatch(attentionKernel, params, [q, kCache, vCache, rowPos, qPos, out], workgroups, constants);
    return;
  }
  const part = scratchFor(b.ctx, p.tokens * p.nHeads * nChunks * (p.headDim + 2));
  b.dispatch(attentionKernel, params, [q, kCache, vCache, rowPos, qPos, part], workgroups, constants);
  const n = p.tokens * p.nHeads * p.headDim;
  b.dispatch(attentionMergeKernel, { tokens: p.tokens, nHeads: p.nHeads, headDim: p.headDim, nChunks }, [part, out], grid(b.ctx, Math.ceil(n / WG)), { WG });
}

/** CPU reference in f64. */
export function attentionRef(q: Float32Array, kCache: Float32Array, vCache: Float32Array, rowPos: ArrayLike<number>, qPos: ArrayLike<number>, p: AttentionParams): Float32Array {
  const D = p.headDim;
  const out = new Float32Array(p.tokens * p.nHeads * D);
  const group = p.nHeads / p.nKvHeads;
  for (let t = 0; t < p.tokens; t++) {
    for (let h = 0; h < p.nHeads; h++) {
      const base = (p.layer * p.nKvHeads + Math.floor(h / group)) * p.maxRows * D;
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
