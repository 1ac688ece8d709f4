// `pie eval repo`: does workspace context help the model? Next-line completion on a folder of source files, each case
// completed twice, without and with chunks of the folder's other files laid out ahead of the file (the session's
// setContext), and scored by exact match and edit similarity.
//
// What it does, exactly:
// - Files (repoFiles): .py, .js, .ts, .mjs, .cjs under --repo, sorted by path. Skipped: the folders node_modules, .git,
//   test, tests, __tests__, spec, __mocks__, fixtures; test files (*.test.*, *.spec.*); declarations (*.d.ts, *.d.cts,
//   *.d.mts); *.min.js; files over 256 KB; files with a line over 500 characters (minified or generated); and paths
//   matching an --exclude glob (`*` within a folder, `**` across folders).
// - Cases (pickCases), from a seeded PRNG (src/engine/util/rng.ts): a file drawn uniformly among those with an eligible
//   line left, then one of its eligible lines uniformly, without repeats. Eligible: a 0-based line index >= 3 whose
//   trimmed text has at least 6 characters, a letter or digit, and is not a comment line (`//`, `/*`, `*`, `#`).
// - Prompt: the file's lines before that line, each ending in '\n' (the cursor at the start of the line), cut from the
//   start at a line boundary to at most --max-prefix tokens (default 896, as the model card's next-line evaluation).
//   Nothing after the cursor: the text after the line is not in the prompt (left to right; the bundled model's prompts
//   are left to right anyway, see models/README.md). Target: that line.
// - Completion: greedy, one line (maxLines 1, at most 64 tokens), with the prompt order `--fim auto` gives the model.
// - Scores: exact match of the trimmed prediction and target; edit similarity 1 - Levenshtein / max(length) on the
//   trimmed strings (1 when both are empty), as CrossCodeEval's ES and models/README.md's.
// - Context (contextFor): the folder's other files cut into consecutive, non-overlapping chunks of --chunk-lines lines
//   (default 32; on the grid of src/context/chunks.ts, so ids are `${path}:${startLine}`), ranked and budgeted by
//   chunks.ts select() (BM25 over identifiers) against the 32 lines before the cursor (the tracker's queryLinesBefore;
//   none after it: the target line would leak into the query), within --context-tokens (default
//   1024, as pie.context.tokens; less when the cache could not hold it beside the prompt and the completion). All
//   other files count as open: this is the context a user who had visited every file would get, not a tracker's
//   history. Never the file's own text: chunks of the case's own path are not candidates, and neither is a chunk that
//   shares 4 consecutive trimmed lines (at least 40 characters together) with the case's file: a copy of it (a bundle,
//   a CommonJS twin of an ES module).
// - Both completions of a case run on a fresh session (the context set before the first flush): exact, with no PIE
//   approximation; PIE's effect on a changing context is what `pie bench context --fidelity` measures.
// - With --json the last line is {"cases", "withContext": {"em", "es"}, "withoutContext": {"em", "es"},
//   "contextTokens": {"mean", "median", "min", "max"}}; --verbose adds one JSON line per case before it (its path,
//   line, target, both predictions and the chunk paths it was given).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { type Candidate, chunkAt, queryAround, select } from '../context/chunks.js';
import type { ContextChunk } from '../context/types.js';
import type { GpuContext } from '../engine/gpu/context.js';
import type { TransformerModel } from '../engine/model/model.js';
import { DocumentSession, type FimMode } from '../engine/session.js';
import { rng } from '../engine/util/rng.js';
import { median, printTable } from './common.js';

export interface RepoFile {
  /** Relative to the folder, '/' separators. */
  path: string;
  text: string;
}

export const SOURCE_EXTENSIONS = ['.py', '.js', '.ts', '.mjs', '.cjs'];
const SKIP_DIRS = new Set(['node_modules', '.git', 'test', 'tests', '__tests__', 'spec', '__mocks__', 'fixtures']);
const MAX_FILE_BYTES = 256 * 1024;
const MAX_LINE_CHARS = 500;

