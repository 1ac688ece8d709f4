// One document: its text and tokens (two token mirrors, split at the cursor), its rows in the resident KV cache, and
// completion at the cursor. Edits only update the mirrors; the next completion (or flush()) turns everything that
// changed since the last one into one plan: kept rows whose position changed are re-rotated in one fused dispatch
// (pie_rekey), dropped rows are freed, and every new token is encoded in one batched forward pass at its position.
//
// The cache layout, in positions, by FIM mode (the sentinels only for models that have them; Bavarian et al. 2022's
// two orders):
//   'psm'  [BOS] <PRE> prefix <SUF> suffix <MID>    moving the cursor is an edit like any other (<SUF> moves); typing
//                                                  at the cursor moves every suffix row
//   'spm'  [BOS] <PRE> <SUF> suffix <MID> prefix    the middle continues the prefix; typing at the cursor appends, and
//                                                  moving the cursor moves the text in between from one side to the
//                                                  other (its rows dropped there, its tokens encoded here)
//   'off'  [BOS] prefix suffix                     left to right: a completion continues the prefix, the suffix rows
//                                                  hidden (position -1) while it decodes and restored after
//
// Workspace context (setContext): chunks of other files go ahead of the file, in the model's repository-level format
// (prompt-layout.ts): [BOS] [head] [chunk 1] ... [chunk n] [file header] [the FIM layout above]. Each chunk is a
// segment of its own in the token diff, matched by its id: a chunk added, dropped, replaced or moved, and an edit
// inside a chunk's text, change only that segment's rows, and every row after the change is re-rotated as after any
// edit. With no chunks the layout is exactly the one above.
//
// A completion's generated rows are kept, hidden, until the next edit, completion or resync: accept() inserts its
// text as an edit and hands those rows to the inserted tokens, so the next flush rotates them into place instead of
// encoding them ('off' and 'spm': they already sit at their positions, with the context they were decoded in; 'psm':
// they move from after the middle sentinel to before the suffix sentinel).
//
// Methods, same API: 'pie' (re-rotate moved keys), 'cfe' (reuse moved rows without re-rotation: the paper's conflict
// fast encoding baseline), 'prefix' (reuse rows before the first change, re-encode the rest, as prefix caching does),
// 'full' (re-encode everything).
import { EngineError } from './errors.js';
import { matchTokens } from './kv/diff.js';
import { type TextChange, TokenMirror } from './kv/mirror.js';
import type { KvCache } from './kv/cache.js';
import { KeyRotator } from './kv/rotate.js';
import type { TransformerModel } from './model/model.js';
import { type PromptLayout, promptLayout } from './prompt-layout.js';
import { Sampler, type SamplerOptions } from './sampler.js';
import { FIM_MODES, type FimMode } from '../protocol/settings.js';

export type Method = 'pie' | 'cfe' | 'prefix' | 'full';
export { FIM_MODES, type FimMode };
export const METHODS: readonly Method[] = ['pie', 'cfe', 'prefix', 'full'];

export interface SessionOptions {
  method?: Method;
  /** Cache rows (default: the model's context length, at most 4096). */
  maxRows?: number;
  /** FIM prompts in this order when the model has FIM tokens (default 'psm'; 'off', or no tokens: left to right). */
  fim?: FimMode;
  /** idleResync() re-encodes once this many rows are stale (default 256; Infinity: never). */
  resyncThreshold?: number;
  /**
   * 'pie' only: before a completion, re-encode the stale rows among the last `refreshWindow` tokens before the cursor
   * (default 16; 0 is PIE exactly as the paper has it). Those rows weigh most on the next token and are the ones PIE
   * leaves approximate; refreshing them costs at most this many extra tokens, whatever the context length.
   */
  refreshWindow?: number;
  /** The repository-level format workspace context is laid out in (default: the model's, from its tokenizer). */
  layout?: PromptLayout;
  /**
   * Where setContext() puts chunks: 'stable' (default) keeps the chunks already in the cache in their order and adds new
   * ones after them, nearest the file (the fewest rows moved: only those after the insertion point); 'ranked' lays
   * them out in the order given, best nearest the file (rows move whenever the ranking changes).
   */
  contextOrder?: ContextOrder;
}

/** A chunk of workspace context as the session takes it (src/context's ContextChunk carries more). */
export interface SessionChunk {
  /** Identity: the session keeps a chunk's rows while its id stays; a new text under the same id is an edit in it. */
  id: string;
  /** Workspace-relative path ('' for the clipboard). */
  path: string;
  text: string;
}

export type ContextOrder = 'stable' | 'ranked';

