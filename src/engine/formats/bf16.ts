// BF16: one bfloat16 per element, the top half of an f32.
import source from '../../../shaders/formats/bf16.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { bf16ToF32 } from './half.js';

export const bf16: TensorFormat = {
  name: 'bf16',
  ggmlType: GGMLType.BF16,
  blockElems: 1,
  blockBytes: 2,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = bf16ToF32(raw[i * 2]! | (raw[i * 2 + 1]! << 8));
    return out;
  },
  wgsl: source,
};
