// Checking a document's cache against a full recomputation: its K and V rows read back in position order, and a fresh
// session of the same text, cursor and prompt layout. Used by `pie soak` and by the invariant tests.
import { DocumentSession } from './session.js';

/** The cache row that holds position `pos`. */
export function rowOfPosition(s: DocumentSession, pos: number): number {
  const r = s.cache.positions.indexOf(pos);
  if (r < 0) throw new Error(`no row holds position ${pos}`);
  return r;
}

/** Layer-l K and V rows of a session, in position order: (tokens, nKvHeads * headDim) each. */
export async function kvRowsOf(s: DocumentSession, layer: number): Promise<{ k: Float32Array; v: Float32Array }> {
  const c = s.model.config;
  const ctx = s.model.ctx;
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

/** A 'full' session of the same text, cursor, FIM layout and workspace context as `s`, flushed; throws if its tokens differ from `s`'s
 *  (the token mirror must equal a fresh tokenization). */
export async function fullRecomputation(s: DocumentSession): Promise<DocumentSession> {
  const full = new DocumentSession(s.model, s.text, { method: 'full', maxRows: s.cache.maxRows, fim: s.fim, layout: s.layoutFormat });
  full.moveCursor(s.cursor);
  full.copyContextFrom(s);
  await full.flush();
  if (full.tokens.length !== s.tokens.length || full.tokens.some((t, i) => t !== s.tokens[i])) {
    full.destroy();
    throw new Error('the token mirror differs from a fresh tokenization');
  }
  return full;
}

/** ||a - b|| / ||b||. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} and ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** Relative K and V error of `s` at `layer` against a full recomputation of the same text and cursor. */
export async function layerError(s: DocumentSession, layer = 0): Promise<{ k: number; v: number }> {
  const full = await fullRecomputation(s);
  try {
    const a = await kvRowsOf(s, layer);
    const b = await kvRowsOf(full, layer);
    return { k: relativeError(a.k, b.k), v: relativeError(a.v, b.v) };
  } finally {
    full.destroy();
  }
}
