// One document: its text and tokens (two token mirrors, split at the cursor), its rows in the resident KV cache, and
// completion at the cursor. Edits only update the mirrors; the next completion (or flush()) turns everything that
// changed since the last one into one plan: kept rows whose position changed are re-rotated in one fused dispatch
// (pie_rekey), dropped rows are freed, and every new token is encoded in one batched forward pass at its position.
//
// The cache layout, in positions: [BOS] [FIM prefix sentinel] prefix tokens [FIM suffix sentinel] suffix tokens
// [FIM middle sentinel]; the FIM sentinels only for models that have them (prefix-suffix-middle order), so moving the
// cursor is an edit like any other (the suffix sentinel moves). Without FIM, a completion continues the prefix: the
// suffix rows are hidden (position -1) while it decodes, and restored after.
//
// Methods, same API: 'pie' (re-rotate moved keys), 'cfe' (reuse moved rows without re-rotation: the paper's conflict
// fast encoding baseline), 'prefix' (reuse rows before the first change, re-encode the rest, as prefix caching does),
// 'full' (re-encode everything).
import { matchTokens } from './kv/diff.js';
import { type TextChange, TokenMirror } from './kv/mirror.js';
import type { KvCache } from './kv/cache.js';
import { packMoves, pieRekey } from './kernels/pie_rekey.js';
import type { LlamaModel } from './model/model.js';
import { Sampler, type SamplerOptions } from './sampler.js';

export type Method = 'pie' | 'cfe' | 'prefix' | 'full';
export const METHODS: readonly Method[] = ['pie', 'cfe', 'prefix', 'full'];

export interface SessionOptions {
  method?: Method;
  /** Cache rows (default: the model's context length, at most 4096). */
  maxRows?: number;
  /** Use the model's FIM tokens when it has them (default true). */
  fim?: boolean;
  /** idleResync() re-encodes once this many rows are stale (default 256; Infinity: never). */
  resyncThreshold?: number;
}

export interface CompleteOptions extends SamplerOptions {
  /** Where to complete (UTF-16 offset); default the cursor. */
  offset?: number;
  maxTokens?: number;
  /** Stop after this many line breaks in the completion (default: none). */
  maxLines?: number;
  /** Return the top-k next-token log-probabilities of the first generated token. */
  topLogprobs?: number;
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
  text: string;
  tokens: number[];
  stopReason: 'eos' | 'maxTokens' | 'maxLines' | 'context';
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
}

export class DocumentSession {
  readonly method: Method;
  readonly resyncThreshold: number;
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
  private readonly fimIds: { prefix: number; suffix: number; middle: number } | null;
  private movesBuf: GPUBuffer | null = null;
  private lastStats: FlushStats = { rowsMoved: 0, rowsDropped: 0, tokensEncoded: 0, applyMs: 0, encodeMs: 0 };

