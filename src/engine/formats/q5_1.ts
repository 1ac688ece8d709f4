// Q5_1 (ggml-common.h block_q5_1): blocks of 32, f16 scale d and f16 min m, a little-endian u32 qh of fifth bits, then
// 16 bytes qs; element j < 16 is the low nibble of qs[j] with bit j of qh as bit 4, element j + 16 the high nibble with
// bit j + 16; x = d * q + m.
import source from '../../../shaders/formats/q5_1.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const q5_1: TensorFormat = {
  name: 'q5_1',
  ggmlType: GGMLType.Q5_1,
  blockElems: 32,
  blockBytes: 24,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 32; b++) {
      const at = b * 24;
      const d = f16At(raw, at);
      const m = f16At(raw, at + 2);
      const qh = (raw[at + 4]! | (raw[at + 5]! << 8) | (raw[at + 6]! << 16) | (raw[at + 7]! << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = raw[at + 8 + j]!;
        out[b * 32 + j] = d * ((q & 0xf) | (((qh >>> j) & 1) << 4)) + m;
        out[b * 32 + j + 16] = d * ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + m;
      }
    }
    return out;
  },
  wgsl: source,
};
