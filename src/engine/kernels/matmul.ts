// TIMINGS: filled in below after measurement.
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
  /** Invocations per workgroup. */
  wg: number;
  /** Weight rows per invocation (1..4). */
  tr: number;
  /** Tokens per invocation (1 or 4). */
  tt: 1 | 4;
  subgroup?: boolean;
}

export interface MatmulConfig {
  decode: MatmulTiles;
  prefill: MatmulTiles;
}

export const CPU_DRIVER_CONFIG: MatmulConfig = { decode: { wg: 64, tr: 1, tt: 1 }, prefill: { wg: 64, tr: 4, tt: 4 } };
export const GPU_CONFIG: MatmulConfig = { decode: { wg: 64, tr: 1, tt: 1 }, prefill: { wg: 64, tr: 4, tt: 4 } };

const overrides = new WeakMap<GpuContext, Partial<MatmulConfig>>();

/** Replaces the tile sizes used on `ctx` (benchmarks, tests); `null` restores the defaults. */
export function setMatmulConfig(ctx: GpuContext, config: Partial<MatmulConfig> | null): void {
  if (config) overrides.set(ctx, config);
  else overrides.delete(ctx);
}

export function matmulConfig(ctx: GpuContext): MatmulConfig {
  const base = ctx.info.cpu ? CPU_DRIVER_CONFIG : GPU_CONFIG;
  return { ...base, ...overrides.get(ctx) };
}

/** y (tokens, N) = x (tokens, K) · wᵀ, w (N, K); with accumulate, y += that (fuses the residual add). y must not alias x. */
export function matmul(b: Batch, x: Binding, w: GpuWeight, y: Binding, p: { tokens: number; accumulate?: boolean }): void {
  matmulChunks(b, x, w, y, p, weightRowChunks(b.ctx, w));
}

/** matmul() with the weight bound in the given row ranges (see weightRowChunks). */
export function matmulChunks(b: Batch, x: Binding, w: GpuWeight, y: Binding, p: { tokens: number; accumulate?: boolean }, chunks: WeightRowChunk[]): void {
  const cfg = matmulConfig(b.ctx);
  const t = p.tokens === 1 ? cfg.decode : cfg.prefill;
  const scalesDummy = w.scales ? null : dummyBuffer(b.ctx);
  for (const c of chunks) {
    const tiles = Math.ceil(c.rows / t.tr) * Math.ceil(p.tokens / t.tt);
    const params = { tokens: p.tokens, N: c.rows, K: w.cols, ldy: w.rows, col0: c.row0, accumulate: p.accumulate ? 1 : 0 };
    if (t.subgroup) {
      const S = b.ctx.device.adapterInfo?.subgroupMaxSize ?? 128;
      const wg = Math.ceil(t.wg / S) * S;
      b.dispatch(matmulSubgroupKernel, params, [x, c.data, c.scales ?? scalesDummy!, y], grid(b.ctx, Math.ceil(tiles / (wg / S))), {
        WTYPE: WTYPE_CODE[w.type],
        WG: wg,
        TR: t.tr,
        TT: t.tt,
      });
      continue;
    }
    b.dispatch(matmulKernel, params, [x, c.data, c.scales ?? scalesDummy!, y], grid(b.ctx, Math.ceil(tiles / t.wg)), {
      WTYPE: WTYPE_CODE[w.type],
      WG: t.wg,
      TR: t.tr,
      TT: t.tt,
      ALIGNED: aligned(w) ? 1 : 0,
    });
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
