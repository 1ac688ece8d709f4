// `pie bench context`: workspace context kept resident by PIE, measured. Three parts:
//
// 1. Latency. A file of about --file-tokens tokens (default 1,024; its first lines) with the cursor at its end, behind
//    --context-tokens tokens of context (default 1,024, 2,048, 4,096): consecutive --chunk-lines-line chunks (default 32)
//    of the other source files of --source (default node_modules/vscode-languageserver/lib/common, the file server.js:
//    vscode-languageserver 11.0.0 as package-lock.json pins it), taken one file after the other in turn. Then one context
//    change, and the time until the next token's logits are back (setContext, the plan, re-rotation, the encode):
//      added      a new chunk, nearest the file (where the default 'stable' order puts a new chunk)
//      dropped    the oldest chunk, first in the cache
//      replaced   the middle chunk swapped for another of about its size
//      edited     a one-line edit inside the middle chunk's text (a comment appended to its middle line)
//      reordered  the middle chunk and the one before it swap places (a re-ranking; under the 'stable' order a
//                 re-ranking moves nothing, so the bench's sessions use 'ranked' to lay out exactly these orders)
//    then back to the first context (not timed; for 'full' not even flushed, since 'full' re-encodes everything
//    anyway; for 'reuse' a GPU copy of its cache as the base context left it). Median of --runs runs (default 3) after one warm-up change, every method in the same run, each with
//    its own cache and the methods taking turns at each run:
//      pie     re-rotate the moved rows, encode only the new tokens (and the refresh window; `pie:N` sets it)
//      full    recompute everything
//      reuse   llama.cpp's server with --cache-reuse N (default 256, the value llama.vscode recommends), run on our
//              cache and kernels (class LlamaCppReuse below, after update_slots in llama.cpp's tools/server): the
//              common prefix kept; then, scanning the old cache and the new prompt from there, every run of at least
//              N cached tokens that matches the prompt at the scan point is kept and shifted toward the start (its keys
//              re-rotated by the shift, as llama_kv_self_seq_add does, with our pie_rekey), cached tokens in between
//              are dropped, and the first prompt token that no run matches ends the reuse: it and everything after it
//              are re-encoded. So a dropped chunk costs llama.cpp what it costs PIE (a shift), but after an added,
//              replaced, edited (new tokens) or moved-back chunk everything up to the end is recomputed, as 'prefix'.
//      prefix  (on request) the rows before the first change kept, the rest re-encoded
//    Each cell also reports the rows moved, the tokens encoded, and the CPU time of the process (user + system, all its
//    threads: on a CPU driver such as lavapipe the GPU's work runs in them), which a machine shared with other jobs
//    inflates much less than the wall-clock time.
//
// 2. Ordering policy. One pie session per order ('stable', 'ranked') takes the same seeded sequence of --policy-steps
//    (default 30) random changes to a ranked chunk list (add at a random rank, drop, replace, edit a line, re-rank one
//    chunk), given best first with a budget of --policy-context tokens (default 1,024); totals of rows moved, tokens
//    encoded and time.
//
// 3. Fidelity (--fidelity, instead of 1 and 2). Traces built from real multi-file packages (--source DIR[,DIR...]):
//    per package, --traces cases picked as `pie eval repo` picks them (a file, a line at least 16 lines down where the
//    package has one; the prompt is the file up to that line, capped at 640 tokens, nothing after the cursor), the context the chunks.ts ranking gives from the other
//    files (640 tokens of 32-line chunks), then --rounds rounds of five changes: a chunk added (the best one not in the
//    context), dropped (the oldest), replaced (the middle one, by the best unused), edited (a line of the middle chunk's
//    source), and an edit of the current file (a comment line inserted above the cursor). After each, every method's
//    session (default pie, pie:0, cfe; 'stable' order; never re-synced) completes 16 greedy tokens, and so does a full
//    recomputation of the same prompt; KL(full || method) of the first token's distribution, top-1 agreement, and
//    whether the 16 tokens are the same, as `pie replay --compare full` reports them.
import { extname, join } from 'node:path';
import { identifiers, jaccard, NEAR_DUPLICATE, rank } from '../context/chunks.js';
import type { GpuContext } from '../engine/gpu/context.js';
import { KeyRotator } from '../engine/kv/rotate.js';
import type { KvCache } from '../engine/kv/cache.js';
import type { TransformerModel } from '../engine/model/model.js';
import { type Completion, DocumentSession, type FimMode, type FlushStats, type Method, type SessionChunk } from '../engine/session.js';
import { rng } from '../engine/util/rng.js';
import { median, printTable } from './common.js';
import { capPrefix, contextCandidates, contextFor, pickCases, type RepoFile, repoFiles } from './eval-repo.js';
import { projectRoot } from './models.js';
import { klDivergence } from './replay.js';

