// The resident KV cache: per layer K and V rows in f32 on the GPU, and the position each row holds.
// Rows are slots; positions are data. Attention masks by position, never by row index, so later edits (PIE) can move
// rows or leave holes without breaking causality.
import type { GpuContext } from '../gpu/context.js';
import { fmtBytes, GpuMemoryError } from '../gpu/context.js';
import { kvCacheBytes } from '../../models/memory.js';

export interface CacheShape {
  nLayers: number;
  nKvHeads: number;
  headDim: number;
}

export class KvCache {
  readonly k: GPUBuffer; // (nLayers, nKvHeads, maxRows, headDim) f32
  readonly v: GPUBuffer; // (nLayers, nKvHeads, maxRows, headDim) f32
  readonly rowPos: GPUBuffer; // i32 (maxRows); -1 = empty
  /** Host mirror of rowPos. */
  readonly positions: Int32Array;
  /** Rows [0, used) may hold data; attention scans only those. */
  used = 0;

  constructor(
    private readonly ctx: GpuContext,
    readonly shape: CacheShape,
    readonly maxRows: number,
  ) {
    const bytes = KvCache.bytesFor(shape, maxRows) / 2;
    const limit = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    if (bytes > limit) {
      throw new GpuMemoryError(
        `a KV cache of ${maxRows} rows needs ${fmtBytes(bytes)} per K/V buffer, over this device's limit of ${fmtBytes(limit)}; use a smaller context`,
      );
    }
    this.k = ctx.buffer(bytes, 'kv.k');
    this.v = ctx.buffer(bytes, 'kv.v');
    this.positions = new Int32Array(maxRows).fill(-1);
    this.rowPos = ctx.upload(this.positions, 'kv.rowPos');
  }

  static bytesFor(shape: CacheShape, maxRows: number): number {
    return kvCacheBytes(shape, maxRows);
  }

  get bytes(): number {
    return KvCache.bytesFor(this.shape, this.maxRows);
  }

  /** Marks rows[i] as holding position pos[i] (host mirror and GPU), before the forward pass that fills them. */
  setPositions(rows: ArrayLike<number>, pos: ArrayLike<number>): void {
    let lo = Infinity;
    let hi = -1;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r < 0 || r >= this.maxRows) throw new RangeError(`row ${r} outside the cache (0..${this.maxRows - 1})`);
      this.positions[r] = pos[i]!;
      lo = Math.min(lo, r);
      hi = Math.max(hi, r);
    }
    if (hi < 0) return;
    this.used = Math.max(this.used, hi + 1);
    this.ctx.write(this.rowPos, this.positions.subarray(lo, hi + 1), lo * 4);
  }

  /** Empties rows [from, used). */
  truncate(from: number): void {
    if (from >= this.used) return;
    this.positions.fill(-1, from, this.used);
    this.ctx.write(this.rowPos, this.positions.subarray(from, this.used), from * 4);
    this.used = from;
  }

  clear(): void {
    this.truncate(0);
  }

  destroy(): void {
    this.k.destroy();
    this.v.destroy();
    this.rowPos.destroy();
  }
}
