import source from '../../../shaders/gelu.wgsl';
import { type Batch, type Binding, type KernelDef, strideWorkgroupCap } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { n: 'u32' });
const WG = 256;

export const geluKernel: KernelDef = {
  name: 'gelu',
  source,
  bindings: ['uniform', 'read-only-storage', 'storage'],
  params: Params,
};

/** out (n) = gelu(x (n)), the tanh approximation. `out` may not alias `x` (bound read-only). */
export function gelu(b: Batch, x: Binding, out: Binding, p: { n: number }): void {
  const cap = strideWorkgroupCap(b.ctx);
  b.dispatch(geluKernel, p, [x, out], Math.min(cap, Math.ceil(p.n / WG)), { WG });
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_COEF_A = 0.044715;

/** CPU reference in f64: 0.5 x (1 + tanh(u)) written as x / (1 + e^-2u), the same number without 1 + tanh(u)'s
 *  cancellation for x < 0 (e^-2u overflows to Infinity for very negative x, giving -0). */
export function geluRef(x: Float32Array): Float32Array {
  return x.map((v) => v / (1 + Math.exp(-2 * SQRT_2_OVER_PI * (v + GELU_COEF_A * v * v * v))));
}
