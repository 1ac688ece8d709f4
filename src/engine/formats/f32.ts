import source from '../../../shaders/formats/f32.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';

export const f32: TensorFormat = {
  name: 'f32',
  ggmlType: GGMLType.F32,
  blockElems: 1,
  blockBytes: 4,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  },
  wgsl: source,
};
