import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GpuDeviceError } from '../../src/engine/gpu/context.js';
import { uniformStruct } from '../../src/engine/gpu/uniforms.js';
import { testGpu } from '../helpers/gpu.js';

test('a shader the device rejects makes the next read-back fail with its message, not return stale data', async () => {
  const ctx = await testGpu();
  const params = uniformStruct('Params', { n: 'u32' });
  const source = `struct Params {\n  n: u32,\n}\n@group(0) @binding(0) var<uniform> params: Params;\n@group(0) @binding(1) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(1) fn main() { let move = 1.0; x[0] = move; }`;
  const out = ctx.upload(new Float32Array([7]), 'out');
  const b = ctx.batch();
  b.dispatch({ name: 'broken', source, bindings: ['uniform', 'storage'], params }, { n: 1 }, [out], 1);
  b.submit();
  await assert.rejects(ctx.readF32(out, 0, 1), (e: Error) => e instanceof GpuDeviceError && /reserved keyword/.test(e.message));
  // the error is reported once; the device stays usable
  assert.deepEqual([...(await ctx.readF32(out, 0, 1))], [7]);
});
