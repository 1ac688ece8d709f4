// y = x · wᵀ for f32, f16 and q8_0 weights: two kernels with the same bindings, uniforms and overrides, chosen per
// dispatch shape (decode: tokens = 1; prefill: tokens > 1) by a MatmulConfig.
//   - matmul.wgsl (tiled): each invocation owns a register tile of TT tokens x TR rows and runs the whole K loop. No
//     barriers, which is what CPU drivers need; neighbouring invocations read rows K apart.
//   - matvec.wgsl (subgroup): the lanes of a subgroup split K, read neighbouring words and end with subgroupAdd. This is
//     the usual matrix-vector kernel on GPUs, where the tiled kernel's K-apart reads are uncoalesced. On CPU drivers it
//     is slower (below). It is the GPU default for decode, which could not be measured on a real GPU here.
//
// Measured on a 2-core x86 VM (µs per dispatch, best of 5-11 rounds that time every variant in turn; the host is shared,
// so absolute figures drift by up to 2x between runs, and only variants measured side by side are compared here):
//
//   lavapipe (Mesa 25.0.7)      decode (tokens = 1)                   prefill (tokens = 64)
//                           tiled TR=2  tiled TR=4  subgroup TR=4    tiled TR=4 TT=4  tiled TR=2 TT=4  subgroup TR=4 TT=4
//   288 x 288      f32          103          97          130              1590             1820              2160
//                  f16          126         105          143              1320             1970              1790
//                  q8_0         147         132          152              1150             1780              2420
//   32000 x 288    f32         6600        8300         7400            163000           183000            177000
//                  f16         5640        5480         6010            148000           180000            154000
//                  q8_0        3790        5040         4150            142000           188000            265000
//
//   SwiftShader 5.0.0           decode (tokens = 1)
//                           tiled TR=1  tiled TR=2  tiled TR=4  subgroup TR=4
//   288 x 288      f32          521         417         302          536
//   32000 x 288    f32        48300       35000       25300        42800
//                  f16        50600       40300       31000        40600
//                  q8_0       46000       34100       33400        41300
//
// A dispatch costs about 55 µs on lavapipe and 300 µs on SwiftShader before any work, which dominates 288 x 288. On the
// large matrices lavapipe is fastest with TR=2 (TR=1 was 20-30% slower than TR=2 in the same runs) and SwiftShader with
// TR=4, hence one decode config each; prefill is best with TR=4 TT=4 on both. The subgroup kernel is never the fastest
// on a CPU driver, so it is only the GPU default.
import source from '../../../shaders/matmul.wgsl';
import subgroupSource from '../../../shaders/matvec.wgsl';
import { type Batch, type Binding, type GpuContext, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';
import { dummyBuffer, type GpuWeight, type WeightRowChunk, WTYPE_CODE, weightRowChunks } from '../model/weights.js';

const Params = uniformStruct('Params', { tokens: 'u32', N: 'u32', K: 'u32', ldy: 'u32', col0: 'u32', accumulate: 'u32' });

export const matmulKernel: KernelDef = {
  name: 'matmul',
  source,
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage'],
  params: Params,
};

export const matmulSubgroupKernel: KernelDef = { ...matmulKernel, name: 'matmul-subgroup', source: subgroupSource };

/** Tile and workgroup sizes of one dispatch shape. */
export interface MatmulTiles {
  /** Invocations per workgroup (the subgroup kernel rounds it up to a multiple of the subgroup size). */
  wg: number;
  /** Weight rows per invocation (tiled) or per subgroup (subgroup kernel): 1..4. */
  tr: number;
  /** Tokens per invocation or subgroup: 1 or 4. */
  tt: 1 | 4;
  /** Use matvec.wgsl where the device has subgroups and the rows start on 4-byte words (f16 needs an even K). */
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
 * x is read in 16-byte words: bind it whole (GpuContext buffers are padded to 16 bytes) or with a size that is a multiple of 16.
 */
export function matmul(b: Batch, x: Binding, w: GpuWeight, y: Binding, p: { tokens: number; accumulate?: boolean }): void {
  matmulChunks(b, x, w, y, p, weightRowChunks(b.ctx, w));
}

/** matmul() with the weight bound in the given row ranges (see weightRowChunks). */
export function matmulChunks(b: Batch, x: Binding, w: GpuWeight, y: Binding, p: { tokens: number; accumulate?: boolean }, chunks: WeightRowChunk[]): void {
  const cfg = matmulConfig(b.ctx);
  const t = p.tokens === 1 ? cfg.decode : cfg.prefill;
  const subgroup = t.subgroup === true && b.ctx.features.subgroups && (w.type !== 'f16' || w.cols % 2 === 0);
  const scalesDummy = dummyBuffer(b.ctx);
  // The subgroup kernel gives each subgroup one tile; sized for the largest subgroup, a workgroup holds wg / S tiles
  // (more where the device picks smaller subgroups: the surplus tiles return at once).
  const S = subgroup ? (b.ctx.device.adapterInfo?.subgroupMaxSize ?? 128) : 1;
  const wg = Math.ceil(t.wg / S) * S;
  const constants = { WTYPE: WTYPE_CODE[w.type], WG: wg, TR: t.tr, TT: t.tt };
  for (const c of chunks) {
    const tiles = Math.ceil(c.rows / t.tr) * Math.ceil(p.tokens / t.tt);
    const params = { tokens: p.tokens, N: c.rows, K: w.cols, ldy: w.rows, col0: c.row0, accumulate: p.accumulate ? 1 : 0 };
    const buffers = [x, c.data, c.scales ?? scalesDummy, y];
    if (subgroup) b.dispatch(matmulSubgroupKernel, params, buffers, grid(b.ctx, Math.ceil(tiles / (wg / S))), constants);
    else b.dispatch(matmulKernel, params, buffers, grid(b.ctx, Math.ceil(tiles / wg)), { ...constants, ALIGNED: aligned(w) ? 1 : 0 });
  }
}

/** Rows start on 16-byte words (the kernels' fast path): K % 4 == 0 for f32, K % 8 == 0 for f16, always for q8_0. */
function aligned(w: GpuWeight): boolean {
  return w.cols % (w.type === 'f32' ? 4 : w.type === 'f16' ? 8 : 32) === 0;
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
