// Shared helpers for GPU tests: one device per test file (node:test runs each file in its own process), random data,
// normalised error, and sentinel-filled output buffers that catch out-of-bounds writes.
import assert from 'node:assert/strict';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { acquireNodeGpu } from '../../src/engine/gpu/node.js';
import { rng } from '../../src/engine/util/rng.js';
import { relativeError } from '../../src/engine/verify.js';

export { rng };

let ctx: Promise<GpuContext> | null = null;

/** The test device. No adapter is a failure, not a skip: CI installs a CPU driver (scripts/setup-cpu-gpu.sh). */
export function testGpu(): Promise<GpuContext> {
  ctx ??= acquireNodeGpu();
  return ctx;
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

/** ||a - b|| / max(||b||, tiny). */
export const normalisedError = relativeError;

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i]!)) assert.fail(`${what}: non-finite value ${actual[i]} at ${i}`);
  }
  const err = normalisedError(actual, expected);
  assert.ok(err <= tol, `${what}: normalised error ${err.toExponential(3)} > ${tol}`);
}

export const SENTINEL = -12345.678;

/** A storage buffer of `used` f32 elements plus `guard` more, all pre-filled with SENTINEL. */
export function sentinelBuffer(ctx: GpuContext, used: number, guard = 64, label = 'out'): GPUBuffer {
  return ctx.upload(new Float32Array(used + guard).fill(SENTINEL), label);
}

/** Reads `used` elements and asserts that the `guard` elements after them still hold SENTINEL. */
export async function readChecked(ctx: GpuContext, buf: GPUBuffer, used: number, guard = 64, what = 'output'): Promise<Float32Array> {
  const all = await ctx.readF32(buf, 0, used + guard);
  for (let i = used; i < used + guard; i++) {
    if (Math.fround(all[i]!) !== Math.fround(SENTINEL)) assert.fail(`${what}: out-of-bounds write at element ${i} (used ${used})`);
  }
  return all.slice(0, used);
}
