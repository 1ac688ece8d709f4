import source from '../../../shaders/bias.wgsl';
import { type Batch, type Binding, type KernelDef, strideWorkgroupCap } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { rows: 'u32', n: 'u32' });
const WG = 256;

export const biasKernel: KernelDef = {
  name: 'bias',
  source,
  bindings: ['uniform', 'storage', 'read-only-storage'],
  params: Params,
};

/** y (rows, n) += bias (n) on every row, in place. */
export function addBias(b: Batch, y: Binding, bias: Binding, p: { rows: number; n: number }): void {
  const cap = strideWorkgroupCap(b.ctx);
  // Columns first (a row's workgroups), then as many rows at once as the cap leaves.
  const wx = Math.min(cap, Math.ceil(p.n / WG));
  const wy = Math.min(p.rows, Math.max(1, Math.floor(cap / Math.max(wx, 1))));
  b.dispatch(biasKernel, p, [y, bias], [wx, wy], { WG });
}

/** CPU reference: y + bias broadcast over the rows, rounded to f32 once. */
export function addBiasRef(y: Float32Array, bias: Float32Array, rows: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) out[r * n + i] = y[r * n + i]! + bias[i]!;
  return out;
}
