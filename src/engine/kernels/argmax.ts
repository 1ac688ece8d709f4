import source from '../../../shaders/argmax.wgsl';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { rows: 'u32', n: 'u32' });
// Invocations per row. Measured per dispatch (single pass, one workgroup per row; an empty dispatch costs 56 µs on
// lavapipe and 300 µs on SwiftShader on the same 2-core VM):
//                           lavapipe WG=64 / 256 / 1024     SwiftShader WG=64 / 256
//   rows=1   n=32000           72 /   92 /  179 µs             0.72 / 1.09 ms
//   rows=1   n=152000         267 /  259 /  297 µs             3.0  / 3.7  ms
//   rows=64  n=32000          3.3 /  4.4 / 10.8 ms             43   / 102  ms
// A CPU driver runs a workgroup on one thread, so a second pass over row parts could at best halve the scan here (2
// cores) while adding a dispatch (56 µs): not worth it. GPUs get more invocations per row to hide memory latency.
const WG_CPU = 64;
const WG_GPU = 256;

export const argmaxKernel: KernelDef = {
  name: 'argmax',
  source,
  bindings: ['uniform', 'read-only-storage', 'storage'],
  params: Params,
};

/** out (rows) u32 = argmax of each row of x (rows, n); ties -> lowest index; NaN never wins (all NaN -> 0). */
export function argmax(b: Batch, x: Binding, out: Binding, p: { rows: number; n: number }): void {
  if (p.n < 1) throw new Error(`argmax: rows of ${p.n} elements have no maximum`);
  b.dispatch(argmaxKernel, p, [x, out], grid(b.ctx, p.rows), { WG: b.ctx.info.cpu ? WG_CPU : WG_GPU });
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
