// y = x · wᵀ for weights in any tensor format (src/engine/formats): two kernels with the same bindings, uniforms and
// overrides, each composed with the weight format's decoder, chosen per dispatch shape (decode: tokens = 1; prefill:
// tokens > 1) by a MatmulConfig.
//   - matmul.wgsl (tiled): each invocation owns a register tile of TT tokens x TR rows and runs the whole K loop. No
//     barriers, which is what CPU drivers need; neighbouring invocations read rows K apart.
//   - matvec.wgsl (subgroup): the lanes of a subgroup split K, read neighbouring blocks and end with subgroupAdd. This is
//     the usual matrix-vector kernel on GPUs, where the tiled kernel's K-apart reads are uncoalesced. On CPU drivers it
//     is slower. It is the GPU default for decode, which could not be measured on a real GPU here.
// The tile sizes of each config were chosen by measurement on lavapipe and SwiftShader (docs/engine.md).
import commonSource from '../../../shaders/matmul_common.wgsl';
import source from '../../../shaders/matmul.wgsl';
import xScalarSource from '../../../shaders/matmul_x.wgsl';
import xVec4Source from '../../../shaders/matmul_x4.wgsl';
import subgroupSource from '../../../shaders/matvec.wgsl';
import { type Batch, type Binding, type GpuContext, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';
import { formatWgsl, type TensorFormat } from '../formats/index.js';
import { type GpuWeight, type WeightRowChunk, weightRowChunks } from '../gpu/weight.js';

const Params = uniformStruct('Params', { tokens: 'u32', N: 'u32', K: 'u32', ldy: 'u32', col0: 'u32', accumulate: 'u32', rowWords: 'u32' });

const kernels = new Map<string, KernelDef>();

/** The matmul kernel (tiled or subgroup) composed with a format's decoder and the x accessors (x read as vec4 where
 *  K % 4 == 0); one KernelDef per combination. */
export function matmulKernel(format: TensorFormat, subgroup: boolean, xVec4: boolean): KernelDef {
  const name = `${subgroup ? 'matmul-subgroup' : 'matmul'}.${format.name}${xVec4 ? '.x4' : ''}`;
  let k = kernels.get(name);
  if (!k) {
    // `enable` directives must come first in a WGSL module: the subgroup body starts with them.
    const body = subgroup ? subgroupSource : source;
    const split = subgroup ? body.indexOf('\n\n') : 0;
    k = {
      name,
      source: `${body.slice(0, split)}\n${commonSource}\n${xVec4 ? xVec4Source : xScalarSource}\n${formatWgsl(format)}\n${body.slice(split)}`,
      bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'storage'],
      params: Params,
    };
    kernels.set(name, k);
  }
  return k;
}

/** Tile and workgroup sizes of one dispatch shape. */
export interface MatmulTiles {
  /** Invocations per workgroup (the subgroup kernel rounds it up to a multiple of the subgroup size). */
  wg: number;
  /** Weight rows per invocation (tiled) or per subgroup (subgroup kernel): 1..4. */
  tr: number;
  /** Tokens per invocation or subgroup: 1 or 4. */
  tt: 1 | 4;
  /** Use matvec.wgsl where the device has subgroups. */
  subgroup?: boolean;
}

export interface MatmulConfig {
  decode: MatmulTiles;
  prefill: MatmulTiles;
}

/** lavapipe, llvmpipe (GLES) and any other CPU driver. */
export const CPU_DRIVER_CONFIG: MatmulConfig = { decode: { wg: 64, tr: 2, tt: 1 }, prefill: { wg: 64, tr: 4, tt: 4 } };
/** SwiftShader: the Vulkan CPU driver of Chromium, and so the browser's WebGPU fallback adapter. */
export const SWIFTSHADER_CONFIG: MatmulConfig = { decode: { wg: 64, tr: 4, tt: 1 }, prefill: { wg: 64, tr: 4, tt: 4 } };
export const GPU_CONFIG: MatmulConfig = { decode: { wg: 64, tr: 4, tt: 1, subgroup: true }, prefill: { wg: 64, tr: 4, tt: 4 } };

const overrides = new WeakMap<GpuContext, Partial<MatmulConfig>>();

/** Replaces the tile sizes used on `ctx` (benchmarks, tests); `null` restores the defaults. */
export function setMatmulConfig(ctx: GpuContext, config: Partial<MatmulConfig> | null): void {
  if (config) overrides.set(ctx, config);
  else overrides.delete(ctx);
}

export function matmulConfig(ctx: GpuContext): MatmulConfig {
  const i = ctx.info;
  const base = !i.cpu ? GPU_CONFIG : /swiftshader/i.test(`${i.architecture} ${i.description}`) ? SWIFTSHADER_CONFIG : CPU_DRIVER_CONFIG;
  return { ...base, ...overrides.get(ctx) };
}

/**
 * y (tokens, N) = x (tokens, K) · wᵀ, w (N, K); with accumulate, y += that (fuses the residual add). y must not alias x.
 */
export function matmul(b: Batch, x: Binding, w: GpuWeight, y: Binding, p: { tokens: number; accumulate?: boolean }): void {
  matmulChunks(b, x, w, y, p, weightRowChunks(b.ctx, w));
}

/** matmul() with the weight bound in the given row ranges (see weightRowChunks). */
export function matmulChunks(b: Batch, x: Binding, w: GpuWeight, y: Binding, p: { tokens: number; accumulate?: boolean }, chunks: WeightRowChunk[]): void {
  const cfg = matmulConfig(b.ctx);
  const t = p.tokens === 1 ? cfg.decode : cfg.prefill;
  const subgroup = t.subgroup === true && b.ctx.features.subgroups;
  // The subgroup kernel gives each subgroup one tile; sized for the largest subgroup, a workgroup holds wg / S tiles
  // (more where the device picks smaller subgroups: the surplus tiles return at once).
  const S = subgroup ? (b.ctx.device.adapterInfo?.subgroupMaxSize ?? 128) : 1;
  const wg = Math.ceil(t.wg / S) * S;
  const constants = { WG: wg, TR: t.tr, TT: t.tt };
  const kernel = matmulKernel(w.format, subgroup, w.cols % 4 === 0);
  for (const c of chunks) {
    const tiles = Math.ceil(c.rows / t.tr) * Math.ceil(p.tokens / t.tt);
    const params = { tokens: p.tokens, N: c.rows, K: w.cols, ldy: w.rows, col0: c.row0, accumulate: p.accumulate ? 1 : 0, rowWords: w.rowWords };
    b.dispatch(kernel, params, [x, c.data, y], grid(b.ctx, Math.ceil(tiles / (subgroup ? wg / S : wg))), constants);
  }
}

/** CPU reference: y (tokens, N) = x (tokens, K) · wᵀ, w (N, K) (in f64, rounded once); added into `accumulateInto` if given. */
export function matmulRef(x: Float32Array, w: Float32Array, tokens: number, N: number, K: number, accumulateInto?: Float32Array): Float32Array {
  const y = accumulateInto ? Float32Array.from(accumulateInto) : new Float32Array(tokens * N);
  for (let t = 0; t < tokens; t++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      const xo = t * K;
      const wo = n * K;
      for (let k = 0; k < K; k++) s += x[xo + k]! * w[wo + k]!;
      y[t * N + n] += s;
    }
  }
  return y;
}