export const DEFAULT_SOURCE = 'node_modules/vscode-languageserver/lib/common';
export const DEFAULT_FILE = 'server.js';
export const CHANGE_KINDS = ['added', 'dropped', 'replaced', 'edited', 'reordered'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** A method as the bench names it: a session method (`pie:N`: refresh window N) or llama.cpp's reuse. */
export interface ContextMethod {
  label: string;
  method: Method | 'reuse';
  refreshWindow?: number;
}

export function parseMethods(list: string): ContextMethod[] {
  return list.split(',').map((label) => {
    const [m, w] = label.split(':');
    if (m === 'reuse') return { label, method: 'reuse' };
    if (!['pie', 'cfe', 'prefix', 'full'].includes(m ?? '')) throw new Error(`unknown method "${label}" (pie, pie:N, cfe, prefix, full, reuse)`);
    const refreshWindow = w === undefined ? undefined : Number(w);
    if (refreshWindow !== undefined && !(Number.isInteger(refreshWindow) && refreshWindow >= 0)) throw new Error(`"${label}": the refresh window must be a whole number`);
    return { label, method: m as Method, ...(refreshWindow !== undefined ? { refreshWindow } : {}) };
  });
}

/**
 * llama.cpp's server prompt cache with --cache-reuse N, on our KV cache and kernels (see the header): the cache holds
 * one token sequence at positions 0..n-1; update() brings it to a new prompt as llama.cpp's update_slots does and
 * returns the last token's logits.
 */
export class LlamaCppReuse {
  readonly cache: KvCache;
  private tokens: number[] = [];
  /** Row of each position. */
  private rows: number[] = [];
  private readonly free: number[] = [];
  private high = 0;
  private readonly rotator: KeyRotator;
  stats: FlushStats = { rowsMoved: 0, rowsDropped: 0, tokensEncoded: 0, applyMs: 0, encodeMs: 0 };

  constructor(
    readonly model: TransformerModel,
    maxRows: number,
    /** --cache-reuse N: the shortest run of cached tokens worth shifting (0: the common prefix only). */
    readonly minChunk: number,
  ) {
    this.cache = model.createCache(maxRows);
    this.rotator = new KeyRotator(model.ctx, model.config, 'reuse');
  }

  async update(prompt: readonly number[]): Promise<Float32Array | null> {
    const t0 = performance.now();
    const old = this.tokens;
    const rows = new Array<number>(prompt.length).fill(-1);
    const kept = new Uint8Array(old.length);
    let nPast = 0;
    while (nPast < old.length && nPast < prompt.length && old[nPast] === prompt[nPast]) {
      rows[nPast] = this.rows[nPast]!;
      kept[nPast] = 1;
      nPast++;
    }
    // update_slots: "reuse chunks from the cached prompt by shifting their KV cache in the new position"
    const shifted: { at: number; from: number }[] = [];
    let headC = nPast;
    let headP = nPast;
    if (this.minChunk > 0) {
      while (headC < old.length && headP < prompt.length) {
        let n = 0;
        while (headC + n < old.length && headP + n < prompt.length && old[headC + n] === prompt[headP + n]) n++;
        if (n >= this.minChunk) {
          for (let j = 0; j < n; j++) {
            rows[headP + j] = this.rows[headC + j]!;
            kept[headC + j] = 1;
            if (headP !== headC) shifted.push({ at: headP + j, from: headC + j });
          }
          headC += n;
          headP += n;
        } else headC++;
      }
    }
    // everything from the first prompt token no run matched is re-encoded; all reused: the last token again, for logits
    const from = Math.min(headP, prompt.length - 1);
    const freed: number[] = [];
    old.forEach((_, i) => {
      if (!kept[i]) freed.push(this.rows[i]!);
    });
    for (let i = from; i < prompt.length; i++) {
      if (rows[i]! >= 0) freed.push(rows[i]!);
      rows[i] = -1;
    }
    const moves = shifted.filter((s) => s.at < from);
    if (freed.length) {
      this.cache.setPositions(freed, freed.map(() => -1));
      this.free.push(...freed);
    }
    if (moves.length) {
      const moveRows = moves.map((m) => rows[m.at]!);
      this.rotator.apply(this.cache, moveRows, moves.map((m) => m.at - m.from));
      this.cache.setPositions(moveRows, moves.map((m) => m.at));
    }
    const t1 = performance.now();
    const pos: number[] = [];
    for (let i = from; i < prompt.length; i++) {
      rows[i] = this.alloc();
      pos.push(i);
    }
    const r = await this.model.forward(this.cache, prompt.slice(from), pos, pos.map((i) => rows[i]!), 'last');
    this.tokens = [...prompt];
    this.rows = rows;
    this.stats = { rowsMoved: moves.length, rowsDropped: freed.length, tokensEncoded: prompt.length - from, applyMs: t1 - t0, encodeMs: performance.now() - t1 };
    return r.logits;
  }

  private saved: { k: GPUBuffer; v: GPUBuffer; positions: Int32Array; used: number; tokens: number[]; rows: number[]; free: number[]; high: number } | null = null;

  /** Keeps the cache as it stands (GPU copies of K and V), for restore(): a benchmark's way back to its base state. */
  snapshot(): void {
    const ctx = this.model.ctx;
    const c = this.cache;
    const k = this.saved?.k ?? ctx.buffer(c.k.size, 'reuse.saved.k');
    const v = this.saved?.v ?? ctx.buffer(c.v.size, 'reuse.saved.v');
    this.copy(c.k, k);
    this.copy(c.v, v);
    this.saved = { k, v, positions: c.positions.slice(), used: c.used, tokens: [...this.tokens], rows: [...this.rows], free: [...this.free], high: this.high };
  }

  /** Puts back the cache the last snapshot() kept. */
  restore(): void {
    const s = this.saved;
    if (!s) throw new Error('restore() before snapshot()');
    const c = this.cache;
    this.copy(s.k, c.k);
    this.copy(s.v, c.v);
    c.positions.set(s.positions);
    this.model.ctx.write(c.rowPos, c.positions);
    c.used = s.used;
    this.tokens = [...s.tokens];
    this.rows = [...s.rows];
    this.free.length = 0;
    this.free.push(...s.free);
    this.high = s.high;
  }

  private copy(src: GPUBuffer, dst: GPUBuffer): void {
    const device = this.model.ctx.device;
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, src.size);
    device.queue.submit([enc.finish()]);
  }

  private alloc(): number {
    const r = this.free.pop();
    if (r !== undefined) return r;
    if (this.high >= this.cache.maxRows) throw new Error(`llama.cpp reuse: more than the cache's ${this.cache.maxRows} rows`);
    return this.high++;
  }

  destroy(): void {
    this.cache.destroy();
    this.rotator.destroy();
    this.saved?.k.destroy();
    this.saved?.v.destroy();
  }
}

