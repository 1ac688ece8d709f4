// Reading a DocumentSession's KV cache in position order, and comparing it with a full recomputation: the helpers of the
// invariant tests of test/gpu/session.test.ts and test/gpu/session-families.test.ts.
import assert from 'node:assert/strict';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { DocumentSession } from '../../src/engine/session.js';
import { normalisedError } from './gpu.js';

/** The cache row that holds position `pos`. */
export function rowOfPosition(s: DocumentSession, pos: number): number {
  const r = s.cache.positions.indexOf(pos);
  assert.ok(r >= 0, `no row holds position ${pos}`);
  return r;
}

/** Layer-l K and V rows of a session, in position order: (entries, nKvHeads * headDim) each. */
export async function kvRowsOf(ctx: GpuContext, s: DocumentSession, layer: number): Promise<{ k: Float32Array; v: Float32Array }> {
  const c = s.model.config;
  const [kAll, vAll] = [await ctx.readF32(s.cache.k), await ctx.readF32(s.cache.v)];
  const n = s.tokens.length;
  const k = new Float32Array(n * c.nKvHeads * c.headDim);
  const v = new Float32Array(k.length);
  for (let i = 0; i < n; i++) {
    const row = rowOfPosition(s, i);
    for (let h = 0; h < c.nKvHeads; h++) {
      const src = ((layer * c.nKvHeads + h) * s.cache.maxRows + row) * c.headDim;
      const dst = (i * c.nKvHeads + h) * c.headDim;
      k.set(kAll.subarray(src, src + c.headDim), dst);
      v.set(vAll.subarray(src, src + c.headDim), dst);
    }
  }
  return { k, v };
}

/** A 'full' session of the same text, cursor and FIM layout as `s`, flushed. */
export async function fullRecomputation(s: DocumentSession): Promise<DocumentSession> {
  const full = new DocumentSession(s.model, s.text, { method: 'full', maxRows: s.cache.maxRows, fim: s.fim });
  full.moveCursor(s.cursor);
  await full.flush();
  assert.deepEqual(s.tokens, full.tokens, 'the token mirror equals a fresh tokenization');
  return full;
}

/** Worst normalised K and V error of `s` at `layer` against a full recomputation of the same text and cursor. */
export async function layerError(ctx: GpuContext, s: DocumentSession, layer = 0): Promise<{ k: number; v: number }> {
  const full = await fullRecomputation(s);
  try {
    const a = await kvRowsOf(ctx, s, layer);
    const b = await kvRowsOf(ctx, full, layer);
    return { k: normalisedError(a.k, b.k), v: normalisedError(a.v, b.v) };
  } finally {
    full.destroy();
  }
}
