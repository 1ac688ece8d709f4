// Q6_K (ggml-common.h block_q6_K): super-blocks of 256 in 16 sub-blocks of 16. 128 bytes ql (low 4 bits), 64 bytes qh
// (high 2 bits), 16 int8 sub-block scales, then the f16 d. Half h (128 elements) uses ql[64h ..], qh[32h ..] and
// scales[8h ..]; its element 32t + l (t = 0..3, l = 0..31) has low bits from ql[64h + 32(t & 1) + l] (low nibble for
// t < 2, high for t >= 2), high bits (qh[32h + l] >> 2t) & 3, and scale scales[8h + 2t + l / 16]; x = d * scale * (q - 32).
import source from '../../../shaders/formats/q6_k.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const q6_k: TensorFormat = {
  name: 'q6_k',
  ggmlType: GGMLType.Q6_K,
  blockElems: 256,
  blockBytes: 210,
  padAt: 210,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 256; b++) {
      const at = b * 210;
      const d = f16At(raw, at + 208);
      for (let h = 0; h < 2; h++) {
        for (let t = 0; t < 4; t++) {
          const ql = at + 64 * h + 32 * (t & 1);
          const shift = t < 2 ? 0 : 4;
          const qh = at + 128 + 32 * h;
          for (let l = 0; l < 32; l++) {
            const sc = (raw[at + 192 + 8 * h + 2 * t + (l >> 4)]! << 24) >> 24;
            const q = ((raw[ql + l]! >> shift) & 0xf) | (((raw[qh + l]! >> (2 * t)) & 3) << 4);
            out[b * 256 + 128 * h + 32 * t + l] = Math.fround(d * sc) * (q - 32);
          }
        }
      }
    }
    return out;
  },
  wgsl: source,
};