/** A comment marker for a path's language (`#` for Python, `//` otherwise). */
function commentFor(path: string): string {
  return extname(path) === '.py' ? '#' : '//';
}

/** `text` with a comment appended to line `line` (clamped): a one-line edit. */
export function editLine(path: string, text: string, line: number, note = 'edited'): string {
  const lines = text.split('\n');
  const i = Math.min(Math.max(0, line), lines.length - 1);
  lines[i] = `${lines[i]} ${commentFor(path)} ${note}`;
  return lines.join('\n');
}

/** Consecutive chunks of `lines` lines of every file, interleaved one file after the other (a chunk of each in turn),
 *  near-duplicates left out as chunks.ts' select leaves them out. */
export function chunkPool(files: readonly RepoFile[], lines: number): SessionChunk[] {
  const per = files.map((f) => {
    const all = f.text.split('\n');
    const out: SessionChunk[] = [];
    for (let s = 0; s < all.length; s += lines) {
      const text = all.slice(s, s + lines).join('\n');
      if (text.trim() !== '') out.push({ id: `${f.path}:${s}`, path: f.path, text });
    }
    return out;
  });
  const pool: SessionChunk[] = [];
  const seen: Set<string>[] = [];
  for (let i = 0; per.some((p) => i < p.length); i++) {
    for (const p of per) {
      if (i >= p.length) continue;
      // near-duplicates of a chunk already taken (the license header every file of a package opens with) are left out
      const terms = new Set(identifiers(p[i]!.text));
      if (seen.some((t) => jaccard(t, terms) > NEAR_DUPLICATE)) continue;
      seen.push(terms);
      pool.push(p[i]!);
    }
  }
  return pool;
}

export interface BenchContextOptions {
  model: TransformerModel;
  ctx: GpuContext;
  modelName: string;
  fim: FimMode;
  /** Folders of source files; the latency and policy parts use the first. */
  sources: string[];
  file: string;
  contexts: number[];
  fileTokens: number;
  chunkLines: number;
  methods: ContextMethod[];
  runs: number;
  cacheReuse: number;
  policySteps: number;
  policyContext: number;
  seed: number;
  exclude: string[];
  json: boolean;
}

interface Material {
  path: string;
  text: string;
  fileTokens: number;
  pool: (SessionChunk & { tokens: number })[];
}

function material(o: BenchContextOptions): Material {
  const dir = o.sources[0]!;
  const files = repoFiles(dir, o.exclude);
  const f = files.find((x) => x.path === o.file);
  if (!f) throw new Error(`${o.file} is not among the source files of ${dir} (${files.map((x) => x.path).slice(0, 8).join(', ')}...)`);
  const tok = o.model.tokenizer;
  // the file's first lines, up to about fileTokens tokens
  const lines = f.text.split('\n');
  let text = '';
  for (const l of lines) {
    const next = `${text}${l}\n`;
    if (text !== '' && tok.encode(next).length > o.fileTokens) break;
    text = next;
  }
  const sizer = new DocumentSession(o.model, '', { maxRows: 8, fim: o.fim, contextOrder: 'ranked' });
  try {
    const pool = chunkPool(
      files.filter((x) => x.path !== f.path),
      o.chunkLines,
    ).map((c) => ({ ...c, tokens: sizer.setContext(f.path, [c], 1e9).tokens }));
    return { path: f.path, text, fileTokens: tok.encode(text).length, pool };
  } finally {
    sizer.destroy();
  }
}

