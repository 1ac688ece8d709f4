// Rotary position embedding (shaders/rope.wgsl after shaders/rope_common.wgsl, which holds the angle map that the PIE
// re-rotation shares).
import commonSource from '../../../shaders/rope_common.wgsl';
import ropeSource from '../../../shaders/rope.wgsl';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

/** normal: rotate pairs (2i, 2i+1) (llama); neox: pairs (i, i + rotDim/2). The model's config and arch/ import it from
 *  here: the kernel owns its layouts. */
export type RopeLayout = 'normal' | 'neox';

/** rope_common.wgsl: rope_angle, rope_cos_sin, rope_pair, rope_rotate; prepended to every shader that rotates. */
export const ROPE_COMMON_WGSL = commonSource;

const Params = uniformStruct('Params', { tokens: 'u32', nHeads: 'u32', headDim: 'u32', halfRot: 'u32', scale: 'f32', thetaScale: 'f32' });
const WG = 64;

export const ropeKernel: KernelDef = {
  name: 'rope',
  source: `${commonSource}\n${ropeSource}`,
  bindings: ['uniform', 'storage', 'read-only-storage'],
  params: Params,
};

export interface RopeSpec {
  headDim: number;
  /** Rotated dims per head (even, <= headDim): a prefix of the head. */
  ropeDim: number;
  base: number;
  /** Linear scaling: positions are multiplied by this (1 / the GGUF scaling factor). */
  scale: number;
  layout: RopeLayout;
}

export interface RopeParams extends RopeSpec {
  tokens: number;
  nHeads: number;
}

/** base^(-2/ropeDim) as ggml computes it once per call, `powf(freq_base, -2.0f/n_dims)`: the exponent is rounded to
 *  f32 first, which changes the result for some sizes (e.g. base 10000, ropeDim 24); checked against glibc's powf. */
export function ropeThetaScale(base: number, ropeDim: number): number {
  return Math.fround(Math.pow(Math.fround(base), Math.fround(-2 / ropeDim)));
}

export function checkRopeSpec(p: RopeSpec): void {
  if (p.ropeDim % 2 !== 0 || p.ropeDim <= 0 || p.ropeDim > p.headDim) {
    throw new Error(`rope: ${p.ropeDim} rotated dims must be even and at most the head dim ${p.headDim}`);
  }
}

/** Rotates x (tokens, nHeads, headDim) in place by positions (i32, one per token). */
export function rope(b: Batch, x: Binding, positions: Binding, p: RopeParams): void {
  checkRopeSpec(p);
  const halfRot = p.ropeDim / 2;
  const n = p.tokens * p.nHeads * halfRot;
  b.dispatch(
    ropeKernel,
    { tokens: p.tokens, nHeads: p.nHeads, headDim: p.headDim, halfRot, scale: p.scale, thetaScale: ropeThetaScale(p.base, p.ropeDim) },
    [x, positions],
    grid(b.ctx, Math.ceil(n / WG)),
    { WG, NEOX: p.layout === 'neox' ? 1 : 0 },
  );
}

/** The f32 angle of pair i at position pos, rounded exactly as rope_angle in rope_common.wgsl. */
export function ropeAngle(pos: number, i: number, scale: number, thetaScale: number): number {
  let t = Math.fround(pos);
  for (let j = 0; j < i; j++) t = Math.fround(t * thetaScale);
  return Math.fround(scale * t);
}

/** Dims of pair i of a head, for the layout. */
export function ropePair(i: number, halfRot: number, layout: RopeLayout): [number, number] {
  return layout === 'neox' ? [i, i + halfRot] : [2 * i, 2 * i + 1];
}

/** Rotates one head (at `o` in x) by the angles of position `pos`, in f64 from the f32 angles. */
export function ropeHeadRef(x: Float32Array, o: number, pos: number, p: RopeSpec): void {
  const halfRot = p.ropeDim / 2;
  const ts = ropeThetaScale(p.base, p.ropeDim);
  for (let i = 0; i < halfRot; i++) {
    const a = ropeAngle(pos, i, p.scale, ts);
    const [d0, d1] = ropePair(i, halfRot, p.layout);
    const x0 = x[o + d0]!;
    const x1 = x[o + d1]!;
    x[o + d0] = x0 * Math.cos(a) - x1 * Math.sin(a);
    x[o + d1] = x0 * Math.sin(a) + x1 * Math.cos(a);
  }
}

/** CPU reference: a rotated copy of x (tokens, nHeads, headDim). */
export function ropeRef(x: Float32Array, positions: ArrayLike<number>, p: RopeParams): Float32Array {
  const y = Float32Array.from(x);
  for (let t = 0; t < p.tokens; t++) {
    for (let h = 0; h < p.nHeads; h++) ropeHeadRef(y, (t * p.nHeads + h) * p.headDim, positions[t]!, p);
  }
  return y;
}
