// addBias against its CPU reference at odd sizes (decode: one row; prefill: many), and with more rows * n than 65535
// workgroups of one element per invocation cover (the 2D grid-stride loop); y is updated in place, with a sentinel
// after it to catch out-of-bounds writes.
import { after, test } from 'node:test';
import { addBias, addBiasRef } from '../../src/engine/kernels/bias.js';
import { assertClose, normalisedError, randn, readChecked, SENTINEL, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

async function check(t: { diagnostic(s: string): void }, rows: number, n: number, what: string): Promise<void> {
  const ctx = await testGpu();
  const y = randn(rows * n, rows * 31 + n, 2);
  const bias = randn(n, n + 5);
  const guarded = new Float32Array(rows * n + 64).fill(SENTINEL);
  guarded.set(y);
  const yb = ctx.upload(guarded, 'y');
  const bb = ctx.upload(bias, 'bias');
  const b = ctx.batch();
  addBias(b, yb, bb, { rows, n });
  b.submit();
  const got = await readChecked(ctx, yb, rows * n);
  const want = addBiasRef(y, bias, rows, n);
  t.diagnostic(`${what}: normalised error ${normalisedError(got, want).toExponential(2)}`);
  // One f32 add per element, as the reference: exact.
  assertClose(got, want, 0, what);
  yb.destroy();
  bb.destroy();
}

for (const [rows, n] of [
  [1, 1000],
  [1, 4864],
  [7, 315],
  [130, 2179],
  [33, 896],
  [5, 1],
] as const) {
  test(`addBias rows=${rows} n=${n}`, (t) => check(t, rows, n, `addBias rows=${rows} n=${n}`));
}

test('addBias rows=8191 n=2049 (rows * n > 65535 * 256)', (t) => check(t, 8191, 2049, 'addBias rows * n > 65535 * 256'));