/** The context orders (cache order, oldest first) of one context size: the base and each change. */
export function changesFor(pool: readonly (SessionChunk & { tokens: number })[], budget: number): { base: SessionChunk[]; changes: Record<ChangeKind, SessionChunk[]>; tokens: number } {
  const base: (SessionChunk & { tokens: number })[] = [];
  let used = 0;
  const rest: (SessionChunk & { tokens: number })[] = [];
  // the pool's chunks in order while they fit (one that does not is left for the changes), until the budget is spent
  for (const c of pool) {
    if (budget - used < 16 || used + c.tokens > budget) rest.push(c);
    else {
      base.push(c);
      used += c.tokens;
    }
  }
  if (base.length < 3) throw new Error(`only ${base.length} chunks fit in ${budget} tokens: use a larger --context-tokens or a smaller --chunk-lines`);
  if (rest.length < 2) throw new Error(`the source files have too few chunks beyond the ${budget}-token context for the changes`);
  const added = rest[0]!;
  const m = base.length >> 1;
  const mid = base[m]!;
  const replacement = rest.slice(1).reduce((best, c) => (Math.abs(c.tokens - mid.tokens) < Math.abs(best.tokens - mid.tokens) ? c : best));
  const midLines = mid.text.split('\n').length;
  const edited = { ...mid, text: editLine(mid.path, mid.text, midLines >> 1) };
  const swapped = [...base];
  [swapped[m - 1], swapped[m]] = [swapped[m]!, swapped[m - 1]!];
  return {
    base,
    tokens: used,
    changes: {
      added: [...base, added],
      dropped: base.slice(1),
      replaced: base.map((c, j) => (j === m ? replacement : c)),
      edited: base.map((c, j) => (j === m ? edited : c)),
      reordered: swapped,
    },
  };
}

export interface LatencyResult {
  contextTokens: number;
  change: ChangeKind;
  method: string;
  medianMs: number;
  /** CPU time of this process (user + system, all threads: with a CPU driver, the GPU's work too), median. */
  medianCpuMs: number;
  rowsMoved: number;
  tokensEncoded: number;
}

/** Something that takes a context (cache order) and brings its cache up to date: a session, or llama.cpp's reuse. */
interface Runner {
  /** `change`: a change to time (false: the way back to the base context, or the first context). */
  apply(order: readonly SessionChunk[], change: boolean): Promise<{ ms: number; cpuMs: number; stats: FlushStats }>;
  destroy(): void;
}

function cpuMsSince(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

function runnerFor(o: BenchContextOptions, m: ContextMethod, mat: Material, maxRows: number): Runner {
  // 'ranked' lays the chunks out in the order given, best (last in the cache) first
  const best = (order: readonly SessionChunk[]) => [...order].reverse();
  if (m.method === 'reuse') {
    const shadow = new DocumentSession(o.model, mat.text, { method: 'full', maxRows: 8, fim: o.fim, contextOrder: 'ranked' });
    const reuse = new LlamaCppReuse(o.model, maxRows, o.cacheReuse);
    let based = false;
    return {
      async apply(order, change) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        shadow.setContext(mat.path, best(order), 1e9);
        if (change || !based) {
          await reuse.update(shadow.tokens);
          if (!based) reuse.snapshot();
          based = true;
        } else reuse.restore(); // back to the base context: a copy of its cache, as re-encoding it would cost minutes
        return { ms: performance.now() - t0, cpuMs: cpuMsSince(c0), stats: reuse.stats };
      },
      destroy() {
        shadow.destroy();
        reuse.destroy();
      },
    };
  }
  const s = new DocumentSession(o.model, mat.text, {
    method: m.method,
    maxRows,
    fim: o.fim,
    contextOrder: 'ranked',
    resyncThreshold: Infinity,
    ...(m.refreshWindow !== undefined ? { refreshWindow: m.refreshWindow } : {}),
  });
  let first = true;
  return {
    async apply(order, change) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      s.setContext(mat.path, best(order), 1e9);
      // 'full' re-encodes everything at its next flush whatever came before: going back needs no flush
      if (change || first || m.method !== 'full') await s.flush();
      first = false;
      return { ms: performance.now() - t0, cpuMs: cpuMsSince(c0), stats: s.stats };
    },
    destroy() {
      s.destroy();
    },
  };
}

