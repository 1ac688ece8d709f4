// Workspace context, the pure part: cutting files into chunks, and choosing the chunks a completion sees. No state, no
// host: the tracker (tracker.ts) and the tests call these.
//
// Rules:
// - Chunk grid. A chunk of at most `maxLines` (m) lines starts on a multiple of h = max(1, floor(m / 2)) and runs m
//   lines (less at the end of the file): with m = 64, [0, 64), [32, 96), [64, 128)... For a line, chunkAround takes the
//   grid chunk whose middle is nearest the line's, so the line has at least h/2 lines of the chunk on either side
//   (except at the ends of the file) and a cursor moving within a band of h lines keeps the same chunk (m = 64: lines
//   48..79 all give [32, 96)). Ids are `${path}:${startLine}`, so the same place gives the same id whoever cut it (a
//   visit, the visible range, a definition), and a chunk re-cut after an edit keeps its id.
// - Identifiers: whole names, `[A-Za-z_$][A-Za-z0-9_$]*`, case kept, not split into camelCase or snake_case parts:
//   what links two files is a name one uses and the other defines (`computeTotal`), and parts such as `get` or `id`
//   would make every chunk look alike.
// - Ranking: BM25 (k1 = 1.2, b = 0.75) of each candidate against the distinct identifiers of the query (the lines
//   around the cursor), with document frequencies over the candidate set itself. Plain Jaccard would be dominated by
//   the keywords and common names every chunk has (`const`, `return`, `self`) and would punish a long chunk for its
//   extra names; BM25's IDF makes a name shared by few candidates count most and its length normalization keeps long
//   chunks fair. Candidates with no shared identifier score 0 and come last (still sent when the budget allows: recent
//   places are useful context of their own). Ties: the more recent first (higher `seq`), then the smaller id.
// - Near-duplicates: a candidate whose identifier set has Jaccard > 0.9 with one already chosen (a better one) is
//   dropped, as llama.vscode does for its ring.
// - Budget: a chunk costs countTokens(path + '\n' + text) (the engine lays out a path line with each chunk); chunks are
//   taken best first, one that does not fit skipped (a smaller, worse one may still fit). estimateTokens is a
//   conservative ceil(UTF-8 bytes / 3) (code averages 3.5 to 4 bytes a token); the engine re-checks with its tokenizer.

import type { ContextChunk, ContextSource } from './types.js';

/** A piece of a file: the lines [startLine, endLine), 0-based, joined by '\n'. */
export interface Piece {
  id: string;
  path: string;
  startLine: number;
  endLine: number;
  text: string;
}

/** A chunk offered for ranking: `seq` orders by recency (higher: more recent). */
export interface Candidate extends Piece {
  source: ContextSource;
  seq: number;
}

/** Jaccard similarity above which a candidate counts as a near-duplicate of a better one. */
export const NEAR_DUPLICATE = 0.9;

const IDENTIFIER = /[A-Za-z_$][A-Za-z0-9_$]*/g;
const K1 = 1.2;
const B = 0.75;
const utf8 = new TextEncoder();

/** The identifiers of `text`, in order, repeats kept. */
export function identifiers(text: string): string[] {
  return text.match(IDENTIFIER) ?? [];
}

/** |a ∩ b| / |a ∪ b|; 0 when both are empty (nothing to judge by). */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let common = 0;
  for (const x of small) if (large.has(x)) common++;
  const union = a.size + b.size - common;
  return union === 0 ? 0 : common / union;
}

/** A conservative token count: ceil(UTF-8 bytes / 3). */
export function estimateTokens(text: string): number {
  return Math.ceil(utf8.encode(text).length / 3);
}

/** The grid chunk of `maxLines` lines whose middle is nearest `centre` (a position in lines: line L's middle is L + 0.5). */
function gridStart(centre: number, maxLines: number): number {
  const h = Math.max(1, Math.floor(maxLines / 2));
  return Math.max(0, Math.floor((centre - maxLines / 2) / h + 0.5)) * h;
}

function cut(path: string, lines: readonly string[], startLine: number, maxLines: number): Piece {
  const endLine = Math.min(lines.length, startLine + maxLines);
  return { id: `${path}:${startLine}`, path, startLine, endLine, text: lines.slice(startLine, endLine).join('\n') };
}