/** One part of the cache in position order, for the engine panel: the context's head, a chunk, or the file. */
export interface SegmentView {
  kind: 'head' | 'chunk' | 'file';
  /** The chunk's id (kind 'chunk'). */
  id?: string;
  path?: string;
  /** First position and token count. */
  start: number;
  tokens: number;
  /** Tokens whose rows the last flush kept (moved or in place) rather than encoded. */
  reused: number;
}

export interface CompleteOptions extends SamplerOptions {
  /** Where to complete (UTF-16 offset); default the cursor. */
  offset?: number;
  maxTokens?: number;
  /** Stop after this many line breaks in the completion (default: none). */
  maxLines?: number;
  /** Return the top-k next-token log-probabilities of the first generated token. */
  topLogprobs?: number;
  /** Polled before each decoding step: true stops the completion there (stopReason 'cancelled'). */
  shouldStop?: () => boolean;
  /** Stop decoding once this many ms have passed since the call (stopReason 'time'); the first token always comes. */
  maxMs?: number;
}

/** What the session has done since its cache was first built (that build not counted). */
export interface SessionTotals {
  completions: number;
  rowsMoved: number;
  tokensEncoded: number;
  /** Full re-encodes: resync(), the idle policy included. */
  resyncs: number;
}

export interface FlushStats {
  /** Rows whose keys were re-rotated (pie) or whose position changed without rotation (cfe). */
  rowsMoved: number;
  rowsDropped: number;
  tokensEncoded: number;
  /** Re-rotation dispatch and position updates (recorded and submitted; finished before the encode). */
  applyMs: number;
  /** The batched forward of the new tokens, until its last token's logits were back. */
  encodeMs: number;
}

export interface Completion {
  /** The text to insert at the cursor: the generated text, cut by the line rules (see stopReason). */
  text: string;
  /** Every generated token, the stop token excluded (the text may end before the last ones: 'maxLines', 'suffix'). */
  tokens: number[];
  /**
   * 'eos': an end-of-generation token (EOS, EOT / end of middle, or any other control token); 'maxTokens'; 'maxLines':
   * the maxLines-th line break (the text ends before it); 'suffix': a generated line equals the next non-empty line
   * after the cursor, which the model was about to repeat (the text ends before that line, see LineRules); 'context':
   * the cache is full.
   */
  stopReason: 'eos' | 'maxTokens' | 'maxLines' | 'suffix' | 'context' | 'cancelled' | 'time';
  /** log-probabilities of the first generated token's top candidates (when asked). */
  top: { id: number; logprob: number }[];
  /** Full next-token log-probabilities at the first step (when topLogprobs was asked). */
  logprobs: Float32Array | null;
  flush: FlushStats;
  /** Edit to first token: flush + first sampling. */
  firstTokenMs: number;
  totalMs: number;
}

interface Entry {
  token: number;
  /** Cache row, or -1 while not encoded. */
  row: number;
  /** The segment it belongs to: 'head', 'c:' + a chunk's id, or 'file'. Matching keeps rows within a segment. */
  seg: string;
}

/** The token sequence the cache should hold, as segments in position order. */
interface Layout {
  segments: { key: string; tokens: number[] }[];
  /** Index of the first entry after the prefix's tokens (see cursorIndex). */
  cursorIndex: number;
}

interface ContextState {
  /** The current file's workspace-relative path (the file header names it). */
  path: string;
  /** The chunks in cache order, tokenized. */
  chunks: { id: string; path: string; text: string; tokens: number[] }[];
}

/** The latest completion's generated tokens, kept for accept() until the next edit, completion or resync. */
interface Generated {
  completion: Completion;
  /**
   * Each token's row (hidden: position -1) and the position it was decoded at. The last token has no row (-1) unless a
   * stop token ended the decoding: it was sampled but never fed.
   */
  tokens: { token: number; row: number; pos: number }[];
}

