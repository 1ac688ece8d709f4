// starcoder2 (StarCoder2 3B/7B/15B): LayerNorm with bias, a plain GELU FFN (up, GELU, down; no gate), biases on every
// linear layer, NEOX RoPE pairs. Trained with a 4,096-token sliding attention window: the engine attends to every
// cached row, so it serves at most 4,096 tokens of context, where the two agree (llama.cpp also attends to all rows).
import type { ArchDescription } from './arch.js';

export const starcoder2: ArchDescription = {
  name: 'starcoder2',
  norm: 'layer',
  normEpsKey: 'attention.layer_norm_epsilon',
  ffn: 'gelu',
  ropeLayout: 'neox',
  layer: {
    attnNorm: 'required',
    attnNormB: 'required',
    wq: 'required',
    bq: 'required',
    wk: 'required',
    bk: 'required',
    wv: 'required',
    bv: 'required',
    wo: 'required',
    bo: 'required',
    ffnNorm: 'required',
    ffnNormB: 'required',
    wGate: 'absent',
    wUp: 'required',
    bUp: 'required',
    wDown: 'required',
    bDown: 'required',
  },
  global: { tokenEmbd: 'required', outputNorm: 'required', outputNormB: 'required', output: 'optional' },
  maxContext: { tokens: 4096, why: 'StarCoder2 was trained with a 4,096-token sliding attention window, which the engine does not implement' },
};
