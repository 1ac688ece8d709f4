import source from '../../../shaders/formats/f16.wgsl';
import { GGMLType } from './ggml-types.js';
import type { TensorFormat } from './format.js';
import { f16At } from './half.js';

export const f16: TensorFormat = {
  name: 'f16',
  ggmlType: GGMLType.F16,
  blockElems: 1,
  blockBytes: 2,
  padAt: null,
  dequantize(raw, count) {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = f16At(raw, i * 2);
    return out;
  },
  wgsl: source,
};