export class DocumentSession {
  readonly method: Method;
  readonly resyncThreshold: number;
  readonly refreshWindow: number;
  readonly cache: KvCache;
  private prefix: TokenMirror;
  private suffix: TokenMirror;
  private entries: Entry[] = [];
  /** Row -> 1 when its content was computed before an edit at a smaller position (PIE leaves it; resync clears it). */
  private readonly stale: Uint8Array;
  private readonly freeRows: number[] = [];
  /** Rows [0, highWater) have been handed out at some point; the rest were never used. */
  private highWater = 0;
  private droppedSinceFlush = 0;
  private generated: Generated | null = null;
  private readonly fimIds: { prefix: number; suffix: number; middle: number } | null;
  /** The layout in use: the option, or 'off' for a model without FIM tokens. */
  readonly fim: FimMode;
  private readonly rotator: KeyRotator;
  private lastStats: FlushStats = { rowsMoved: 0, rowsDropped: 0, tokensEncoded: 0, applyMs: 0, encodeMs: 0 };
  private flushes = 0;
  private readonly sums: SessionTotals = { completions: 0, rowsMoved: 0, tokensEncoded: 0, resyncs: 0 };
  /** Rows the last flush re-rotated (or re-positioned) and encoded, for rowStates(). */
  private lastMoved = new Set<number>();
  private lastEncoded = new Set<number>();
  readonly layoutFormat: PromptLayout;
  readonly contextOrder: ContextOrder;
  private context: ContextState = { path: '', chunks: [] };
  /** Index of the first entry after the prefix's tokens, in the current layout. */
  private cursorAt = 0;

  constructor(
    readonly model: TransformerModel,
    text: string,
    o: SessionOptions = {},
  ) {
    this.method = o.method ?? 'pie';
    this.resyncThreshold = o.resyncThreshold ?? 256;
    this.refreshWindow = o.refreshWindow ?? 16;
    const tok = model.tokenizer;
    const f = tok.fim;
    if (o.fim !== undefined && !FIM_MODES.includes(o.fim)) throw new RangeError(`fim ${String(o.fim)}: ${FIM_MODES.join(', ')}`);
    const fim = o.fim ?? 'psm';
    this.fimIds = fim !== 'off' && f.prefix !== null && f.suffix !== null && f.middle !== null ? { prefix: f.prefix, suffix: f.suffix, middle: f.middle } : null;
    this.fim = this.fimIds ? fim : 'off';
    this.cache = model.createCache(o.maxRows ?? Math.min(model.config.contextLength, 4096));
    this.stale = new Uint8Array(this.cache.maxRows);
    this.rotator = new KeyRotator(model.ctx, model.config);
    this.layoutFormat = o.layout ?? promptLayout(tok, model.config.architecture);
    this.contextOrder = o.contextOrder ?? 'stable';
    this.prefix = new TokenMirror(tok, text);
    this.suffix = new TokenMirror(tok, '');
    const l = this.layout();
    this.entries = l.segments.flatMap(({ key, tokens }) => tokens.map((token) => ({ token, row: -1, seg: key })));
    this.cursorAt = l.cursorIndex;
  }

  get text(): string {
    return this.prefix.text + this.suffix.text;
  }

  get cursor(): number {
    return this.prefix.text.length;
  }

  /** Cached token ids in position order (sentinels included). */
  get tokens(): number[] {
    return this.entries.map((e) => e.token);
  }

  /** Rows whose content predates an edit before them. */
  /** Each cached token's row in position order: inserted or re-rotated by the last flush, stale, or fresh. */
  rowStates(): ('fresh' | 'rotated' | 'inserted' | 'stale')[] {
    return this.entries.map(({ row }) => {
      if (row < 0 || this.lastEncoded.has(row)) return 'inserted';
      if (this.lastMoved.has(row)) return 'rotated';
      return this.stale[row] ? 'stale' : 'fresh';
    });
  }

  get staleRows(): number {
    let n = 0;
    for (const e of this.entries) if (e.row >= 0 && this.stale[e.row]) n++;
    return n;
  }

  get stats(): FlushStats {
    return this.lastStats;
  }

  /** Completions, re-rotated rows, encoded tokens and full re-encodes since the cache was first built. */
  get totals(): SessionTotals {
    return { ...this.sums };
  }

  /**
   * Applies VS Code-style changes in order (each offset in the text the previous one left), all or none. Text typed at
   * the cursor goes before it, as typing does; the editor reports other cursor moves with moveCursor().
   */
  applyEdits(changes: readonly TextChange[]): void {
    let length = this.text.length;
    for (const c of changes) {
      if (!(Number.isInteger(c.rangeOffset) && Number.isInteger(c.rangeLength) && c.rangeOffset >= 0 && c.rangeLength >= 0 && c.rangeOffset + c.rangeLength <= length)) {
        throw new RangeError(`change [${c.rangeOffset}, +${c.rangeLength}) outside the text (length ${length})`);
      }
      length += c.text.length - c.rangeLength;
    }
    for (const c of changes) this.applyOne(c);
  }

