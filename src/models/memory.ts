// Memory arithmetic shared by the engine (which allocates) and the catalog (which predicts): one formula each.

/** Bytes of one document's KV cache: K and V, f32, for every layer and KV head, `rows` tokens. */
export function kvCacheBytes(shape: { nLayers: number; nKvHeads: number; headDim: number }, rows: number): number {
  return 2 * shape.nLayers * shape.nKvHeads * rows * shape.headDim * 4;
}
