// PIE's fused rotary correction (shaders/pie_rekey.wgsl after rope_common.wgsl): one dispatch re-rotates the keys of
// every moved row, in all layers, by the angle of its position delta.
import rekeySource from '../../../shaders/pie_rekey.wgsl';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';
import { checkRopeSpec, ROPE_COMMON_WGSL, ropeHeadRef, type RopeSpec, ropeThetaScale } from './rope.js';

const Params = uniformStruct('Params', {
  nMoves: 'u32',
  nLayers: 'u32',
  nKvHeads: 'u32',
  maxRows: 'u32',
  headDim: 'u32',
  halfRot: 'u32',
  scale: 'f32',
  thetaScale: 'f32',
});
const WG = 64;

export const pieRekeyKernel: KernelDef = {
  name: 'pie_rekey',
  source: `${ROPE_COMMON_WGSL}\n${rekeySource}`,
  bindings: ['uniform', 'storage', 'read-only-storage'],
  params: Params,
};

export interface RekeyParams extends RopeSpec {
  nMoves: number;
  nLayers: number;
  nKvHeads: number;
  maxRows: number;
}

/** Rotates K rows moves[m].row of every layer and KV head by the angle of moves[m].delta; `moves` holds i32 pairs. */
export function pieRekey(b: Batch, kCache: Binding, moves: Binding, p: RekeyParams): void {
  checkRopeSpec(p);
  const halfRot = p.ropeDim / 2;
  const n = p.nMoves * p.nLayers * p.nKvHeads * halfRot;
  b.dispatch(
    pieRekeyKernel,
    { nMoves: p.nMoves, nLayers: p.nLayers, nKvHeads: p.nKvHeads, maxRows: p.maxRows, headDim: p.headDim, halfRot, scale: p.scale, thetaScale: ropeThetaScale(p.base, p.ropeDim) },
    [kCache, moves],
    grid(b.ctx, Math.ceil(n / WG)),
    { WG, NEOX: p.layout === 'neox' ? 1 : 0 },
  );
}

/** Packs (row, delta) pairs as the shader reads them. */
export function packMoves(rows: ArrayLike<number>, deltas: ArrayLike<number>): Int32Array {
  const out = new Int32Array(rows.length * 2);
  for (let i = 0; i < rows.length; i++) {
    out[2 * i] = rows[i]!;
    out[2 * i + 1] = deltas[i]!;
  }
  return out;
}

/** CPU reference: a copy of kCache with the moved rows rotated. */
export function pieRekeyRef(kCache: Float32Array, rows: ArrayLike<number>, deltas: ArrayLike<number>, p: RekeyParams): Float32Array {
  const k = Float32Array.from(kCache);
  for (let m = 0; m < p.nMoves; m++) {
    for (let lh = 0; lh < p.nLayers * p.nKvHeads; lh++) ropeHeadRef(k, (lh * p.maxRows + rows[m]!) * p.headDim, deltas[m]!, p);
  }
  return k;
}
