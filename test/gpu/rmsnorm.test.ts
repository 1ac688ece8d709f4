import { test } from 'node:test';
import { rmsnorm, rmsnormRef } from '../../src/engine/kernels/rmsnorm.js';
import { assertClose, randn, readChecked, sentinelBuffer, testGpu } from '../helpers/gpu.js';

for (const [rows, dim] of [
  [1, 64],
  [7, 315],
  [33, 1000],
  [3, 2179],
] as const) {
  test(`rmsnorm rows=${rows} dim=${dim}`, async () => {
    const ctx = await testGpu();
    const x = randn(rows * dim, rows * 31 + dim, 3);
    const w = randn(dim, dim + 7);
    const out = sentinelBuffer(ctx, rows * dim);
    const b = ctx.batch();
    rmsnorm(b, ctx.upload(x, 'x'), ctx.upload(w, 'w'), out, { rows, dim, eps: 1e-5 });
    b.submit();
    assertClose(await readChecked(ctx, out, rows * dim), rmsnormRef(x, w, rows, dim, 1e-5), 1e-6, 'rmsnorm');
  });
}
