// Q8_0 (ggml-common.h block_q8_0): blocks of 32 elements, an f16 scale d then 32 int8 q; x = d * q.
import source from '../../../shaders/formats/q8_0.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const q8_0: TensorFormat = {
  name: 'q8_0',
  ggmlType: GGMLType.Q8_0,
  blockElems: 32,
  blockBytes: 34,
  padAt: 2,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 32; b++) {
      const at = b * 34;
      const d = f16At(raw, at);
      for (let j = 0; j < 32; j++) out[b * 32 + j] = d * ((raw[at + 2 + j]! << 24) >> 24);
    }
    return out;
  },
  wgsl: source,
};
