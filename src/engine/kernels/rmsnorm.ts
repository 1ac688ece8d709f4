import source from '../../../shaders/rmsnorm.wgsl';
import type { Batch, Binding, KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { rows: 'u32', dim: 'u32', eps: 'f32' });
const WG = 64;

export const rmsnormKernel: KernelDef = {
  name: 'rmsnorm',
  source,
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
  params: Params,
};

/** out (rows, dim) = rmsnorm(x (rows, dim)) * weight (dim). `out` may not alias `x`. */
export function rmsnorm(b: Batch, x: Binding, weight: Binding, out: Binding, p: { rows: number; dim: number; eps: number }): void {
  b.dispatch(rmsnormKernel, p, [x, weight, out], Math.ceil(p.rows / WG), { WG });
}

export function rmsnormRef(x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i]! ** 2;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = x[r * dim + i]! * scale * weight[i]!;
  }
  return out;
}