  private applyOne(c: TextChange): void {
    const p = this.cursor;
    const end = c.rangeOffset + c.rangeLength;
    if (end <= p) {
      this.prefix.apply([c]);
    } else if (c.rangeOffset >= p) {
      this.suffix.apply([{ ...c, rangeOffset: c.rangeOffset - p }]);
    } else {
      // the change straddles the cursor: the prefix loses its tail, the suffix its head; the new text joins the prefix
      this.prefix.apply([{ rangeOffset: c.rangeOffset, rangeLength: p - c.rangeOffset, text: c.text }]);
      this.suffix.apply([{ rangeOffset: 0, rangeLength: end - p, text: '' }]);
    }
    this.sync();
  }

  /** Moves the cursor (an edit of the cache: text moves between the prefix and the suffix). */
  moveCursor(offset: number): void {
    const text = this.text;
    if (!(offset >= 0 && offset <= text.length)) throw new RangeError(`cursor ${offset} outside the text (length ${text.length})`);
    const p = this.cursor;
    if (offset < p) {
      const moved = this.prefix.text.slice(offset);
      this.prefix.apply([{ rangeOffset: offset, rangeLength: p - offset, text: '' }]);
      this.suffix.apply([{ rangeOffset: 0, rangeLength: 0, text: moved }]);
    } else if (offset > p) {
      const moved = this.suffix.text.slice(0, offset - p);
      this.suffix.apply([{ rangeOffset: 0, rangeLength: offset - p, text: '' }]);
      this.prefix.apply([{ rangeOffset: p, rangeLength: 0, text: moved }]);
    }
    this.sync();
  }

  /** Index of the first entry after the prefix's tokens: the FIM suffix sentinel, the first suffix token, or (spm) the end. */
  private get cursorIndex(): number {
    return this.cursorAt;
  }

  /** The token sequence the cache should hold, in position order. */
  private layout(): Layout {
    const tok = this.model.tokenizer;
    const lf = this.layoutFormat;
    const ctx = this.context.chunks;
    const head: number[] = [];
    if (tok.addBos && tok.bos !== null) head.push(tok.bos);
    if (ctx.length) head.push(...lf.head());
    const segments: Layout['segments'] = [{ key: 'head', tokens: head }];
    for (const c of ctx) segments.push({ key: `c:${c.id}`, tokens: c.tokens });
    const named = ctx.length ? lf.file(this.context.path) : { before: [], afterPre: [] };
    const file: number[] = [...named.before];
    const f = this.fimIds;
    let cursorIndex: number;
    if (f && this.fim === 'psm') {
      file.push(f.prefix, ...named.afterPre, ...this.prefix.tokens);
      cursorIndex = file.length;
      file.push(f.suffix, ...this.suffix.tokens, f.middle);
    } else if (f) {
      file.push(f.prefix, ...named.afterPre, f.suffix, ...this.suffix.tokens, f.middle, ...this.prefix.tokens);
      cursorIndex = file.length;
    } else {
      file.push(...named.afterPre, ...this.prefix.tokens);
      cursorIndex = file.length;
      file.push(...this.suffix.tokens);
    }
    segments.push({ key: 'file', tokens: file });
    let before = 0;
    for (const sg of segments.slice(0, -1)) before += sg.tokens.length;
    return { segments, cursorIndex: before + cursorIndex };
  }

