import source from '../../../shaders/kv_store.wgsl';
import { type Batch, type Binding, grid, type KernelDef } from '../gpu/context.js';
import { uniformStruct } from '../gpu/uniforms.js';

const Params = uniformStruct('Params', { tokens: 'u32', nKvHeads: 'u32', headDim: 'u32', maxRows: 'u32', layer: 'u32' });
const WG = 64;

export const kvStoreKernel: KernelDef = {
  name: 'kv_store',
  source,
  bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage'],
  params: Params,
};

export interface KvStoreParams {
  tokens: number;
  nKvHeads: number;
  headDim: number;
  maxRows: number;
  layer: number;
}

/** Writes k, v (tokens, nKvHeads, headDim) into rows rows[t] of `layer` of the caches (nLayers, nKvHeads, maxRows, headDim). */
export function kvStore(b: Batch, k: Binding, v: Binding, rows: Binding, kCache: Binding, vCache: Binding, p: KvStoreParams): void {
  const n = p.tokens * p.nKvHeads * p.headDim;
  b.dispatch(kvStoreKernel, { ...p }, [k, v, rows, kCache, vCache], grid(b.ctx, Math.ceil(n / WG)), { WG });
}

/** CPU reference: the caches after the store (copies of the inputs). */
export function kvStoreRef(k: Float32Array, v: Float32Array, rows: ArrayLike<number>, kCache: Float32Array, vCache: Float32Array, p: KvStoreParams): [Float32Array, Float32Array] {
  const kc = Float32Array.from(kCache);
  const vc = Float32Array.from(vCache);
  for (let t = 0; t < p.tokens; t++) {
    for (let h = 0; h < p.nKvHeads; h++) {
      const src = (t * p.nKvHeads + h) * p.headDim;
      const dst = ((p.layer * p.nKvHeads + h) * p.maxRows + rows[t]!) * p.headDim;
      kc.set(k.subarray(src, src + p.headDim), dst);
      vc.set(v.subarray(src, src + p.headDim), dst);
    }
  }
  return [kc, vc];
}
