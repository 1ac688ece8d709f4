// layernorm against its CPU reference at odd sizes, on rows far from zero mean (where E[x^2] - E[x]^2 would cancel
// and an f32 mean alone is off), on constant rows (variance 0: out = bias), and on more rows than 65535 workgroups of
// one row per invocation cover (the 2D grid); outputs pre-filled with a sentinel to catch out-of-bounds writes.
import { after, test } from 'node:test';
import { layernorm, layernormRef } from '../../src/engine/kernels/layernorm.js';
import { assertClose, normalisedError, randn, readChecked, sentinelBuffer, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

const EPS = 1e-5;

async function check(t: { diagnostic(s: string): void }, x: Float32Array, rows: number, dim: number, what: string): Promise<void> {
  const ctx = await testGpu();
  const w = randn(dim, dim + 7);
  const bias = randn(dim, dim + 11, 0.5);
  const [xb, wb, bb] = [ctx.upload(x, 'x'), ctx.upload(w, 'w'), ctx.upload(bias, 'bias')];
  const out = sentinelBuffer(ctx, rows * dim);
  const b = ctx.batch();
  layernorm(b, xb, wb, bb, out, { rows, dim, eps: EPS });
  b.submit();
  const got = await readChecked(ctx, out, rows * dim);
  const want = layernormRef(x, w, bias, rows, dim, EPS);
  t.diagnostic(`${what}: normalised error ${normalisedError(got, want).toExponential(2)}`);
  // f32 sums over a row and inverseSqrt (2 ulp): a few 1e-7.
  assertClose(got, want, 1e-6, what);
  for (const buf of [xb, wb, bb, out]) buf.destroy();
}

for (const [rows, dim] of [
  [1, 1000],
  [7, 315],
  [130, 2179],
  [33, 896],
  [3, 1],
] as const) {
  test(`layernorm rows=${rows} dim=${dim}`, (t) => check(t, randn(rows * dim, rows * 31 + dim, 3), rows, dim, `layernorm rows=${rows} dim=${dim}`));
}

test('layernorm rows=7 dim=2179 mean 1000 std 1', (t) => {
  const x = randn(7 * 2179, 5).map((v) => v + 1000);
  return check(t, x, 7, 2179, 'layernorm mean 1000');
});

test('layernorm rows=4 dim=315 constant rows (3.7, -1e3, 0, 1e-20)', (t) => {
  const values = [3.7, -1e3, 0, 1e-20];
  const x = Float32Array.from({ length: 4 * 315 }, (_, i) => values[Math.floor(i / 315)]!);
  return check(t, x, 4, 315, 'layernorm constant rows');
});

test('layernorm rows=65535*64+7 dim=2 (2D grid)', (t) => {
  const rows = 65535 * 64 + 7;
  return check(t, randn(rows * 2, 9), rows, 2, 'layernorm rows > 65535 * 64');
});
