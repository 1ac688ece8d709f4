import source from '../../../shaders/argmax.wgsl';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { rows: 'u32', n: 'u32' });
const WG = 256;

export const argmaxKernel: KernelDef = {
  name: 'argmax',
  source,
  bindings: ['uniform', 'read-only-storage', 'storage'],
  params: Params,
};

/** out (rows) u32 = argmax of each row of x (rows, n); ties -> lowest index; NaN never wins (all NaN -> 0). */
export function argmax(b: Batch, x: Binding, out: Binding, p: { rows: number; n: number }): void {
  if (p.n < 1) throw new Error(`argmax: rows of ${p.n} elements have no maximum`);
  b.dispatch(argmaxKernel, p, [x, out], grid(b.ctx, p.rows), { WG });
}

export function argmaxRef(x: Float32Array, rows: number, n: number): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      const v = x[r * n + i]!;
      if (!Number.isNaN(v) && (best < 0 || v > x[r * n + best]!)) best = i;
    }
    out[r] = Math.max(best, 0);
  }
  return out;
}