  constructor(
    readonly model: LlamaModel,
    text: string,
    o: SessionOptions = {},
  ) {
    this.method = o.method ?? 'pie';
    this.resyncThreshold = o.resyncThreshold ?? 256;
    const tok = model.tokenizer;
    const f = tok.fim;
    this.fimIds = (o.fim ?? true) && f.prefix !== null && f.suffix !== null && f.middle !== null ? { prefix: f.prefix, suffix: f.suffix, middle: f.middle } : null;
    this.cache = model.createCache(o.maxRows ?? Math.min(model.config.contextLength, 4096));
    this.stale = new Uint8Array(this.cache.maxRows);
    this.prefix = new TokenMirror(tok, text);
    this.suffix = new TokenMirror(tok, '');
    this.entries = this.layout().map((token) => ({ token, row: -1 }));
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
  get staleRows(): number {
    let n = 0;
    for (const e of this.entries) if (e.row >= 0 && this.stale[e.row]) n++;
    return n;
  }

  get stats(): FlushStats {
    return this.lastStats;
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

  /** The token sequence the cache should hold, in position order. */
  private layout(): number[] {
    const tok = this.model.tokenizer;
    const out: number[] = [];
    if (tok.addBos && tok.bos !== null) out.push(tok.bos);
    const f = this.fimIds;
    if (f) out.push(f.prefix, ...this.prefix.tokens, f.suffix, ...this.suffix.tokens, f.middle);
    else out.push(...this.prefix.tokens, ...this.suffix.tokens);
    return out;
  }

  /** Re-aligns entries with the layout: tokens matched by a minimal diff keep their rows, the others are new. */
  private sync(): void {
    const want = this.layout();
    const old = this.entries;
    const matches = matchTokens(
      old.map((e) => e.token),
      want,
    );
    const next: Entry[] = want.map((token) => ({ token, row: -1 }));
    const keptOld = new Uint8Array(old.length);
    const changed = !(matches.length === old.length && matches.length === want.length);
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
  }

  private release(row: number): void {
    this.cache.setPositions([row], [-1]);
    this.stale[row] = 0;
    this.freeRows.push(row);
  }

  private allocRow(): number {
    const r = this.freeRows.pop();
    if (r !== undefined) return r;
    if (this.highWater >= this.cache.maxRows) throw new RangeError(`the document needs more than the cache's ${this.cache.maxRows} rows`);
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
      if (this.method === 'pie') this.rekey(moveRows, moveDeltas);
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
    return r;
  }

  private rekey(rows: number[], deltas: number[]): void {
    const ctx = this.model.ctx;
    const packed = packMoves(rows, deltas);
    if (!this.movesBuf || this.movesBuf.size < packed.byteLength) {
      this.movesBuf?.destroy();
      this.movesBuf = ctx.buffer(Math.max(packed.byteLength, 4096), 'pie.moves');
    }
    ctx.write(this.movesBuf, packed);
    const c = this.model.config;
    const b = ctx.batch('pie_rekey');
    pieRekey(b, this.cache.k, this.movesBuf, {
      nMoves: rows.length,
      nLayers: c.nLayers,
      nKvHeads: c.nKvHeads,
      maxRows: this.cache.maxRows,
      headDim: c.headDim,
      ropeDim: c.ropeDim,
      base: c.ropeBase,
      scale: c.ropeScale,
      layout: c.ropeLayout,
    });
    b.submit();
  }

  /** Re-encodes everything from scratch; afterwards the cache equals a full recomputation. */
  async resync(): Promise<FlushStats> {
    for (const e of this.entries) e.row = -1;
    this.cache.clear();
    this.freeRows.length = 0;
    this.highWater = 0;
    this.stale.fill(0);
    this.droppedSinceFlush = 0;
    await this.flush();
    return this.lastStats;
  }

  /** The idle-time policy: re-encodes everything when the stale rows reach the threshold; says whether it did. */
  async idleResync(): Promise<boolean> {
    if (this.staleRows < this.resyncThreshold) return false;
    await this.resync();
    return true;
  }

  /** Completes at the cursor (or `offset`, which moves the cursor first). Generated rows are dropped afterwards. */
  async complete(o: CompleteOptions = {}): Promise<Completion> {
    const t0 = performance.now();
    if (o.offset !== undefined && o.offset !== this.cursor) this.moveCursor(o.offset);
    const entries = this.entries;
    // Without FIM, generated tokens continue the prefix: its last token predicts the first one, and the suffix rows are
    // hidden while decoding (their positions are the generated tokens').
    const promptEnd = this.fimIds ? entries.length : entries.length - this.suffix.tokens.length;
    if (promptEnd === 0) throw new Error('nothing to complete from: an empty prefix in a model without BOS');
    const first = await this.flush(promptEnd - 1);
    const flush = this.lastStats;
    const tok = this.model.tokenizer;
    const sampler = new Sampler(o);
    const maxTokens = o.maxTokens ?? 64;
    const hidden: { row: number; pos: number }[] = [];
    for (let i = promptEnd; i < entries.length; i++) hidden.push({ row: entries[i]!.row, pos: i });
    if (hidden.length) this.cache.setPositions(hidden.map((h) => h.row), hidden.map(() => -1));
    let pos = promptEnd;
    const genRows: number[] = [];
    const tokens: number[] = [];
    const decoder = new TextDecoder();
    let text = '';
    let stopReason: Completion['stopReason'] = 'maxTokens';
    let logprobs: Float32Array | null = null;
    let top: Completion['top'] = [];
    let firstTokenMs = 0;
    try {
      const logits = first.logits!;
      let next = sampler.greedy ? first.next! : sampler.sample(logits);
      if (o.topLogprobs) {
        logprobs = logSoftmax(logits);
        top = [...logprobs.keys()].sort((a, b) => logprobs![b]! - logprobs![a]! || a - b).slice(0, o.topLogprobs).map((id) => ({ id, logprob: logprobs![id]! }));
      }
      firstTokenMs = performance.now() - t0;
      const eot = new Set([tok.eos, tok.fim.pad ?? null].filter((x): x is number => x !== null));
      while (tokens.length < maxTokens) {
        if (eot.has(next) || tok.isSpecial(next)) {
          stopReason = 'eos';
          break;
        }
        tokens.push(next);
        text += decoder.decode(tok.tokenBytes(next), { stream: true });
        if (o.maxLines !== undefined && (text.match(/\n/g)?.length ?? 0) >= o.maxLines) {
          text = text.split('\n').slice(0, o.maxLines).join('\n');
          stopReason = 'maxLines';
          break;
        }
        if (tokens.length >= maxTokens) break;
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
      text += decoder.decode();
    } finally {
      for (const r of genRows) this.release(r);
      if (hidden.length) this.cache.setPositions(hidden.map((h) => h.row), hidden.map((h) => h.pos));
    }
    return { text, tokens, stopReason, top, logprobs, flush, firstTokenMs, totalMs: performance.now() - t0 };
  }

  destroy(): void {
    this.cache.destroy();
    this.movesBuf?.destroy();
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