/** The grid chunk that best centres `line` (clamped into the file); see the header for the grid. */
export function chunkAround(path: string, text: string, line: number, maxLines = 64): Piece {
  const lines = text.split('\n');
  const l = Math.min(Math.max(0, line), lines.length - 1);
  return cut(path, lines, gridStart(l + 0.5, maxLines), maxLines);
}

/** The grid chunk starting at `startLine`, re-cut from `text`; undefined when the file no longer reaches that line. */
export function chunkAt(path: string, text: string, startLine: number, maxLines = 64): Piece | undefined {
  const lines = text.split('\n');
  return startLine < lines.length ? cut(path, lines, startLine, maxLines) : undefined;
}

/** Grid chunks covering the lines [startLine, endLine): the one best centred on the range when one holds it all, else
 *  consecutive grid chunks from the one starting at or before startLine. */
export function chunkRange(path: string, text: string, startLine: number, endLine: number, maxLines = 64): Piece[] {
  const lines = text.split('\n');
  const s = Math.min(Math.max(0, startLine), lines.length - 1);
  const e = Math.min(Math.max(s + 1, endLine), lines.length);
  const one = gridStart((s + e) / 2, maxLines);
  if (one <= s && one + maxLines >= e) return [cut(path, lines, one, maxLines)];
  const h = Math.max(1, Math.floor(maxLines / 2));
  const step = Math.floor(maxLines / h) * h;
  const out: Piece[] = [];
  for (let start = Math.floor(s / h) * h; start < e; start += step) out.push(cut(path, lines, start, maxLines));
  return out;
}

/** The lines [line - before, line + after], the cursor's line included, as the ranking query. */
export function queryAround(text: string, line: number, before: number, after: number): string {
  const lines = text.split('\n');
  return lines.slice(Math.max(0, line - before), Math.max(0, line + after + 1)).join('\n');
}

interface Scored {
  chunk: ContextChunk;
  terms: Set<string>;
  seq: number;
}

function scoreAll(candidates: readonly Candidate[], query: string): Scored[] {
  const q = new Set(identifiers(query));
  const docs = candidates.map((c) => {
    const ids = identifiers(c.text);
    const tf = new Map<string, number>();
    for (const t of ids) tf.set(t, (tf.get(t) ?? 0) + 1);
    return { c, tf, len: ids.length };
  });
  const avgLen = docs.reduce((s, d) => s + d.len, 0) / Math.max(1, docs.length) || 1;
  const idf = new Map<string, number>();
  for (const t of q) {
    const n = docs.reduce((s, d) => s + (d.tf.has(t) ? 1 : 0), 0);
    if (n) idf.set(t, Math.log(1 + (docs.length - n + 0.5) / (n + 0.5)));
  }
  return docs
    .map(({ c, tf, len }): Scored => {
      let score = 0;
      for (const [t, w] of idf) {
        const f = tf.get(t);
        if (f) score += (w * f * (K1 + 1)) / (f + K1 * (1 - B + (B * len) / avgLen));
      }
      const { id, path, startLine, endLine, text, source } = c;
      return { chunk: { id, path, startLine, endLine, text, source, score }, terms: new Set(tf.keys()), seq: c.seq };
    })
    .sort((a, b) => b.chunk.score - a.chunk.score || b.seq - a.seq || compare(a.chunk.id, b.chunk.id));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The candidates scored against `query` (the lines around the cursor), best first. */
export function rank(candidates: readonly Candidate[], query: string): ContextChunk[] {
  return scoreAll(candidates, query).map((s) => s.chunk);
}

/** The candidates to send: best first, near-duplicates of better ones dropped, within `budgetTokens` (see the header). */
export function select(
  candidates: readonly Candidate[],
  query: string,
  budgetTokens: number,
  countTokens: (text: string) => number = estimateTokens,
): ContextChunk[] {
  if (budgetTokens <= 0) return [];
  const out: ContextChunk[] = [];
  const chosen: Set<string>[] = [];
  let left = budgetTokens;
  for (const s of scoreAll(candidates, query)) {
    if (chosen.some((t) => jaccard(t, s.terms) > NEAR_DUPLICATE)) continue;
    const cost = countTokens(`${s.chunk.path}\n${s.chunk.text}`);
    if (cost > left) continue;
    left -= cost;
    out.push(s.chunk);
    chosen.push(s.terms);
  }
  return out;
}
