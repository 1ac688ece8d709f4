// Q4_K (ggml-common.h block_q4_K): super-blocks of 256 in 8 sub-blocks of 32. f16 d and dmin, 12 bytes of 6-bit
// sub-block scales and mins (kquants.ts), then 128 bytes qs: sub-blocks 2g and 2g + 1 are the low and high nibbles of
// qs[32g .. 32g + 31]; x = d * scale * q - dmin * min.
import source from '../../../shaders/formats/q4_k.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';
import { scaleMinK4 } from './kquants.js';

export const q4_k: TensorFormat = {
  name: 'q4_k',
  ggmlType: GGMLType.Q4_K,
  blockElems: 256,
  blockBytes: 144,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 256; b++) {
      const at = b * 144;
      const d = f16At(raw, at);
      const dmin = f16At(raw, at + 2);
      for (let s = 0; s < 8; s++) {
        const [sc, m] = scaleMinK4(raw, at + 4, s);
        const ds = Math.fround(d * sc);
        const ms = Math.fround(dmin * m);
        const qs = at + 16 + 32 * (s >> 1);
        const shift = (s & 1) * 4;
        for (let l = 0; l < 32; l++) out[b * 256 + s * 32 + l] = ds * ((raw[qs + l]! >> shift) & 0xf) - ms;
      }
    }
    return out;
  },
  wgsl: source,
};
