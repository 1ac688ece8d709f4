// argmax against its CPU reference: vocabulary-sized rows, many short rows, n below and around the workgroup size, planted
// ties (the lowest index wins), NaN (never wins; a row of NaN gives 0), infinities and signed zeros; outputs pre-filled
// with a sentinel to catch out-of-bounds writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { argmax, argmaxRef } from '../../src/engine/kernels/argmax.js';
import { randn, readChecked, rng, sentinelBuffer, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

async function run(x: Float32Array, rows: number, n: number): Promise<Uint32Array> {
  const ctx = await testGpu();
  const xb = ctx.upload(x, 'x');
  const out = sentinelBuffer(ctx, rows);
  const b = ctx.batch();
  argmax(b, xb, out, { rows, n });
  b.submit();
  // The output is u32: read it through the f32 sentinel check, then reinterpret the bits.
  const got = new Uint32Array((await readChecked(ctx, out, rows)).buffer);
  for (const buf of [xb, out]) buf.destroy();
  return got;
}

for (const [rows, n] of [
  [1, 32000],
  [1, 151936],
  [2, 1],
  [5, 255],
  [3, 257],
  [7, 2179],
  [512, 315],
] as const) {
  test(`argmax rows=${rows} n=${n} with planted ties`, async () => {
    const x = randn(rows * n, rows * 17 + n);
    // In each row, copy the row's max to a few random positions: the lowest of them must win.
    const r = rng(n);
    for (let row = 0; row < rows; row++) {
      const at = argmaxRef(x.subarray(row * n, (row + 1) * n), 1, n)[0]!;
      for (let k = 0; k < 3; k++) x[row * n + Math.floor(r() * n)] = x[row * n + at]!;
    }
    assert.deepEqual(await run(x, rows, n), argmaxRef(x, rows, n));
  });
}

test('argmax NaN, infinities and signed zeros', async () => {
  const n = 1000;
  const rowsOf: [string, (i: number) => number, number][] = [
    ['all NaN', () => NaN, 0],
    ['all -Inf', () => -Infinity, 0],
    ['NaN then -Inf', (i) => (i < 500 ? NaN : -Infinity), 500],
    ['NaN around one finite value', (i) => (i === 777 ? -3e38 : NaN), 777],
    ['+Inf twice among NaN', (i) => (i === 300 || i === 900 ? Infinity : i % 2 ? NaN : i), 300],
    ['-0 before +0 (equal)', (i) => (i === 400 ? -0 : i === 401 ? 0 : -1 - i), 400],
    ['max at the end after NaN', (i) => (i === n - 1 ? 5 : i === 0 ? NaN : -i), n - 1],
    ['negative values', (i) => -1 - Math.abs(i - 613), 613],
  ];
  const x = new Float32Array(rowsOf.length * n);
  rowsOf.forEach(([, f], row) => {
    for (let i = 0; i < n; i++) x[row * n + i] = f(i);
  });
  const got = await run(x, rowsOf.length, n);
  const ref = argmaxRef(x, rowsOf.length, n);
  rowsOf.forEach(([what, , want], row) => {
    assert.equal(ref[row], want, `reference: ${what}`);
    assert.equal(got[row], want, what);
  });
});