/** A glob (`*`: within a folder, `**`: across folders) as a regular expression over a relative path, or a folder of it. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}(/.*)?$`);
}

/** The source files of `dir` an evaluation takes (see the header for what is skipped), sorted by path. */
export function repoFiles(dir: string, exclude: readonly string[] = []): RepoFile[] {
  const excluded = exclude.map(globRegExp);
  const out: RepoFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = statSync(full);
      const rel = relative(dir, full).split(sep).join('/');
      if (excluded.some((re) => re.test(rel))) continue;
      if (st.isDirectory()) {
        if (!SKIP_DIRS.has(name)) walk(full);
        continue;
      }
      if (!st.isFile() || st.size > MAX_FILE_BYTES) continue;
      if (!SOURCE_EXTENSIONS.some((e) => name.endsWith(e))) continue;
      if (/\.d\.[cm]?ts$/.test(name) || /\.(test|spec)\./.test(name) || name.endsWith('.min.js')) continue;
      const text = readFileSync(full, 'utf8').replace(/\r\n/g, '\n');
      if (text.split('\n').some((l) => l.length > MAX_LINE_CHARS)) continue;
      out.push({ path: rel, text });
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface EvalCase {
  path: string;
  /** 0-based line index of the target. */
  line: number;
  /** The file's lines before the target, each with its '\n'. */
  prefix: string;
  target: string;
}

/** Whether line `i` of `lines` is a case the evaluation may pick (see the header). */
export function eligibleLine(lines: readonly string[], i: number): boolean {
  if (i < 3) return false;
  const t = lines[i]!.trim();
  return t.length >= 6 && /[A-Za-z0-9]/.test(t) && !/^(\/\/|\/\*|\*|#)/.test(t);
}

/** Up to n cases from `files`, the same for the same seed (see the header). */
export function pickCases(files: readonly RepoFile[], n: number, seed: number): EvalCase[] {
  const r = rng(seed);
  const pools = files.map((f) => {
    const lines = f.text.split('\n');
    return { f, lines, left: lines.map((_, i) => i).filter((i) => eligibleLine(lines, i)) };
  });
  const out: EvalCase[] = [];
  while (out.length < n) {
    const open = pools.filter((p) => p.left.length > 0);
    if (!open.length) break;
    const p = open[Math.floor(r() * open.length)]!;
    const line = p.left.splice(Math.floor(r() * p.left.length), 1)[0]!;
    out.push({ path: p.f.path, line, prefix: p.lines.slice(0, line).map((l) => `${l}\n`).join(''), target: p.lines[line]! });
  }
  return out;
}

/** `prefix` cut from the start at a line boundary to at most maxTokens tokens (the last line kept whole regardless). */
export function capPrefix(prefix: string, maxTokens: number, countTokens: (s: string) => number): string {
  if (countTokens(prefix) <= maxTokens) return prefix;
  const lines = prefix.split('\n'); // the last element is '' (prefix ends in '\n')
  let lo = 0;
  let hi = lines.length - 2;
  // the smallest start whose tail fits
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (countTokens(lines.slice(mid).join('\n')) <= maxTokens) hi = mid;
    else lo = mid + 1;
  }
  return lines.slice(lo).join('\n');
}

const SHINGLE_LINES = 4;
const SHINGLE_CHARS = 40;

function shingles(text: string): Set<string> {
  const lines = text.split('\n').map((l) => l.trim());
  const out = new Set<string>();
  for (let i = 0; i + SHINGLE_LINES <= lines.length; i++) {
    const w = lines.slice(i, i + SHINGLE_LINES);
    if (w.some((l) => l === '')) continue;
    const s = w.join('\n');
    if (s.length >= SHINGLE_CHARS) out.add(s);
  }
  return out;
}

/** Whether `chunk` copies part of `ownText`: 4 consecutive trimmed lines in common, at least 40 characters together. */
export function copiesOf(ownShingles: ReadonlySet<string>, chunk: string): boolean {
  for (const s of shingles(chunk)) if (ownShingles.has(s)) return true;
  return false;
}

/** The context candidates of a case: consecutive chunks of every other file, copies of the case's own file left out. */
export function contextCandidates(files: readonly RepoFile[], c: Pick<EvalCase, 'path'>, chunkLines: number): Candidate[] {
  const own = files.find((f) => f.path === c.path);
  const ownShingles = shingles(own?.text ?? '');
  const out: Candidate[] = [];
  for (const f of files) {
    if (f.path === c.path) continue;
    const n = f.text.split('\n').length;
    for (let start = 0; start < n; start += chunkLines) {
      const piece = chunkAt(f.path, f.text, start, chunkLines);
      if (!piece || piece.text.trim() === '' || copiesOf(ownShingles, piece.text)) continue;
      out.push({ ...piece, source: 'open', seq: 0 });
    }
  }
  return out;
}

/** The chunks a case is given, best first, within `budget` tokens (counted by `countTokens`, path line included). */
export function contextFor(files: readonly RepoFile[], c: EvalCase, budget: number, chunkLines: number, countTokens: (s: string) => number): ContextChunk[] {
  const prefixLines = c.prefix.split('\n');
  const query = queryAround(c.prefix, Math.max(0, prefixLines.length - 2), 31, 0);
  return select(contextCandidates(files, c, chunkLines), query, budget, countTokens);
}

/** Levenshtein distance over UTF-16 code units. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Exact match and edit similarity of a predicted line against the target, both trimmed. */
export function scoreLine(prediction: string, target: string): { em: number; es: number } {
  const p = prediction.trim();
  const t = target.trim();
  const len = Math.max(p.length, t.length);
  return { em: p === t ? 1 : 0, es: len === 0 ? 1 : 1 - levenshtein(p, t) / len };
}

export interface EvalRepoOptions {
  model: TransformerModel;
  ctx: GpuContext;
  /** The model's file name, for the report. */
  modelName: string;
  fim: FimMode;
  repo: string;
  cases: number;
  seed: number;
  contextTokens: number;
  chunkLines: number;
  maxPrefixTokens: number;
  exclude: string[];
  json: boolean;
  verbose: boolean;
}

export interface EvalRepoSummary {
  cases: number;
  withContext: { em: number; es: number };
  withoutContext: { em: number; es: number };
  contextTokens: { mean: number; median: number; min: number; max: number };
}

const MAX_TOKENS = 64;

async function completeLine(o: EvalRepoOptions, prefix: string, context: { path: string; chunks: ContextChunk[]; budget: number } | null) {
  const s = new DocumentSession(o.model, prefix, { fim: o.fim });
  try {
    const used = context ? s.setContext(context.path, context.chunks, context.budget) : { ids: [], tokens: 0 };
    const c = await s.complete({ maxTokens: MAX_TOKENS, maxLines: 1 });
    return { text: c.text, tokens: used.tokens, chunkPaths: s.contextChunks.map((x) => x.path), chunkIds: s.contextChunks.map((x) => x.id) };
  } finally {
    s.destroy();
  }
}

export async function evalRepo(o: EvalRepoOptions): Promise<EvalRepoSummary> {
  const tok = o.model.tokenizer;
  const count = (s: string) => tok.encode(s).length;
  const files = repoFiles(o.repo, o.exclude);
  if (files.length < 2) throw new Error(`${o.repo}: ${files.length} source file(s) after the filters; the evaluation needs at least 2 (one to complete, others for context)`);
  const cases = pickCases(files, o.cases, o.seed);
  const maxRows = Math.min(o.model.config.contextLength, 4096);
  const sums = { w: { em: 0, es: 0 }, wo: { em: 0, es: 0 } };
  const ctxTokens: number[] = [];
  const t0 = performance.now();
  for (const [i, c] of cases.entries()) {
    const prefix = capPrefix(c.prefix, o.maxPrefixTokens, count);
    // what the cache can hold beside the prompt, the completion and the layout's own tokens
    const room = maxRows - count(prefix) - MAX_TOKENS - 64;
    const budget = Math.max(0, Math.min(o.contextTokens, room));
    // the chunks as select() counts them (path line and text, plus a little for the layout's separators)
    const chunks = contextFor(files, c, budget, o.chunkLines, (s) => count(s) + 4);
    const without = await completeLine(o, prefix, null);
    const withCtx = await completeLine(o, prefix, { path: c.path, chunks, budget });
    if (withCtx.chunkPaths.includes(c.path)) throw new Error(`internal: case ${i} was given its own file ${c.path} as context`);
    const a = scoreLine(withCtx.text, c.target);
    const b = scoreLine(without.text, c.target);
    sums.w.em += a.em;
    sums.w.es += a.es;
    sums.wo.em += b.em;
    sums.wo.es += b.es;
    ctxTokens.push(withCtx.tokens);
    if (o.verbose) {
      const line = {
        case: i,
        path: c.path,
        line: c.line,
        target: c.target,
        withContext: withCtx.text,
        withoutContext: without.text,
        contextTokens: withCtx.tokens,
        chunkPaths: withCtx.chunkPaths,
        chunkIds: withCtx.chunkIds,
      };
      if (o.json) console.log(JSON.stringify(line));
      else console.log(`${c.path}:${c.line + 1}  ${JSON.stringify(c.target.trim())}\n  with context (${withCtx.tokens} tokens: ${withCtx.chunkPaths.join(', ') || 'none'}): ${JSON.stringify(withCtx.text.trim())}\n  without: ${JSON.stringify(without.text.trim())}`);
    } else if (!o.json) process.stderr.write(`\rcase ${i + 1}/${cases.length}`);
  }
  if (!o.verbose && !o.json) process.stderr.write('\n');
  const n = cases.length;
  const r4 = (x: number) => Math.round(x * 10000) / 10000;
  const summary: EvalRepoSummary = {
    cases: n,
    withContext: { em: r4(n ? sums.w.em / n : 0), es: r4(n ? sums.w.es / n : 0) },
    withoutContext: { em: r4(n ? sums.wo.em / n : 0), es: r4(n ? sums.wo.es / n : 0) },
    contextTokens: {
      mean: r4(n ? ctxTokens.reduce((x, y) => x + y, 0) / n : 0),
      median: n ? median(ctxTokens) : 0,
      min: n ? Math.min(...ctxTokens) : 0,
      max: n ? Math.max(...ctxTokens) : 0,
    },
  };
  const seconds = (performance.now() - t0) / 1000;
  const about = `device: ${o.ctx.describe()}; model ${o.modelName}; ${files.length} files in ${o.repo}; ${n} next-line cases (seed ${o.seed}); context up to ${o.contextTokens} tokens of ${o.chunkLines}-line chunks of the other files; ${seconds.toFixed(1)} s`;
  if (o.json) console.log(about.replace(/^/, '# '));
  else {
    console.log(about);
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    printTable(
      ['prompt', 'cases', 'exact match', 'edit similarity', 'context tokens (mean / median)'],
      [
        ['without context', String(n), pct(summary.withoutContext.em), summary.withoutContext.es.toFixed(3), '0'],
        ['with context', String(n), pct(summary.withContext.em), summary.withContext.es.toFixed(3), `${summary.contextTokens.mean.toFixed(0)} / ${summary.contextTokens.median}`],
      ],
    );
  }
  if (o.json) console.log(JSON.stringify(summary));
  return summary;
}