  /**
   * Sets the workspace context: `chunks` best first; those that fit in `budgetTokens` (taken in that order, a chunk
   * that does not fit skipped) are laid out ahead of the file by the context order (see SessionOptions.contextOrder).
   * `path` names the current file in the prompt. Only the cache's token diff changes now; the next flush encodes the
   * new chunks' tokens and re-rotates the rows after them. Returns the chunk ids in cache order and their tokens.
   */
  setContext(path: string, chunks: readonly SessionChunk[], budgetTokens: number): { ids: string[]; tokens: number } {
    const known = new Map(this.context.chunks.map((c) => [c.id, c]));
    const chosen: ContextState['chunks'] = [];
    const seen = new Set<string>();
    let used = 0;
    for (const c of chunks) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      const old = known.get(c.id);
      const tokens = old && old.text === c.text && old.path === c.path ? old.tokens : this.layoutFormat.chunk(c.path, c.text);
      if (used + tokens.length > budgetTokens) continue;
      used += tokens.length;
      chosen.push({ id: c.id, path: c.path, text: c.text, tokens });
    }
    let order = chosen;
    if (this.contextOrder === 'stable') {
      const rank = new Map(chosen.map((c, i) => [c.id, i]));
      const kept = this.context.chunks.filter((c) => rank.has(c.id)).map((c) => chosen[rank.get(c.id)!]!);
      const keptIds = new Set(kept.map((c) => c.id));
      // new chunks after the kept ones, the best of them nearest the file
      const added = chosen.filter((c) => !keptIds.has(c.id)).reverse();
      order = [...kept, ...added];
    } else {
      order = [...chosen].reverse(); // best nearest the file
    }
    const was = this.context.chunks;
    const same = path === this.context.path && order.length === was.length && order.every((c, i) => c.id === was[i]!.id && c.path === was[i]!.path && c.text === was[i]!.text);
    // the same context again changes nothing (the latest completion stays acceptable and continuable)
    if (!same) {
      this.context = { path, chunks: order };
      this.sync();
    }
    return { ids: order.map((c) => c.id), tokens: used };
  }

  /** Takes `other`'s context as it stands, in its cache order (a full recomputation of the same prompt). */
  copyContextFrom(other: DocumentSession): void {
    this.context = { path: other.context.path, chunks: [...other.context.chunks] };
    this.sync();
  }

  /** Tokens of the layout with no row yet: the next flush encodes them (at least). */
  get pendingTokens(): number {
    let n = 0;
    for (const e of this.entries) if (e.row < 0) n++;
    return n;
  }

  /** The chunks in cache order. */
  get contextChunks(): readonly { id: string; path: string; tokens: number }[] {
    return this.context.chunks.map((c) => ({ id: c.id, path: c.path, tokens: c.tokens.length }));
  }

  /** The cache's parts in position order (head, chunks, file) with what the last flush reused of each. */
  segments(): SegmentView[] {
    const out: SegmentView[] = [];
    const paths = new Map(this.context.chunks.map((c) => [`c:${c.id}`, c.path]));
    this.entries.forEach((e, i) => {
      let last = out[out.length - 1];
      const key = e.seg;
      if (!last || (last.kind === 'chunk' ? `c:${last.id}` : last.kind) !== key) {
        const kind = key === 'head' || key === 'file' ? key : 'chunk';
        last = { kind, start: i, tokens: 0, reused: 0, ...(kind === 'chunk' ? { id: key.slice(2), path: paths.get(key) ?? '' } : {}) };
        out.push(last);
      }
      last.tokens++;
      if (e.row >= 0 && !this.lastEncoded.has(e.row)) last.reused++;
    });
    return out;
  }

  /**
   * Re-aligns entries with the layout: tokens matched by a minimal diff keep their rows, the others are new. The text
   * changed, so the latest completion can no longer be accepted: its rows are freed.
   */
  private sync(): void {
    this.discardGenerated();
    const want = this.layout();
    const old = this.entries;
    // each segment is diffed against the old segment of the same key, wherever that sat: a moved chunk keeps its rows
    const oldSegs = new Map<string, number[]>();
    old.forEach((e, i) => {
      let list = oldSegs.get(e.seg);
      if (!list) oldSegs.set(e.seg, (list = []));
      list.push(i);
    });
    const next: Entry[] = [];
    const matches: [number, number][] = [];
    for (const { key, tokens } of want.segments) {
      const base = next.length;
      for (const token of tokens) next.push({ token, row: -1, seg: key });
      const from = oldSegs.get(key);
      if (!from) continue;
      for (const [i, j] of matchTokens(from.map((i) => old[i]!.token), tokens)) matches.push([from[i]!, base + j]);
    }
    const keptOld = new Uint8Array(old.length);
    const changed = !(matches.length === old.length && matches.length === next.length && matches.every(([i, j]) => i === j));
    // the unchanged head: leading matches at equal indices
    let head = 0;
    while (head < matches.length && matches[head]![0] === head && matches[head]![1] === head) head++;
    for (const [i, j] of matches) {
      next[j]!.row = old[i]!.row;
      keptOld[i] = 1;
      // a row after the first change was computed with a different left context: stale until re-encoded
      if (changed && j >= head && old[i]!.row >= 0) this.stale[old[i]!.row] = 1;
    }
    old.forEach((e, i) => {
      if (keptOld[i] || e.row < 0) return;
      this.release(e.row);
      this.droppedSinceFlush++;
    });
    this.entries = next;
    this.cursorAt = want.cursorIndex;
  }

  /** Frees the rows of the latest completion's generated tokens. */
  private discardGenerated(): void {
    for (const g of this.generated?.tokens ?? []) if (g.row >= 0) this.release(g.row);
    this.generated = null;
  }

  private release(row: number): void {
    this.cache.setPositions([row], [-1]);
    this.stale[row] = 0;
    this.freeRows.push(row);
  }

  private allocRow(): number {
    const r = this.freeRows.pop();
    if (r !== undefined) return r;
    if (this.highWater >= this.cache.maxRows) throw new EngineError('context-too-long', `the document needs more than the cache's ${this.cache.maxRows} rows`);
    return this.highWater++;
  }

  /**
   * Brings the cache in line with the entries: the method's plan, then one batched forward of every entry without a
   * row. Entry `logitsAt` (default the last) is always re-encoded, last in the batch, so that its logits (the next
   * token's distribution) come back.
   */
  async flush(logitsAt = this.entries.length - 1): Promise<{ logits: Float32Array | null; next: number | null }> {
    const t0 = performance.now();
    const entries = this.entries;
    const target = entries[logitsAt];
    if (!target) throw new Error('nothing to encode: an empty document in a model without BOS');
    const drop = (e: Entry) => {
      if (e.row < 0) return;
      this.release(e.row);
      e.row = -1;
    };
    if (this.method === 'full') {
      entries.forEach(drop);
    } else if (this.method === 'prefix') {
      const first = entries.findIndex((e, i) => e.row < 0 || this.cache.positions[e.row] !== i);
      if (first >= 0) entries.slice(first).forEach(drop);
    }
    drop(target);
    if (this.method === 'pie') {
      // the tokens just before the cursor: the end of the prefix
      const end = this.cursorIndex;
      for (let i = Math.max(0, end - this.refreshWindow); i < end; i++) {
        const e = entries[i]!;
        if (e.row >= 0 && this.stale[e.row]) drop(e);
      }
    }
    // kept rows whose position changed: re-rotated (pie) or only re-positioned (cfe)
    const moveRows: number[] = [];
    const moveDeltas: number[] = [];
    entries.forEach((e, i) => {
      if (e.row >= 0 && this.cache.positions[e.row] !== i) {
        moveRows.push(e.row);
        moveDeltas.push(i - this.cache.positions[e.row]!);
      }
    });
    if (moveRows.length > 0) {
      if (this.method === 'pie') this.rotator.apply(this.cache, moveRows, moveDeltas);
      this.cache.setPositions(
        moveRows,
        moveRows.map((r, j) => this.cache.positions[r]! + moveDeltas[j]!),
      );
    }
    const rowsDropped = this.droppedSinceFlush;
    this.droppedSinceFlush = 0;
    const t1 = performance.now();
    const pending = entries.map((e, i) => ({ e, i })).filter(({ e, i }) => e.row < 0 && i !== logitsAt);
    pending.push({ e: target, i: logitsAt });
    for (const { e } of pending) {
      e.row = this.allocRow();
      this.stale[e.row] = 0;
    }
    const r = await this.model.forward(
      this.cache,
      pending.map(({ e }) => e.token),
      pending.map(({ i }) => i),
      pending.map(({ e }) => e.row),
      'last',
    );
    const t2 = performance.now();
    this.lastStats = { rowsMoved: moveRows.length, rowsDropped, tokensEncoded: pending.length, applyMs: t1 - t0, encodeMs: t2 - t1 };
    if (this.flushes++ > 0) {
      this.sums.rowsMoved += moveRows.length;
      this.sums.tokensEncoded += pending.length;
    }
    this.lastMoved = new Set(moveRows);
    this.lastEncoded = new Set(pending.map(({ e }) => e.row));
    return r;
  }

  /** Re-encodes everything from scratch; afterwards the cache equals a full recomputation. */
  async resync(): Promise<FlushStats> {
    this.discardGenerated();
    for (const e of this.entries) e.row = -1;
    this.cache.clear();
    this.freeRows.length = 0;
    this.highWater = 0;
    this.stale.fill(0);
    this.droppedSinceFlush = 0;
    await this.flush();
    this.sums.resyncs++;
    this.lastEncoded.clear(); // every row now equals a full recomputation: shown as fresh, not as the last plan's inserts
    return this.lastStats;
  }

  /** The idle-time policy: re-encodes everything when the stale rows reach the threshold; says whether it did. */
  async idleResync(): Promise<boolean> {
    if (this.staleRows < this.resyncThreshold) return false;
    await this.resync();
    return true;
  }

  /**
   * Completes at the cursor (or `offset`, which moves the cursor first). The generated rows are kept, hidden, until
   * the next edit, completion or resync, for accept().
   *
   * A greedy completion asked for again with no edit since and at the same cursor continues the last one instead of
   * starting over: its tokens are taken as they are (their rows already hold them), and decoding goes on from its last
   * token. That is how a first line shown early (maxLines 1, or a time budget) is followed by the rest at the cost of
   * the rest alone. The result is what one uninterrupted greedy decode gives (its stop rules applied anew).
   */
  async complete(o: CompleteOptions = {}): Promise<Completion> {
    const t0 = performance.now();
    const sampler = new Sampler(o);
    const prev = this.generated;
    const again = prev !== null && sampler.greedy && (o.offset === undefined || o.offset === this.cursor) && !['eos', 'suffix', 'context'].includes(prev.completion.stopReason);
    // continued: the previous tokens are replayed, their rows taken over (the rest freed at the end)
    const replay = again ? prev.tokens : [];
    if (again) this.generated = null;
    else this.discardGenerated();
    if (o.offset !== undefined && o.offset !== this.cursor) this.moveCursor(o.offset);
    const entries = this.entries;
    // Generated tokens follow the prompt: with psm the middle sentinel; otherwise they continue the prefix, and without
    // FIM the suffix rows are hidden while decoding (their positions are the generated tokens').
    const promptEnd = this.fim === 'psm' ? entries.length : this.cursorIndex;
    if (promptEnd === 0) throw new Error('nothing to complete from: an empty prefix in a model without BOS');
    const first = await this.flush(promptEnd - 1);
    const flush = this.lastStats;
    if (this.flushes > 1) this.sums.completions++;
    const tok = this.model.tokenizer;
    const maxTokens = o.maxTokens ?? 64;
    const lines = new LineRules(this.prefix.text, this.suffix.text, o.maxLines);
    const hidden: { row: number; pos: number }[] = [];
    for (let i = promptEnd; i < entries.length; i++) hidden.push({ row: entries[i]!.row, pos: i });
    if (hidden.length) this.cache.setPositions(hidden.map((h) => h.row), hidden.map(() => -1));
    // the replayed rows come back at their positions for the attention of the tokens decoded after them
    const replayRows = replay.filter((g) => g.row >= 0);
    if (replayRows.length) this.cache.setPositions(replayRows.map((g) => g.row), replayRows.map((g) => g.pos));
    let ri = 0;
    let pos = promptEnd;
    const genRows: number[] = [];
    const tokens: number[] = [];
    const decoder = new TextDecoder();
    let text = '';
    let stopReason: Completion['stopReason'] = 'maxTokens';
    let logprobs: Float32Array | null = null;
    let top: Completion['top'] = [];
    let kept = false;
    try {
      const logits = first.logits!;
      let next = replay.length ? replay[0]!.token : sampler.greedy ? first.next! : sampler.sample(logits);
      if (o.topLogprobs) {
        logprobs = logSoftmax(logits);
        top = [...logprobs.keys()].sort((a, b) => logprobs![b]! - logprobs![a]! || a - b).slice(0, o.topLogprobs).map((id) => ({ id, logprob: logprobs![id]! }));
      }
      const firstTokenMs = performance.now() - t0;
      while (tokens.length < maxTokens) {
        if (tok.isEog(next) || tok.isSpecial(next)) {
          stopReason = 'eos';
          break;
        }
        tokens.push(next);
        text += decoder.decode(tok.tokenBytes(next), { stream: true });
        const cut = lines.check(text, false);
        if (cut) {
          ({ text, reason: stopReason } = cut);
          break;
        }
        if (tokens.length >= maxTokens) break;
        if (o.shouldStop?.()) {
          stopReason = 'cancelled';
          break;
        }
        if (o.maxMs !== undefined && performance.now() - t0 >= o.maxMs) {
          stopReason = 'time';
          break;
        }
        if (ri + 1 < replay.length && replay[ri]!.row >= 0) {
          // replayed: this token's row already holds it, and the token after it is known
          genRows.push(replay[ri]!.row);
          pos++;
          next = replay[++ri]!.token;
          continue;
        }
        let row: number;
        try {
          row = this.allocRow();
        } catch {
          stopReason = 'context';
          break;
        }
        genRows.push(row);
        const r = await this.model.forward(this.cache, [next], [pos++], [row], 'last');
        next = sampler.greedy ? r.next! : sampler.sample(r.logits!);
      }
      if (stopReason !== 'maxLines' && stopReason !== 'suffix') {
        text += decoder.decode();
        // a stop token ends the last line too
        const cut = stopReason === 'eos' ? lines.check(text, true) : null;
        if (cut) ({ text, reason: stopReason } = cut);
      }
      const completion: Completion = { text, tokens, stopReason, top, logprobs, flush, firstTokenMs, totalMs: performance.now() - t0 };
      if (genRows.length) this.cache.setPositions(genRows, genRows.map(() => -1));
      this.generated = { completion, tokens: tokens.map((token, j) => ({ token, row: genRows[j] ?? -1, pos: promptEnd + j })) };
      kept = true;
      return completion;
    } finally {
      if (hidden.length) this.cache.setPositions(hidden.map((h) => h.row), hidden.map((h) => h.pos));
      if (!kept) for (const r of genRows) this.release(r);
      // replayed rows the new completion did not reach (it stopped sooner)
      for (const g of replayRows) if (!genRows.includes(g.row)) this.release(g.row);
    }
  }

  /**
   * The user took `completion` (the latest, with no edit since), or its first `text` (a partial accept: a word, a
   * line): inserts that at the cursor, which ends after it, as VS Code leaves it on Tab. The generated tokens enter the
   * token diff as if they had been typed at the cursor with their rows, so the inserted tokens that match them keep
   * those rows and the next flush moves them into place (re-rotated by 'pie') instead of encoding them; rows of tokens
   * the text left out (the rest of a partial accept, text the line rules cut) are freed.
   */
  accept(completion: Completion, text = completion.text): void {
    const g = this.generated;
    if (!g || g.completion !== completion) throw new Error('accept(): not the latest completion of this session, or the text changed since');
    if (!completion.text.startsWith(text)) throw new Error('accept(): the text is not a prefix of the completion');
    this.generated = null;
    const at = this.cursorIndex;
    const rows = g.tokens.filter((t) => t.row >= 0);
    if (text !== '') {
      // Rows after the cursor get new text before them; with psm the generated rows also saw the suffix: all stale.
      // (spm: nothing follows the prefix, and the generated rows saw exactly the context they keep.)
      for (const e of this.entries.slice(at)) if (e.row >= 0) this.stale[e.row] = 1;
      if (this.fim === 'psm') for (const t of rows) this.stale[t.row] = 1;
    }
    // back at the positions they were decoded at: the flush moves them from there
    this.cache.setPositions(rows.map((t) => t.row), rows.map((t) => t.pos));
    this.entries.splice(at, 0, ...g.tokens.map(({ token, row }) => ({ token, row, seg: 'file' })));
    this.prefix.apply([{ rangeOffset: this.cursor, rangeLength: 0, text }]);
    this.sync();
  }

  destroy(): void {
    this.cache.destroy();
    this.rotator.destroy();
  }
}

