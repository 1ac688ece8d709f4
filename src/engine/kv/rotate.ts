// PIE's correction applied to a cache: the keys of the given rows re-rotated by their position deltas in one fused
// dispatch over every layer (kernels/pie_rekey.ts), the moves buffer kept between calls. The session uses it for its
// edits; benchmarks that move rows their own way (bench context's llama.cpp-style reuse) use the same.
import type { Batch, GpuContext } from '../gpu/context.js';
import { packMoves, pieRekey } from '../kernels/pie_rekey.js';
import type { ModelConfig } from '../model/config.js';
import type { KvCache } from './cache.js';

/** Records pie_rekey for `nMoves` packed moves of `cache`'s rows, with the model's RoPE (the map its forward applies). */
export function recordRekey(b: Batch, c: ModelConfig, cache: KvCache, moves: GPUBuffer, nMoves: number): void {
  pieRekey(b, cache.k, moves, {
    nMoves,
    nLayers: c.nLayers,
    nKvHeads: c.nKvHeads,
    maxRows: cache.maxRows,
    headDim: c.headDim,
    ropeDim: c.ropeDim,
    base: c.ropeBase,
    scale: c.ropeScale,
    layout: c.ropeLayout,
  });
}

export class KeyRotator {
  private moves: GPUBuffer | null = null;

  constructor(
    private readonly ctx: GpuContext,
    private readonly config: ModelConfig,
    private readonly label = 'pie',
  ) {}

  /** Re-rotates the keys of `rows` by `deltas` (new position minus old); V and the rows' positions are untouched. */
  apply(cache: KvCache, rows: number[], deltas: number[]): void {
    const packed = packMoves(rows, deltas);
    if (!this.moves || this.moves.size < packed.byteLength) {
      this.moves?.destroy();
      this.moves = this.ctx.buffer(Math.max(packed.byteLength, 4096), `${this.label}.moves`);
    }
    this.ctx.write(this.moves, packed);
    const b = this.ctx.batch(`${this.label}_rekey`);
    recordRekey(b, this.config, cache, this.moves, rows.length);
    b.submit();
  }

  destroy(): void {
    this.moves?.destroy();
    this.moves = null;
  }
}
