// Q4_1 (ggml-common.h block_q4_1): blocks of 32, f16 scale d and f16 min m, then 16 bytes qs; element j < 16 is the low
// nibble of qs[j], element j + 16 its high nibble; x = d * q + m.
import source from '../../../shaders/formats/q4_1.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const q4_1: TensorFormat = {
  name: 'q4_1',
  ggmlType: GGMLType.Q4_1,
  blockElems: 32,
  blockBytes: 20,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 32; b++) {
      const at = b * 20;
      const d = f16At(raw, at);
      const m = f16At(raw, at + 2);
      for (let j = 0; j < 16; j++) {
        const q = raw[at + 4 + j]!;
        out[b * 32 + j] = d * (q & 0xf) + m;
        out[b * 32 + j + 16] = d * (q >> 4) + m;
      }
    }
    return out;
  },
  wgsl: source,
};
