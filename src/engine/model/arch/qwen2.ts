// qwen2 (Qwen2, Qwen2.5, Qwen2.5-Coder): llama's layer with biases on the q, k and v projections, NEOX RoPE pairs
// (base 1e6 in Qwen2.5-Coder), output tied to the embedding in the small models (0.5B-3B).
import type { ArchDescription } from './arch.js';
import { llama } from './llama.js';

export const qwen2: ArchDescription = {
  ...llama,
  name: 'qwen2',
  ropeLayout: 'neox',
  layer: { ...llama.layer, bq: 'required', bk: 'required', bv: 'required', bo: 'absent' },
};
