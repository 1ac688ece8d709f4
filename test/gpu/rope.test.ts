import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ropeAngle, ropeRef, ropeThetaScale, rope, type RopeParams } from '../../src/engine/kernels/rope.js';
import { assertClose, randn, readChecked, SENTINEL, testGpu } from '../helpers/gpu.js';

const cases: RopeParams[] = [
  { tokens: 1, nHeads: 1, headDim: 4, ropeDim: 4, base: 10000, scale: 1, layout: 'normal' },
  { tokens: 7, nHeads: 3, headDim: 6, ropeDim: 4, base: 10000, scale: 1, layout: 'normal' },
  { tokens: 7, nHeads: 3, headDim: 6, ropeDim: 4, base: 10000, scale: 0.25, layout: 'neox' },
  { tokens: 1, nHeads: 3, headDim: 64, ropeDim: 64, base: 10000, scale: 1, layout: 'neox' },
  { tokens: 33, nHeads: 3, headDim: 64, ropeDim: 64, base: 10000, scale: 0.25, layout: 'normal' },
  { tokens: 33, nHeads: 3, headDim: 64, ropeDim: 24, base: 10000, scale: 1, layout: 'normal' },
  { tokens: 33, nHeads: 2, headDim: 80, ropeDim: 32, base: 500000, scale: 1, layout: 'neox' },
  { tokens: 7, nHeads: 3, headDim: 80, ropeDim: 80, base: 10000, scale: 0.25, layout: 'neox' },
  { tokens: 5, nHeads: 4, headDim: 128, ropeDim: 128, base: 1000000, scale: 0.5, layout: 'neox' },
];

for (const p of cases) {
  test(`rope tokens=${p.tokens} heads=${p.nHeads} headDim=${p.headDim} ropeDim=${p.ropeDim} base=${p.base} scale=${p.scale} ${p.layout}`, async () => {
    const ctx = await testGpu();
    const n = p.tokens * p.nHeads * p.headDim;
    const x = randn(n, n + p.ropeDim);
    // positions 0 and 30000 (a lone token gets 30000), then others below 30011, in no order
    const positions = Int32Array.from({ length: p.tokens }, (_, t) => (p.tokens === 1 ? 30000 : [0, 30000][t] ?? (t * 7919) % 30011));
    const buf = ctx.upload(Float32Array.from([...x, ...new Array<number>(64).fill(SENTINEL)]), 'x');
    const b = ctx.batch();
    rope(b, buf, ctx.upload(positions, 'pos'), p);
    b.submit();
    const got = await readChecked(ctx, buf, n);
    const want = ropeRef(x, positions, p);
    assertClose(got, want, 1e-6, 'rope');
    // dims past ropeDim are untouched, bit for bit; so is every dim at position 0
    for (let i = 0; i < n; i++) {
      const untouched = i % p.headDim >= p.ropeDim || positions[Math.floor(i / (p.nHeads * p.headDim))] === 0;
      if (untouched) assert.equal(got[i], x[i], `dim ${i % p.headDim} (ropeDim ${p.ropeDim}) of token ${Math.floor(i / (p.nHeads * p.headDim))} changed`);
    }
  });
}

test('rope angles follow ggml: pos * thetaScale^i by repeated f32 products, then the scaling', () => {
  const ts = ropeThetaScale(10000, 64);
  assert.equal(ts, Math.fround(Math.pow(10000, -2 / 64)));
  // powf(10000.0f, -2.0f/24) as glibc computes it: the f32 exponent makes it 1 ulp below f32(10000^(-1/12))
  assert.equal(ropeThetaScale(10000, 24), 0.4641588628292084);
  assert.notEqual(ropeThetaScale(10000, 24), Math.fround(Math.pow(10000, -2 / 24)));
  let t = Math.fround(12345);
  for (let i = 0; i < 5; i++) t = Math.fround(t * ts);
  assert.equal(ropeAngle(12345, 5, 1, ts), t);
  assert.equal(ropeAngle(12345, 5, 0.25, ts), Math.fround(0.25 * t));
  assert.equal(ropeAngle(0, 17, 1, ts), 0);
});