export async function benchLatency(o: BenchContextOptions, mat: Material, log: (s: string) => void): Promise<LatencyResult[]> {
  const out: LatencyResult[] = [];
  const maxChunk = Math.max(...mat.pool.map((c) => c.tokens));
  for (const n of o.contexts) {
    const { base, changes, tokens } = changesFor(mat.pool, n);
    const maxRows = tokens + mat.fileTokens + 2 * maxChunk + 128;
    // every method's cache side by side, each change timed for one method after the other: a machine that gets
    // busier during the run slows all methods alike
    const runners = o.methods.map((m) => runnerFor(o, m, mat, maxRows));
    try {
      for (const r of runners) {
        await r.apply(base, false);
        // one warm-up change: the pipelines of a batch of this size and of the re-rotation
        await r.apply(changes.added, true);
        await r.apply(base, false);
      }
      for (const kind of CHANGE_KINDS) {
        const times: number[][] = o.methods.map(() => []);
        const cpu: number[][] = o.methods.map(() => []);
        const stats: (FlushStats | null)[] = o.methods.map(() => null);
        for (let run = 0; run < o.runs; run++) {
          for (const [j, r] of runners.entries()) {
            const x = await r.apply(changes[kind], true);
            times[j]!.push(x.ms);
            cpu[j]!.push(x.cpuMs);
            stats[j] = x.stats;
            await r.apply(base, false);
          }
        }
        o.methods.forEach((m, j) => {
          out.push({ contextTokens: n, change: kind, method: m.label, medianMs: median(times[j]!), medianCpuMs: median(cpu[j]!), rowsMoved: stats[j]!.rowsMoved, tokensEncoded: stats[j]!.tokensEncoded });
        });
        log(`context ${n} (${tokens} tokens), ${kind}: ${o.methods.map((m, j) => `${m.label} ${median(times[j]!).toFixed(1)} ms (CPU ${median(cpu[j]!).toFixed(0)} ms; moved ${stats[j]!.rowsMoved}, encoded ${stats[j]!.tokensEncoded})`).join(', ')}`);
      }
    } finally {
      for (const r of runners) r.destroy();
    }
  }
  return out;
}

export interface PolicyResult {
  order: 'stable' | 'ranked';
  steps: number;
  rowsMoved: number;
  tokensEncoded: number;
  totalMs: number;
  medianMs: number;
  /** Per kind of change: steps, rows moved, tokens encoded, ms. */
  byKind: Record<string, { steps: number; rowsMoved: number; tokensEncoded: number; ms: number }>;
}

const POLICY_KINDS = ['add', 'drop', 'replace', 'edit', 'rerank'] as const;

/** The seeded change sequence of the ordering-policy run: each step's kind and the ranked list after it (best first). */
export function policySequence(pool: readonly SessionChunk[], steps: number, seed: number, initial: number): { kind: string; ranked: SessionChunk[] }[] {
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  let ranked = pool.slice(0, initial);
  let next = initial;
  let edits = 0;
  const out: { kind: string; ranked: SessionChunk[] }[] = [];
  for (let s = 0; s < steps; s++) {
    let kind: string = POLICY_KINDS[pick(POLICY_KINDS.length)]!;
    if ((kind === 'add' || kind === 'replace') && next >= pool.length) kind = 'rerank';
    if (kind === 'drop' && ranked.length < 3) kind = 'add';
    ranked = [...ranked];
    if (kind === 'add') ranked.splice(pick(ranked.length + 1), 0, pool[next++]!);
    else if (kind === 'drop') ranked.splice(pick(ranked.length), 1);
    else if (kind === 'replace') ranked[pick(ranked.length)] = pool[next++]!;
    else if (kind === 'edit') {
      const i = pick(ranked.length);
      const c = ranked[i]!;
      ranked[i] = { ...c, text: editLine(c.path, c.text, pick(c.text.split('\n').length), `edit ${++edits}`) };
    } else {
      const [c] = ranked.splice(pick(ranked.length), 1);
      ranked.splice(pick(ranked.length + 1), 0, c!);
    }
    out.push({ kind, ranked });
  }
  return out;
}