export function logSoftmax(logits: Float32Array): Float32Array {
  let m = -Infinity;
  for (const v of logits) m = Math.max(m, v);
  let s = 0;
  for (const v of logits) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return logits.map((v) => v - lse);
}

/**
 * The editor's line rules over a growing completion. A line that the completion finishes (the first one together with
 * the text before the cursor on its line) that equals the next non-empty line after the cursor, both trimmed, is the
 * model repeating the text after the cursor: the completion ends before that line, and before the line break that
 * precedes it when the suffix has its own line break before that line, so that inserting the text leaves the lines as
 * the model wrote them. Otherwise the completion ends at its maxLines-th line break (excluded).
 */
class LineRules {
  /** The text before the cursor on the cursor's line. */
  private readonly head: string;
  /** The next non-empty line after the cursor, trimmed ('' when there is none). */
  private readonly repeat: string;
  /** Whether the suffix has a line break before that line. */
  private readonly breakBefore: boolean;
  /** Where the current, unfinished line of the completion starts. */
  private from = 0;
  private breaks = 0;

  constructor(
    prefix: string,
    suffix: string,
    private readonly maxLines = Infinity,
  ) {
    this.head = prefix.slice(prefix.lastIndexOf('\n') + 1);
    const lines = suffix.split('\n');
    const i = lines.findIndex((l) => l.trim() !== '');
    this.repeat = i >= 0 ? lines[i]!.trim() : '';
    this.breakBefore = i > 0;
  }

  /** Checks the lines finished since the last call (with `final`, the last one as well): the cut text, or null. */
  check(text: string, final: boolean): { text: string; reason: 'maxLines' | 'suffix' } | null {
    for (;;) {
      const nl = text.indexOf('\n', this.from);
      if (nl < 0 && !final) return null;
      const line = (this.from === 0 ? this.head : '') + text.slice(this.from, nl < 0 ? text.length : nl);
      if (this.repeat !== '' && line.trim() === this.repeat) {
        const keep = text.slice(0, this.from);
        return { text: this.breakBefore && keep.endsWith('\n') ? keep.slice(0, -1) : keep, reason: 'suffix' };
      }
      if (nl < 0) return null;
      if (++this.breaks >= this.maxLines) return { text: text.slice(0, nl), reason: 'maxLines' };
      this.from = nl + 1;
    }
  }
}
