// swiglu against its CPU reference at odd sizes, on extreme inputs (where a naive x / (1 + exp(-x)) meets an overflowing
// exp), and on more elements than 65535 workgroups of one element per invocation could cover (the kernel's grid-stride
// loop); outputs pre-filled with a sentinel to catch out-of-bounds writes.
import { after, test } from 'node:test';
import { swiglu, swigluRef } from '../../src/engine/kernels/swiglu.js';
import { assertClose, randn, readChecked, sentinelBuffer, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

async function check(gate: Float32Array, up: Float32Array, what: string): Promise<void> {
  const ctx = await testGpu();
  const n = gate.length;
  const g = ctx.upload(gate, 'gate');
  const u = ctx.upload(up, 'up');
  const out = sentinelBuffer(ctx, n);
  const b = ctx.batch();
  swiglu(b, g, u, out, { n });
  b.submit();
  // GPU exp is accurate to a few ulp (WGSL: 3 + 2|x| ulp); 1e-6 leaves room for that and the f32 division.
  assertClose(await readChecked(ctx, out, n), swigluRef(gate, up), 1e-6, what);
  for (const buf of [g, u, out]) buf.destroy();
}

for (const n of [1, 1000, 2179, 315 * 7]) {
  test(`swiglu n=${n}`, () => check(randn(n, n, 4), randn(n, n + 1), `swiglu n=${n}`));
}

test('swiglu extreme gates (±100, ±1e4, ±88.7, ±1e30, ±0, tiny)', async () => {
  const extremes = [100, -100, 1e4, -1e4, 88.7, -88.7, 89, -89, 1e30, -1e30, 0, -0, 1e-30, -1e-30, 20, -20];
  const gate = Float32Array.from({ length: 1000 }, (_, i) => extremes[i % extremes.length]! * (1 + (i >> 4) * 1e-3));
  // up of 1 shows silu itself; finite outputs are checked by assertClose.
  await check(gate, new Float32Array(gate.length).fill(1), 'silu of extremes');
  await check(gate, randn(gate.length, 3), 'swiglu of extremes');
});

test('swiglu n = 65535 * 256 + 7', async () => {
  const n = 65535 * 256 + 7;
  await check(randn(n, 1, 3), randn(n, 2), 'swiglu n > 65535 * 256');
});