export async function benchPolicy(o: BenchContextOptions, mat: Material): Promise<PolicyResult[]> {
  // a ranked list of about 1.5 budgets: which chunks fit changes with the ranking too
  let initial = 0;
  for (let t = 0; initial < mat.pool.length && t < 1.5 * o.policyContext; initial++) t += mat.pool[initial]!.tokens;
  const seq = policySequence(mat.pool, o.policySteps, o.seed, initial);
  const maxChunk = Math.max(...mat.pool.map((c) => c.tokens));
  const out: PolicyResult[] = [];
  for (const order of ['stable', 'ranked'] as const) {
    const s = new DocumentSession(o.model, mat.text, { maxRows: o.policyContext + mat.fileTokens + 2 * maxChunk + 128, fim: o.fim, contextOrder: order, resyncThreshold: Infinity });
    try {
      s.setContext(mat.path, mat.pool.slice(0, initial), o.policyContext);
      await s.flush();
      const res: PolicyResult = { order, steps: seq.length, rowsMoved: 0, tokensEncoded: 0, totalMs: 0, medianMs: 0, byKind: {} };
      const times: number[] = [];
      for (const { kind, ranked } of seq) {
        const t0 = performance.now();
        s.setContext(mat.path, ranked, o.policyContext);
        await s.flush();
        const ms = performance.now() - t0;
        times.push(ms);
        const k = (res.byKind[kind] ??= { steps: 0, rowsMoved: 0, tokensEncoded: 0, ms: 0 });
        k.steps++;
        k.rowsMoved += s.stats.rowsMoved;
        k.tokensEncoded += s.stats.tokensEncoded;
        k.ms += ms;
        res.rowsMoved += s.stats.rowsMoved;
        res.tokensEncoded += s.stats.tokensEncoded;
        res.totalMs += ms;
      }
      res.medianMs = median(times);
      out.push(res);
    } finally {
      s.destroy();
    }
  }
  return out;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export async function benchContext(o: BenchContextOptions): Promise<void> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const mat = material(o);
  const latency = await benchLatency(o, mat, log);
  const policy = o.policySteps > 0 ? await benchPolicy(o, mat) : [];
  const source = o.sources[0]!.startsWith(projectRoot()) ? o.sources[0]!.slice(projectRoot().length + 1) : o.sources[0]!;
  console.log(
    `device: ${o.ctx.describe()}; model ${o.modelName}; the file ${source}/${mat.path} (first ${mat.fileTokens} tokens, cursor at the end) behind ` +
      `${o.chunkLines}-line chunks of the other files; median of ${o.runs} runs (after one warm-up change); from the context change to the next token's logits; in brackets, how many times sooner than full`,
  );
  const full = o.methods.find((m) => m.method === 'full')?.label;
  const cell = (x: LatencyResult | undefined, f: LatencyResult | undefined) => (x ? `${x.medianMs.toFixed(1)}${f && x !== f ? ` (${(f.medianMs / x.medianMs).toFixed(1)}x)` : ''}` : '');
  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  const counts: string[][] = [];
  for (const n of o.contexts) {
    for (const kind of CHANGE_KINDS) {
      const cells = latency.filter((x) => x.contextTokens === n && x.change === kind);
      const f = cells.find((x) => x.method === full);
      rows.push([String(n), kind, ...o.methods.map((m) => cell(cells.find((x) => x.method === m.label), f))]);
      cpuRows.push([String(n), kind, ...o.methods.map((m) => {
        const x = cells.find((c) => c.method === m.label);
        return x ? `${x.medianCpuMs.toFixed(0)}${f && x !== f ? ` (${(f.medianCpuMs / x.medianCpuMs).toFixed(1)}x)` : ''}` : '';
      })]);
      counts.push([String(n), kind, ...o.methods.map((m) => {
        const x = cells.find((c) => c.method === m.label);
        return x ? `${x.rowsMoved} / ${x.tokensEncoded}` : '';
      })]);
    }
  }
  printTable(['context', 'change', ...o.methods.map((m) => `${m.label} ms`)], rows);
  console.log('\nCPU time of the process for the same changes (user + system, every thread: on a CPU driver the GPU work is in it), median ms:');
  printTable(['context', 'change', ...o.methods.map((m) => `${m.label} CPU ms`)], cpuRows);
  console.log('\nrows moved / tokens encoded:');
  printTable(['context', 'change', ...o.methods.map((m) => m.label)], counts);
  if (policy.length) {
    console.log(`\nordering policy: ${o.policySteps} seeded random context changes (seed ${o.seed}), budget ${o.policyContext} tokens, pie:`);
    printTable(
      ['order', 'steps', 'rows moved', 'tokens encoded', 'total ms', 'median ms per change'],
      policy.map((p) => [p.order, String(p.steps), String(p.rowsMoved), String(p.tokensEncoded), p.totalMs.toFixed(0), p.medianMs.toFixed(1)]),
    );
    const kinds = [...new Set(policy.flatMap((p) => Object.keys(p.byKind)))].sort();
    printTable(
      ['change', 'steps', ...policy.flatMap((p) => [`${p.order} moved`, `${p.order} encoded`, `${p.order} ms`])],
      kinds.map((k) => [k, String(policy[0]!.byKind[k]?.steps ?? 0), ...policy.flatMap((p) => {
        const x = p.byKind[k];
        return x ? [String(x.rowsMoved), String(x.tokensEncoded), x.ms.toFixed(0)] : ['0', '0', '0'];
      })]),
    );
  }
  console.log(
    JSON.stringify({
      device: o.ctx.describe(),
      model: o.modelName,
      source,
      file: mat.path,
      fileTokens: mat.fileTokens,
      chunkLines: o.chunkLines,
      runs: o.runs,
      cacheReuse: o.cacheReuse,
      results: latency.map((x) => ({ ...x, medianMs: r3(x.medianMs), medianCpuMs: r3(x.medianCpuMs) })),
      policy: policy.map((p) => ({ ...p, totalMs: r3(p.totalMs), medianMs: r3(p.medianMs), byKind: Object.fromEntries(Object.entries(p.byKind).map(([k, v]) => [k, { ...v, ms: r3(v.ms) }])) })),
    }),
  );
}

