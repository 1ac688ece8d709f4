import source from '../../../shaders/swiglu.wgsl';
import { type Batch, type Binding, type KernelDef, strideWorkgroupCap } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { n: 'u32' });
const WG = 256;

export const swigluKernel: KernelDef = {
  name: 'swiglu',
  source,
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
  params: Params,
};

/** out (n) = silu(gate (n)) * up (n). `out` may alias neither input (they are bound read-only). */
export function swiglu(b: Batch, gate: Binding, up: Binding, out: Binding, p: { n: number }): void {
  const cap = strideWorkgroupCap(b.ctx);
  b.dispatch(swigluKernel, p, [gate, up, out], Math.min(cap, Math.ceil(p.n / WG)), { WG });
}

/** CPU reference in f64: x / (1 + e^-x) is exact enough here (e^-x overflows to Infinity, giving -0, in JS). */
export function swigluRef(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
}
