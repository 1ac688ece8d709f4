// Q4_0 (ggml-common.h block_q4_0): blocks of 32, an f16 scale d then 16 bytes qs; element j < 16 is the low nibble of
// qs[j], element j + 16 its high nibble; x = d * (q - 8).
import source from '../../../shaders/formats/q4_0.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const q4_0: TensorFormat = {
  name: 'q4_0',
  ggmlType: GGMLType.Q4_0,
  blockElems: 32,
  blockBytes: 18,
  padAt: 2,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 32; b++) {
      const at = b * 18;
      const d = f16At(raw, at);
      for (let j = 0; j < 16; j++) {
        const q = raw[at + 2 + j]!;
        out[b * 32 + j] = d * ((q & 0xf) - 8);
        out[b * 32 + j + 16] = d * ((q >> 4) - 8);
      }
    }
    return out;
  },
  wgsl: source,
};
