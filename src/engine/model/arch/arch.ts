// One description per model family (llama, qwen2, starcoder2): its GGUF keys, its tensor table, its norm, its FFN and
// its RoPE pair layout; and the transformer layer written once, against an Ops interface with two implementations: the
// GPU one records dispatches (model.ts), the CPU one calls the kernels' CPU references (the f64 reference model of the
// tests). So the engine and its reference cannot drift apart, while llama.cpp stays the independent oracle.
// Adding a family is one file here (its description) plus whatever kernels it needs that the Ops do not have yet.
import type { RopeLayout } from '../../kernels/rope.js';

export type NormKind = 'rms' | 'layer';
export type FfnKind = 'swiglu' | 'gelu';
export type Presence = 'required' | 'optional' | 'absent';

/** The tensors of one layer: key -> GGUF name after `blk.<i>.`. Keys starting with `w` are matrices, the rest vectors. */
export const LAYER_TENSORS = {
  attnNorm: 'attn_norm.weight',
  attnNormB: 'attn_norm.bias',
  wq: 'attn_q.weight',
  bq: 'attn_q.bias',
  wk: 'attn_k.weight',
  bk: 'attn_k.bias',
  wv: 'attn_v.weight',
  bv: 'attn_v.bias',
  wo: 'attn_output.weight',
  bo: 'attn_output.bias',
  ffnNorm: 'ffn_norm.weight',
  ffnNormB: 'ffn_norm.bias',
  wGate: 'ffn_gate.weight',
  wUp: 'ffn_up.weight',
  bUp: 'ffn_up.bias',
  wDown: 'ffn_down.weight',
  bDown: 'ffn_down.bias',
} as const;
export type LayerTensor = keyof typeof LAYER_TENSORS;

/** The tensors outside the layers. */
export const GLOBAL_TENSORS = {
  tokenEmbd: 'token_embd.weight',
  outputNorm: 'output_norm.weight',
  outputNormB: 'output_norm.bias',
  output: 'output.weight',
} as const;
export type GlobalTensor = keyof typeof GLOBAL_TENSORS;

export interface ArchDescription {
  /** general.architecture, and the prefix of the family's keys (`qwen2.embedding_length`). */
  name: string;
  norm: NormKind;
  /** Key (after the prefix) of the norm's epsilon. */
  normEpsKey: string;
  ffn: FfnKind;
  ropeLayout: RopeLayout;
  /** Which tensors a file of this family has; an absent output.weight means the output is tied to the embedding. */
  layer: Readonly<Record<LayerTensor, Presence>>;
  global: Readonly<Record<GlobalTensor, Presence>>;
  /** The longest context the engine serves for the family (where it is shorter than the file's context length). */
  maxContext?: { tokens: number; why: string };
}

/** Shapes in ggml order (dims[0] innermost; a matrix (out, in) is [in, out]) of a layer's tensors. */
export function layerTensorDims(c: { dim: number; ffnDim: number; nHeads: number; nKvHeads: number; headDim: number }): Record<LayerTensor, number[]> {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  return {
    attnNorm: [c.dim],
    attnNormB: [c.dim],
    wq: [c.dim, q],
    bq: [q],
    wk: [c.dim, kv],
    bk: [kv],
    wv: [c.dim, kv],
    bv: [kv],
    wo: [q, c.dim],
    bo: [c.dim],
    ffnNorm: [c.dim],
    ffnNormB: [c.dim],
    wGate: [c.dim, c.ffnDim],
    wUp: [c.dim, c.ffnDim],
    bUp: [c.ffnDim],
    wDown: [c.ffnDim, c.dim],
    bDown: [c.dim],
  };
}

export function isMatrix(key: LayerTensor | GlobalTensor): boolean {
  return key.startsWith('w') || key === 'tokenEmbd' || key === 'output';
}

/** A layer's tensors as an executor holds them: M a matrix, V a vector; null where the file has none. */
export type LayerWeights<M, V> = { [K in LayerTensor]: (K extends `w${string}` ? M : V) | null };

/**
 * What the layer needs of an executor. A is an activation (tokens, width) in a scratch slot; M a weight matrix; V a
 * vector. dst never aliases an input, except that linear() with accumulate adds into dst.
 */
export interface Ops<A, M, V> {
  /** dst = norm(x) * w (+ b): RMSNorm or LayerNorm as the family has it. */
  norm(dst: A, x: A, w: V, b: V | null): void;
  /** dst = x · wᵀ (+ b), or dst += that. */
  linear(dst: A, x: A, w: M, b: V | null, accumulate: boolean): void;
  /** Rotary positions, in place, on the query (nHeads) or key (nKvHeads) heads. */
  rope(x: A, nHeads: number): void;
  /** Causal attention of the queries over the keys and values of this layer (the GPU also stores them in the cache). */
  attend(dst: A, q: A, k: A, v: A, layer: number): void;
  swiglu(dst: A, gate: A, up: A): void;
  gelu(dst: A, x: A): void;
}

/** The scratch slots a layer uses. */
export interface Slots<A> {
  x: A; // (tokens, dim) the residual stream
  xb: A; // (tokens, dim) normed
  q: A; // (tokens, nHeads * headDim)
  k: A; // (tokens, nKvHeads * headDim)
  v: A; // (tokens, nKvHeads * headDim)
  att: A; // (tokens, nHeads * headDim)
  gate: A; // (tokens, ffnDim)
  up: A; // (tokens, ffnDim)
  hidden: A; // (tokens, ffnDim)
}

/** One transformer layer (pre-norm attention, then pre-norm FFN, each added to the residual stream x). */
export function transformerLayer<A, M, V>(ops: Ops<A, M, V>, s: Slots<A>, w: LayerWeights<M, V>, c: { nHeads: number; nKvHeads: number; ffn: FfnKind }, layer: number): void {
  // attention: norm, q/k/v projections, rotary positions, attend, output projection added to the residual stream
  ops.norm(s.xb, s.x, w.attnNorm!, w.attnNormB);
  ops.linear(s.q, s.xb, w.wq!, w.bq, false);
  ops.linear(s.k, s.xb, w.wk!, w.bk, false);
  ops.linear(s.v, s.xb, w.wv!, w.bv, false);
  ops.rope(s.q, c.nHeads);
  ops.rope(s.k, c.nKvHeads);
  ops.attend(s.att, s.q, s.k, s.v, layer);
  ops.linear(s.x, s.att, w.wo!, w.bo, true);
  // feed-forward: norm, SwiGLU (gate and up) or GELU (up only), down projection added to the residual stream
  ops.norm(s.xb, s.x, w.ffnNorm!, w.ffnNormB);
  ops.linear(s.up, s.xb, w.wUp!, w.bUp, false);
  if (c.ffn === 'swiglu') {
    ops.linear(s.gate, s.xb, w.wGate!, null, false);
    ops.swiglu(s.hidden, s.gate, s.up);
  } else {
    ops.gelu(s.hidden, s.up);
  }
  ops.linear(s.x, s.hidden, w.wDown!, w.bDown, true);
}
