// gelu against its CPU reference at odd sizes, on large and extreme inputs (where tanh of a large argument, x^3 or
// exp(-2u) could overflow, and 1 + tanh(u) cancels for x < 0), and past one element per invocation of 65535
// workgroups (the grid-stride loop); outputs pre-filled with a sentinel to catch out-of-bounds writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { gelu, geluRef } from '../../src/engine/kernels/gelu.js';
import { assertClose, normalisedError, randn, readChecked, sentinelBuffer, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

async function run(x: Float32Array): Promise<Float32Array> {
  const ctx = await testGpu();
  const n = x.length;
  const xb = ctx.upload(x, 'x');
  const out = sentinelBuffer(ctx, n);
  const b = ctx.batch();
  gelu(b, xb, out, { n });
  b.submit();
  const got = await readChecked(ctx, out, n);
  xb.destroy();
  out.destroy();
  return got;
}

async function check(t: { diagnostic(s: string): void }, x: Float32Array, what: string): Promise<void> {
  const got = await run(x);
  const want = geluRef(x);
  t.diagnostic(`${what}: normalised error ${normalisedError(got, want).toExponential(2)}`);
  // GPU exp is accurate to a few ulp (WGSL: 3 + 2|x| ulp); 1e-6 leaves room for that and the f32 division.
  assertClose(got, want, 1e-6, what);
}

test('geluRef is 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) where that form is well-conditioned', () => {
  const x = Float32Array.from({ length: 2001 }, (_, i) => (i - 1000) / 250);
  const ref = geluRef(x);
  x.forEach((v, i) => {
    const tanhForm = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    assert.ok(Math.abs(ref[i]! - Math.fround(tanhForm)) <= 1e-6 * Math.abs(tanhForm) + 1e-30, `x = ${v}: ${ref[i]} vs ${tanhForm}`);
  });
});

for (const [n, scale] of [
  [1, 1],
  [1000, 1],
  [315, 3],
  [2179, 3],
  [896 * 7, 2],
] as const) {
  test(`gelu n=${n} scale=${scale}`, (t) => check(t, randn(n, n + 3, scale), `gelu n=${n}`));
}

/** Element by element: relative error at most `tol` where the reference is an f32 normal of at least 1e-36, and below
 *  1e-36 where it is not (exp(-2|u|) below f32's normal range, 1.2e-38, may be flushed to zero; |x| e < 12 * 1.2e-38).
 *  Returns the largest relative error. */
function assertElementwise(x: Float32Array, got: Float32Array, want: Float32Array, tol: number, what: string): number {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(want[i]!) < 1e-36) {
      assert.ok(Math.abs(got[i]!) < 1e-36, `${what}: x = ${x[i]}: ${got[i]} vs ${want[i]}`);
      continue;
    }
    const rel = Math.abs(got[i]! - want[i]!) / Math.abs(want[i]!);
    assert.ok(rel <= tol, `${what}: x = ${x[i]}: ${got[i]} vs ${want[i]} (relative error ${rel.toExponential(3)})`);
    worst = Math.max(worst, rel);
  }
  return worst;
}

// exp(-2|u|) with 2|u| up to ~87 where the result is still normal: WGSL allows exp 3 + 2|x| ulp, about 1e-5.
const TAIL_TOL = 3e-5;

test('gelu large and extreme inputs (|x| up to 1e4, 1e30, 0, tiny)', async (t) => {
  const extremes = [1e4, -1e4, 5e3, -5e3, 100, -100, 20, -20, 10, -10, 9.99, -9.99, 11, -11, 1e30, -1e30, 0, -0, 1e-30, -1e-30];
  const x = Float32Array.from({ length: 1000 }, (_, i) => extremes[i % extremes.length]! * (1 + Math.floor(i / extremes.length) * 1e-3));
  const worst = assertElementwise(x, await run(x), geluRef(x), TAIL_TOL, 'gelu of extremes');
  t.diagnostic(`gelu of extremes: max relative error ${worst.toExponential(2)}`);
  // Evenly over [-1e4, 1e4]: x or -0 in f32 for all but the few near 0.
  const even = Float32Array.from({ length: 4096 }, (_, i) => -1e4 + (2e4 * i) / 4095);
  const worstEven = assertElementwise(even, await run(even), geluRef(even), TAIL_TOL, 'gelu x in [-1e4, 1e4]');
  t.diagnostic(`gelu x in [-1e4, 1e4]: max relative error ${worstEven.toExponential(2)}`);
});

// The negative tail is tiny but its relative error shows a cancelling 1 + tanh(u) (which gives 0 or garbage there).
test('gelu negative tail: relative error element by element (x in [-12, -2])', async (t) => {
  const x = Float32Array.from({ length: 2179 }, (_, i) => -2 - (10 * i) / 2178);
  const worst = assertElementwise(x, await run(x), geluRef(x), TAIL_TOL, 'gelu tail');
  t.diagnostic(`gelu tail: max relative error ${worst.toExponential(2)}`);
});

test('gelu n = 65535 * 256 + 7', (t) => check(t, randn(65535 * 256 + 7, 1, 3), 'gelu n > 65535 * 256'));
