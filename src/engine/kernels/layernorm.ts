import source from '../../../shaders/layernorm.wgsl';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { rows: 'u32', dim: 'u32', eps: 'f32' });
const WG = 64;

export const layernormKernel: KernelDef = {
  name: 'layernorm',
  source,
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
  params: Params,
};

/** out (rows, dim) = layernorm(x (rows, dim)) * weight (dim) + bias (dim). `out` may not alias `x`. */
export function layernorm(b: Batch, x: Binding, weight: Binding, bias: Binding, out: Binding, p: { rows: number; dim: number; eps: number }): void {
  b.dispatch(layernormKernel, p, [x, weight, bias, out], grid(b.ctx, Math.ceil(p.rows / WG)), { WG });
}

/** CPU reference in f64 (centred two-pass), rounded to f32 once at the end. */
export function layernormRef(x: Float32Array, weight: Float32Array, bias: Float32Array, rows: number, dim: number, eps: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < dim; i++) s += x[r * dim + i]!;
    const mean = s / dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += (x[r * dim + i]! - mean) ** 2;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = (x[r * dim + i]! - mean) * scale * weight[i]! + bias[i]!;
  }
  return out;
}