// ---- fidelity ----

export const FIDELITY_KINDS = ['chunk added', 'chunk dropped', 'chunk replaced', 'chunk edited', 'file edited'] as const;

export interface FidelityOptions {
  model: TransformerModel;
  ctx: GpuContext;
  modelName: string;
  fim: FimMode;
  sources: string[];
  exclude: string[];
  methods: ContextMethod[];
  traces: number;
  rounds: number;
  seed: number;
  contextTokens: number;
  prefixTokens: number;
  chunkLines: number;
  json: boolean;
}

interface FidelityStep {
  source: string;
  trace: number;
  /** 1-based: the changes of round r come after 5 * (r - 1) earlier ones in the same session. */
  round: number;
  kind: string;
  method: string;
  kl: number;
  top1: boolean;
  same: boolean;
  tokensEncoded: number;
  rowsMoved: number;
  fullTokens: number;
}

/** The most tokens a chunk added in a fidelity trace may have (so that the prompt stays within the model's context). */
const ADD_MAX_TOKENS = 400;

export async function benchFidelity(o: FidelityOptions): Promise<void> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const tok = o.model.tokenizer;
  const count = (s: string) => tok.encode(s).length;
  const steps: FidelityStep[] = [];
  const t0 = performance.now();
  const root = projectRoot();
  for (const dir of o.sources) {
    const files = repoFiles(dir, o.exclude);
    const name = dir.startsWith(root) ? dir.slice(root.length + 1) : dir;
    if (files.length < 2) throw new Error(`${dir}: fewer than 2 source files`);
    const r = rng(o.seed);
    // cases with some of the file before the cursor (16 lines at least) where the package has them
    const drawn = pickCases(files, o.traces * 20, o.seed);
    const cases = [...drawn.filter((x) => x.line >= 16), ...drawn.filter((x) => x.line < 16)].slice(0, o.traces);
    for (const [t, c] of cases.entries()) {
      const prefix = capPrefix(c.prefix, o.prefixTokens, count);
      const base = contextFor(files, c, o.contextTokens, o.chunkLines, (s) => count(s) + 4);
      const chosen = new Set(base.map((x) => x.id));
      const prefixLines = c.prefix.split('\n');
      const query = prefixLines.slice(Math.max(0, prefixLines.length - 33)).join('\n');
      const reserve = rank(contextCandidates(files, c, o.chunkLines), query).filter((x) => !chosen.has(x.id) && count(`${x.path}\n${x.text}`) <= ADD_MAX_TOKENS);
      let current: SessionChunk[] = base.map((x) => ({ id: x.id, path: x.path, text: x.text }));
      const sessions = o.methods.map((m) => {
        if (m.method === 'reuse') throw new Error('--fidelity compares session methods (pie, pie:N, cfe, prefix)');
        return new DocumentSession(o.model, prefix, { method: m.method, fim: o.fim, resyncThreshold: Infinity, ...(m.refreshWindow !== undefined ? { refreshWindow: m.refreshWindow } : {}) });
      });
      try {
        for (const s of sessions) {
          s.setContext(c.path, current, 1e9);
          await s.complete({ maxTokens: 1 });
        }
        const s0 = sessions[0]!;
        for (let round = 0; round < o.rounds; round++) {
          for (const kind of FIDELITY_KINDS) {
            const cacheOrder = s0.contextChunks.map((x) => x.id);
            const mid = cacheOrder[cacheOrder.length >> 1];
            if (kind === 'chunk added') {
              const x = reserve.shift();
              if (!x) continue;
              current = [{ id: x.id, path: x.path, text: x.text }, ...current];
            } else if (kind === 'chunk dropped') {
              if (cacheOrder.length < 2) continue;
              current = current.filter((x) => x.id !== cacheOrder[0]);
            } else if (kind === 'chunk replaced') {
              const y = reserve.shift();
              if (!y || mid === undefined) continue;
              current = current.map((x) => (x.id === mid ? { id: y.id, path: y.path, text: y.text } : x));
            } else if (kind === 'chunk edited') {
              if (mid === undefined) continue;
              current = current.map((x) => (x.id === mid ? { ...x, text: editLine(x.path, x.text, Math.floor(r() * x.text.split('\n').length), `edit ${round}`) } : x));
            }
            let edit: { rangeOffset: number; rangeLength: number; text: string } | null = null;
            if (kind === 'file edited') {
              const lines = s0.text.split('\n');
              const at = Math.floor(lines.length * (0.25 + 0.5 * r()));
              const offset = lines.slice(0, at).reduce((n, l) => n + l.length + 1, 0);
              edit = { rangeOffset: offset, rangeLength: 0, text: `${commentFor(c.path)} note ${round}\n` };
            }
            const results: { got: Completion; stats: FlushStats }[] = [];
            for (const s of sessions) {
              if (edit) s.applyEdits([edit]);
              else s.setContext(c.path, current, 1e9);
              const got = await s.complete({ maxTokens: 16, topLogprobs: 1 });
              results.push({ got, stats: s.stats });
            }
            // a full recomputation of the same prompt (what verify.ts' fullRecomputation builds), completed the same way
            const f = new DocumentSession(o.model, s0.text, { method: 'full', maxRows: s0.cache.maxRows, fim: s0.fim, layout: s0.layoutFormat });
            try {
              f.moveCursor(s0.cursor);
              f.copyContextFrom(s0);
              if (f.tokens.length !== s0.tokens.length || f.tokens.some((x, i) => x !== s0.tokens[i])) throw new Error('the token mirror differs from a fresh tokenization');
              const want = await f.complete({ maxTokens: 16, topLogprobs: 1 });
              o.methods.forEach((m, i) => {
                const { got, stats } = results[i]!;
                steps.push({
                  source: name,
                  trace: t,
                  round: round + 1,
                  kind,
                  method: m.label,
                  kl: klDivergence(want.logprobs!, got.logprobs!),
                  top1: want.top[0]?.id === got.top[0]?.id,
                  same: want.tokens.length === got.tokens.length && want.tokens.every((x, j) => x === got.tokens[j]),
                  tokensEncoded: stats.tokensEncoded,
                  rowsMoved: stats.rowsMoved,
                  fullTokens: f.stats.tokensEncoded,
                });
              });
            } finally {
              f.destroy();
            }
            log(`${name} ${c.path}:${c.line + 1} ${kind}: ${steps.slice(-o.methods.length).map((x) => `${x.method} KL ${x.kl.toExponential(2)}${x.top1 ? '' : ' top1 DIFF'}`).join(', ')}`);
          }
        }
      } finally {
        for (const s of sessions) s.destroy();
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const rows: string[][] = [];
  const summary: Record<string, unknown>[] = [];
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const groups: [string, (x: FidelityStep) => boolean][] = [
    ...FIDELITY_KINDS.map((k): [string, (x: FidelityStep) => boolean] => [k, (x) => x.kind === k]),
    ...Array.from({ length: o.rounds }, (_, r): [string, (x: FidelityStep) => boolean] => [`all, round ${r + 1}`, (x) => x.round === r + 1]),
    ['all', () => true],
  ];
  for (const [kind, inGroup] of groups) {
    for (const m of o.methods) {
      const xs = steps.filter((x) => x.method === m.label && inGroup(x));
      if (!xs.length) continue;
      const s = {
        kind,
        method: m.label,
        steps: xs.length,
        meanKL: xs.reduce((a, x) => a + x.kl, 0) / xs.length,
        maxKL: Math.max(...xs.map((x) => x.kl)),
        top1Agreement: xs.filter((x) => x.top1).length / xs.length,
        completionExactMatch: xs.filter((x) => x.same).length / xs.length,
        meanTokensEncoded: xs.reduce((a, x) => a + x.tokensEncoded, 0) / xs.length,
        meanFullTokens: xs.reduce((a, x) => a + x.fullTokens, 0) / xs.length,
      };
      summary.push(s);
      rows.push([kind, m.label, String(s.steps), s.meanKL.toExponential(2), s.maxKL.toExponential(2), pct(s.top1Agreement), pct(s.completionExactMatch), `${s.meanTokensEncoded.toFixed(0)} / ${s.meanFullTokens.toFixed(0)}`]);
    }
  }
  const names = o.sources.map((d) => (d.startsWith(root) ? d.slice(root.length + 1) : d));
  console.log(
    `device: ${o.ctx.describe()}; model ${o.modelName}; ${names.length} packages (${names.join(', ')}), ${o.traces} traces each of ${o.rounds} rounds of ${FIDELITY_KINDS.length} changes (seed ${o.seed}); ` +
      `each method against a full recomputation; ${seconds.toFixed(0)} s`,
  );
  printTable(['change', 'method', 'steps', 'mean KL', 'max KL', 'top-1', 'exact 16-token completion', 'tokens encoded (method / full)'], rows);
  console.log(JSON.stringify({ device: o.ctx.describe(), model: o.modelName, sources: names, traces: o.traces, rounds: o.rounds, seed: o.seed, results: summary, steps: steps.map((x) => ({ ...x, kl: Number(x.kl.toExponential(4)) })) }));
}

/** The default --source, as a path. */
export function defaultSource(): string {
  return join(projectRoot(), DEFAULT_SOURCE);
}
