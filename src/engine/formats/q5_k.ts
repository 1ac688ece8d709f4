// Q5_K (ggml-common.h block_q5_K): super-blocks of 256 in 8 sub-blocks of 32. f16 d and dmin, 12 bytes of 6-bit
// sub-block scales and mins (kquants.ts), 32 bytes qh, then 128 bytes qs: sub-blocks 2g and 2g + 1 are the low and high
// nibbles of qs[32g .. 32g + 31], and element l of sub-block s has bit s of qh[l] as bit 4; x = d * scale * q - dmin * min.
import source from '../../../shaders/formats/q5_k.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';
import { scaleMinK4 } from './kquants.js';

export const q5_k: TensorFormat = {
  name: 'q5_k',
  ggmlType: GGMLType.Q5_K,
  blockElems: 256,
  blockBytes: 176,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / 256; b++) {
      const at = b * 176;
      const d = f16At(raw, at);
      const dmin = f16At(raw, at + 2);
      for (let s = 0; s < 8; s++) {
        const [sc, m] = scaleMinK4(raw, at + 4, s);
        const ds = Math.fround(d * sc);
        const ms = Math.fround(dmin * m);
        const qs = at + 48 + 32 * (s >> 1);
        const shift = (s & 1) * 4;
        for (let l = 0; l < 32; l++) {
          const q = ((raw[qs + l]! >> shift) & 0xf) | (((raw[at + 16 + l]! >> s) & 1) << 4);
          out[b * 256 + s * 32 + l] = ds * q - ms;
        }
      }
    }
    return out;
  },
  wgsl: source,
};
