// Q5_0 (ggml-common.h block_q5_0): blocks of 32, an f16 scale d, a little-endian u32 qh of fifth bits, then 16 bytes
// qs; element j < 16 is the low nibble of qs[j] with bit j of qh as bit 4, element j + 16 the high nibble with bit
// j + 16; x = d * (q - 16).
import source from '../../../shaders/formats/q5_0.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const q5_0: TensorFormat = {
  name: 'q5_0',
  ggmlType: GGMLType.Q5_0,
  blockElems: 32,
  blockBytes: 22,
  padAt: 2,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 32; b++) {
      const at = b * 22;
      const d = f16At(raw, at);
      const qh = (raw[at + 2]! | (raw[at + 3]! << 8) | (raw[at + 4]! << 16) | (raw[at + 5]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = raw[at + 6 + j]!;
        out[b * 32 + j] = d * (((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16);
        out[b * 32 + j + 16] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
      }
    }
    return out;
  },
  wgsl: source,
};
