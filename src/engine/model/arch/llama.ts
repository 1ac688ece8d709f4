// llama (Llama 2, CodeLlama, DeepSeek-Coder, TinyLlama, ...): RMSNorm, SwiGLU, interleaved RoPE pairs, optional
// attention biases (as llama.cpp allows), output tied to the embedding when output.weight is absent.
import type { ArchDescription } from './arch.js';

export const llama: ArchDescription = {
  name: 'llama',
  norm: 'rms',
  normEpsKey: 'attention.layer_norm_rms_epsilon',
  ffn: 'swiglu',
  ropeLayout: 'normal',
  layer: {
    attnNorm: 'required',
    attnNormB: 'absent',
    wq: 'required',
    bq: 'optional',
    wk: 'required',
    bk: 'optional',
    wv: 'required',
    bv: 'optional',
    wo: 'required',
    bo: 'optional',
    ffnNorm: 'required',
    ffnNormB: 'absent',
    wGate: 'required',
    wUp: 'required',
    bUp: 'absent',
    wDown: 'required',
    bDown: 'absent',
  },
  global: { tokenEmbd: 'required', outputNorm: 'required', outputNormB: 'absent', output: 'optional' },
};
