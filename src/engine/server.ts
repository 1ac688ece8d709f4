// The engine's side of the protocol (src/protocol/messages.ts): the open documents, one DocumentSession each, within a
// GPU memory budget. Transport-agnostic and DOM-free: the webview feeds it postMessage events; a test (or a future
// language server) feeds it directly.
//
// Ordering: document events and requests are applied in arrival order through one queue, because a session must not
// change while a completion decodes on it. Cancel is handled at once: a cancelled or superseded request is answered
// `noCompletion` without touching the GPU.
//
// Versions: every change names the version it applies to (`prevVersion`); a gap, a change for an unknown document or a
// completion for a version the engine does not hold is answered with `needOpen` (and no completion), so the engine
// never completes against text the editor no longer shows.
//
// Workspace context: a `context` message sets a document's chunks of other files (best first); its session lays those
// that fit the contextTokens budget ahead of the file (DocumentSession.setContext) and keeps them with PIE. Half of a
// cache at most goes to context; a document with context has its file window sized with that budget set aside, so a
// change of context never re-windows the file (a cache built before any context came is built again when the two do
// not fit together).
//
// Documents larger than a cache: the session holds a window of the text around the cursor (the engine keeps the whole
// text as a string and translates offsets); an edit that straddles the window or a cursor near its edge rebuilds it.
import type { CacheView, CompletionStats, ContextChunk, ContextView, EngineMessage, EngineSettings, HostMessage, ModelInfo, WireChange } from '../protocol/messages.js';
import { SETTING_DEFAULTS } from '../protocol/settings.js';
import { fmtBytes, type GpuContext, GpuDeviceError } from './gpu/context.js';
import { type FailureKind, failureOf } from './errors.js';
import { KvCache } from './kv/cache.js';
import type { TransformerModel } from './model/model.js';
import { type Completion, DocumentSession, type Method } from './session.js';

/** The engine's settings when a host gives none: the user settings' defaults (fim: prefix-suffix-middle, which the
 *  extension's "auto" resolves to for most models). */
export const DEFAULT_SETTINGS: EngineSettings = {
  cacheBudgetMiB: SETTING_DEFAULTS.cacheBudgetMiB,
  resyncThreshold: SETTING_DEFAULTS.resyncThreshold,
  idleMs: SETTING_DEFAULTS.idleMs,
  refreshWindow: SETTING_DEFAULTS.refreshWindow,
  fim: 'psm',
  maxContext: SETTING_DEFAULTS.maxContext,
  contextTokens: SETTING_DEFAULTS['context.tokens'],
};

/** Tokens kept for the context's head and the file's header (repository name, the file's path) beside the chunks. */
const CONTEXT_HEADER_RESERVE = 64;

/** Rows kept free for the sentinels and the generated tokens of one completion. */
const GENERATION_RESERVE = 80;

interface Doc {
  uri: string;
  version: number;
  text: string;
  cursor: number;
  session: DocumentSession | null;
  /** The window of `text` the session holds: [start, start + session.text.length). */
  windowStart: number;
  windowed: boolean;
  /** The latest completion and the document offset it was made at: if the editor inserts its text there, or the first
   *  part of it (the user took it, or a word or line of it), the session accepts that and keeps the generated rows
   *  instead of re-encoding them. */
  offered: { completion: Completion; at: number; id: number } | null;
  /** The request whose completion the last change took as accepted (whole or in part), for the editor's report. */
  taken: number | null;
  lastUsed: number;
  noticeSent: boolean;
  /** The workspace context the host sent for this document (best first), and the document's workspace-relative path. */
  context: { path: string; chunks: ContextChunk[] } | null;
}

/** A document as the server holds it, to re-open it elsewhere; cached: it had a KV cache. */
export interface DocumentSnapshot {
  uri: string;
  version: number;
  text: string;
  cursor: number;
  cached: boolean;
}

export interface ServerOptions {
  method?: Method;
  /** Rows per document cache (default: the model's context length, at most the maxContext setting). */
  maxRows?: number;
}

export class EngineServer {
  private readonly docs = new Map<string, Doc>();
  private queue: Promise<void> = Promise.resolve();
  /** Completion requests queued or running, and those of them cancelled. */
  private readonly pending = new Set<number>();
  private readonly cancelled = new Set<number>();
  /** The newest completion request per document: older ones still queued are superseded. */
  private readonly latestRequest = new Map<string, number>();
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private clock = 0;
  private readonly fixedRows: number | undefined;
  private readonly method: Method;
  /** Accepts the editor reported: taken with their rows (matched), or encoded as edits. */
  readonly acceptances = { matched: 0, unmatched: 0 };
  /** The document the editor shows, for the engine panel. */
  focused: string | null = null;
  /** Called after anything that changes what the engine panel shows. */
  onUpdate: (() => void) | null = null;
  /** Decode tokens per second the warm-up measured (its second completion, with every kernel compiled); null before
   *  it or when that completion decoded nothing (a stop token first). The catalog's expected speeds use it. */
  warmupDecodeTokPerS: number | null = null;

  constructor(
    readonly model: TransformerModel,
    private readonly send: (m: EngineMessage) => void,
    private settings: EngineSettings = DEFAULT_SETTINGS,
    o: ServerOptions = {},
  ) {
    this.method = o.method ?? 'pie';
    this.fixedRows = o.maxRows;
  }

  /** Rows of a document's cache. */
  private get maxRows(): number {
    return this.fixedRows ?? EngineServer.contextRows(this.model, this.settings);
  }

  /** The context a document's cache holds: the model's, capped by the maxContext setting. */
  static contextRows(model: TransformerModel, settings: EngineSettings): number {
    return Math.max(16, Math.min(model.config.contextLength, settings.maxContext));
  }

  get ctx(): GpuContext {
    return this.model.ctx;
  }

  /** fim: the prompts completions will use if the model has FIM tokens (the "fim" setting). */
  static modelInfo(model: TransformerModel, name: string, settings: EngineSettings = DEFAULT_SETTINGS): ModelInfo {
    const c = model.config;
    const f = model.tokenizer.fim;
    const rows = EngineServer.contextRows(model, settings);
    return {
      name,
      architecture: c.architecture,
      weightBytes: model.weightBytes,
      kvCacheBytes: KvCache.bytesFor(c, rows),
      layers: c.nLayers,
      heads: c.nHeads,
      kvHeads: c.nKvHeads,
      headDim: c.headDim,
      contextLength: rows,
      vocab: c.vocabSize,
      fim: f.prefix !== null && f.suffix !== null && f.middle !== null ? settings.fim : 'off',
    };
  }

  /**
   * Runs every kernel variant a completion uses once, on a scratch document (a batched encode, an edit that re-rotates
   * rows, a cursor move, a few decoded tokens), so that the driver compiles the pipelines now rather than in the user's
   * first completion (on SwiftShader that compile took seconds). Resolves with the time it took. The second
   * completion's decode, its kernels compiled by the first, is timed: `warmupDecodeTokPerS`.
   */
  async warmup(): Promise<number> {
    const t0 = performance.now();
    const text = 'def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n'.repeat(4);
    const s = new DocumentSession(this.model, text, { method: this.method, maxRows: 512, fim: this.settings.fim });
    try {
      s.moveCursor(text.length);
      await s.complete({ offset: text.length, maxTokens: 3 });
      s.applyEdits([{ rangeOffset: 4, rangeLength: 0, text: 'x' }]);
      const c = await s.complete({ offset: text.length >> 1, maxTokens: 4 });
      // decode steps: one per token after the first, and one more when a stop token ended it
      const steps = c.tokens.length - 1 + (c.stopReason === 'eos' ? 1 : 0);
      const ms = c.totalMs - c.firstTokenMs;
      this.warmupDecodeTokPerS = steps > 0 && ms > 0 ? (steps * 1000) / ms : null;
    } finally {
      s.destroy();
    }
    return performance.now() - t0;
  }

  /** Handles one message; resolves when it has been applied (requests: answered). */
  handle(m: HostMessage): Promise<void> {
    switch (m.type) {
      case 'cancel':
        if (this.pending.has(m.id)) this.cancelled.add(m.id);
        return Promise.resolve();
      case 'settings':
        // a cache laid out for one kind of prompt cannot serve another: those are built again
        // (and a context budget changes the file's window)
        if (m.settings.fim !== this.settings.fim || m.settings.contextTokens !== this.settings.contextTokens) return this.enqueue(async () => {
          this.settings = m.settings;
          for (const d of this.docs.values()) this.dropSession(d);
        });
        this.settings = m.settings;
        return Promise.resolve();
      case 'focus':
        this.focused = m.uri;
        this.onUpdate?.();
        return Promise.resolve();
      case 'complete': {
        this.latestRequest.set(m.uri, m.id);
        this.pending.add(m.id);
        const received = { at: Date.now(), t: performance.now() };
        return this.enqueue(async () => {
          try {
            await this.complete(m, received);
          } finally {
            this.pending.delete(m.id);
            this.cancelled.delete(m.id);
          }
        });
      }
      case 'open':
      case 'change':
      case 'cursor':
      case 'close':
      case 'resync':
        return this.enqueue(() => this.document(m));
      case 'accepted':
        return this.enqueue(() => this.accepted(m.uri, m.id));
      case 'context':
        return this.enqueue(() => this.setContext(m));
      default:
        return Promise.resolve(); // init/bytes belong to the transport that boots the engine
    }
  }

  /** The open documents' texts and cursors, and whether each had a cache, to re-open them on a new device. */
  documents(): DocumentSnapshot[] {
    return [...this.docs.values()].map(({ uri, version, text, cursor, session }) => ({ uri, version, text, cursor, cached: session !== null }));
  }

  /** Re-opens documents (a new device after a loss) and re-encodes the caches of those that had one, most recently
   *  used first within the cache budget; resolves with how many were re-encoded. Requests queue behind it. */
  restore(docs: DocumentSnapshot[]): Promise<number> {
    let encoded = 0;
    return this.enqueue(async () => {
      for (const { uri, version, text, cursor } of docs) this.document({ type: 'open', uri, version, text, cursor });
      for (const s of docs) {
        const d = this.docs.get(s.uri);
        if (!s.cached || !d) continue;
        const need = KvCache.bytesFor(this.model.config, this.maxRows);
        if (this.cacheBytes + need > this.settings.cacheBudgetMiB * 2 ** 20) break;
        await this.ensureSession(d);
        await d.session!.flush();
        encoded++;
      }
    }).then(() => encoded);
  }

  /** The session of a document, if it has one now (for the engine panel and tests). */
  session(uri: string): DocumentSession | null {
    return this.docs.get(uri)?.session ?? null;
  }

  /** What the engine panel draws of a document's cache: each row's state in document order and the last plan. */
  cacheView(uri: string | null): CacheView | null {
    const s = uri ? this.session(uri) : null;
    if (!s) return null;
    const f = s.stats;
    const segs = s.segments();
    return { rows: s.rowStates(), context: this.contextViews(uri!, segs), fileStart: segs.find((g) => g.kind === 'file')?.start ?? 0, capacity: s.cache.maxRows, stale: s.staleRows, plan: { rowsMoved: f.rowsMoved, rowsDropped: f.rowsDropped, tokensEncoded: f.tokensEncoded, applyMs: f.applyMs, encodeMs: f.encodeMs } };
  }

  /** The context chunks of a document's cache, with their source lines. */
  private contextViews(uri: string, segs = this.session(uri)?.segments() ?? []): ContextView[] {
    const byId = new Map((this.docs.get(uri)?.context?.chunks ?? []).map((c) => [c.id, c]));
    return segs
      .filter((g) => g.kind === 'chunk')
      .map((g) => {
        const c = byId.get(g.id!);
        return { id: g.id!, path: g.path ?? '', startLine: c?.startLine ?? 0, endLine: c?.endLine ?? 0, tokens: g.tokens, reused: g.reused };
      });
  }

  /** Chunk tokens a document's completions may see: the setting, at most half of a cache. */
  private get contextBudget(): number {
    return Math.max(0, Math.min(this.settings.contextTokens, this.maxRows >> 1));
  }

  private setContext(m: Extract<HostMessage, { type: 'context' }>): void {
    const d = this.docs.get(m.uri);
    if (!d) return; // the document's open comes first; its context then comes again with the next completion
    d.context = { path: m.path, chunks: m.chunks };
    const s = d.session;
    if (!s) return;
    const budget = this.contextBudget;
    // a cache sized for the file alone (no context when it was built) that cannot also hold the context: built again,
    // with a window of the file that leaves room for it, at the next completion
    const file = s.segments().find((g) => g.kind === 'file')?.tokens ?? 0;
    if (m.chunks.length && budget > 0 && file + budget + CONTEXT_HEADER_RESERVE + GENERATION_RESERVE > s.cache.maxRows) return this.dropSession(d);
    s.setContext(m.path, budget > 0 ? m.chunks : [], budget);
  }

  /** GPU bytes held by document caches. */
  get cacheBytes(): number {
    let n = 0;
    for (const d of this.docs.values()) if (d.session) n += KvCache.bytesFor(this.model.config, d.session.cache.maxRows);
    return n;
  }

  dispose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const d of this.docs.values()) d.session?.destroy();
    this.docs.clear();
  }

  private enqueue(op: () => Promise<void> | void): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const run = this.queue.then(op).catch((e: unknown) => this.send({ type: 'log', message: `engine: ${errorMessage(e)}` }));
    this.queue = run.then(() => {
      this.onUpdate?.();
      this.scheduleIdle();
    });
    return run;
  }

  private scheduleIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      void this.enqueue(() => this.idle());
    }, this.settings.idleMs);
  }

  /** Idle work: re-sync the documents past the stale threshold, most recently used first. */
  private async idle(): Promise<void> {
    const docs = [...this.docs.values()].filter((d) => d.session).sort((a, b) => b.lastUsed - a.lastUsed);
    for (const d of docs) {
      const s = d.session!;
      if (s.pendingTokens > 0 && s.staleRows < this.settings.resyncThreshold) {
        // new context (or edits) not yet encoded: encoded now, so that the next completion finds them in the cache
        try {
          await s.flush();
        } catch (e) {
          const f = this.failed(e, d);
          this.send({ type: 'log', message: `idle encode of ${d.uri} failed (${f.kind}): ${f.message}; its cache was dropped` });
          if (f.kind === 'device-lost') return;
        }
        continue;
      }
      if (s.staleRows >= this.settings.resyncThreshold) {
        const t0 = performance.now();
        try {
          await s.resync();
        } catch (e) {
          const f = this.failed(e, d);
          this.send({ type: 'log', message: `idle re-sync of ${d.uri} failed (${f.kind}): ${f.message}; its cache was dropped` });
          if (f.kind === 'device-lost') return;
          continue;
        }
        this.send({ type: 'log', message: `idle re-sync of ${d.uri}: ${s.tokens.length} tokens in ${(performance.now() - t0).toFixed(0)} ms` });
      }
    }
  }

  private document(m: Extract<HostMessage, { type: 'open' | 'change' | 'cursor' | 'close' | 'resync' }>): Promise<void> | void {
    if (m.type === 'open') {
      this.dropSession(this.docs.get(m.uri));
      this.docs.set(m.uri, { uri: m.uri, version: m.version, text: m.text, cursor: clamp(m.cursor, m.text.length), session: null, windowStart: 0, windowed: false, offered: null, taken: null, lastUsed: ++this.clock, noticeSent: false, context: this.docs.get(m.uri)?.context ?? null });
      return;
    }
    const d = this.docs.get(m.uri);
    if (m.type === 'close') {
      this.dropSession(d);
      this.docs.delete(m.uri);
      return;
    }
    if (!d) {
      if (m.type === 'resync') this.send({ type: 'noCompletion', id: m.id, reason: 'unknown-document' });
      this.send({ type: 'needOpen', uri: m.uri, reason: 'the engine has no copy of this document' });
      return;
    }
    if (m.type === 'resync') return this.resync(m.id, d);
    if (m.type === 'cursor') {
      if (m.version !== d.version) return; // a cursor for text the engine has not seen yet; the next change carries on
      d.cursor = clamp(m.offset, d.text.length);
      return;
    }
    if (m.prevVersion !== d.version) {
      this.dropSession(d);
      this.docs.delete(d.uri);
      this.send({ type: 'needOpen', uri: d.uri, reason: `version gap: the engine holds ${d.version}, the change applies to ${m.prevVersion}` });
      return;
    }
    this.applyChanges(d, m.changes);
    d.version = m.version;
  }

  /** The editor says completion `id` was accepted (after the change that inserted it): counted when that change was
   *  taken as its acceptance; otherwise the editor inserted something else (its own edits on top, or an answer from
   *  its cache), which went in as an edit, and the log says so. */
  private accepted(uri: string, id: number): void {
    const d = this.docs.get(uri);
    if (d && d.taken === id) {
      this.acceptances.matched++;
      return;
    }
    this.acceptances.unmatched++;
    this.send({ type: 'log', message: `completion ${id} was accepted in ${uri}, but the editor's change did not insert it where it was offered: encoded as an edit` });
  }

  private applyChanges(d: Doc, changes: WireChange[]): void {
    let length = d.text.length;
    for (const c of changes) {
      if (!(c.rangeOffset >= 0 && c.rangeLength >= 0 && c.rangeOffset + c.rangeLength <= length)) {
        throw new RangeError(`change [${c.rangeOffset}, +${c.rangeLength}) outside ${d.uri} (length ${length})`);
      }
      length += c.text.length - c.rangeLength;
    }
    const offered = d.offered;
    d.offered = null;
    d.taken = null;
    const only = changes.length === 1 ? changes[0]! : null;
    // the offered completion inserted where it was offered, whole or its first part (VS Code's accept word / line)
    if (offered && d.session && only && only.rangeLength === 0 && only.rangeOffset === offered.at && only.text !== '' && offered.completion.text.startsWith(only.text)) {
      try {
        d.session.accept(offered.completion, only.text); // throws if the session moved on (an idle re-sync): then a plain edit
        d.taken = offered.id;
        d.text = d.text.slice(0, only.rangeOffset) + only.text + d.text.slice(only.rangeOffset);
        d.cursor = only.rangeOffset + only.text.length;
        return;
      } catch {
        // fall through
      }
    }
    for (const c of changes) {
      const end = c.rangeOffset + c.rangeLength;
      const delta = c.text.length - c.rangeLength;
      d.text = d.text.slice(0, c.rangeOffset) + c.text + d.text.slice(end);
      // the cursor follows the text the way the editor moves it: typing at it pushes it along
      if (d.cursor >= end) d.cursor += delta;
      else if (d.cursor > c.rangeOffset) d.cursor = c.rangeOffset + c.text.length;
      const s = d.session;
      if (!s) continue;
      const ws = d.windowStart;
      const we = ws + s.text.length;
      if (d.windowed && (end < ws || (end === ws && c.rangeOffset < ws))) {
        d.windowStart += delta; // wholly before the window: it only shifts
      } else if (c.rangeOffset >= ws && end <= we) {
        s.applyEdits([{ rangeOffset: c.rangeOffset - ws, rangeLength: c.rangeLength, text: c.text }]);
      } else if (d.windowed && c.rangeOffset > we) {
        // wholly after the window: the window does not change
      } else {
        this.dropSession(d); // straddles the window's edge: rebuilt around the cursor at the next completion
      }
    }
  }

  private async resync(id: number, d: Doc): Promise<void> {
    const t0 = performance.now();
    try {
      const s = d.session ?? (await this.ensureSession(d)).session;
      const st = await s.resync();
      this.send({ type: 'resynced', id, uri: d.uri, ms: performance.now() - t0, tokensEncoded: st.tokensEncoded });
    } catch (e) {
      const f = this.failed(e, d);
      this.send({ type: 'noCompletion', id, reason: 'error', kind: f.kind, message: f.message });
      if (f.kind === 'device-lost' && this.ctx.lost) throw e;
    }
  }

  /**
   * After work on `d` failed: its cache goes (it may be half written; the next completion makes it again), and when the
   * device refused memory so do the shared scratch buffers (one may be a buffer that failed to allocate, which would
   * fail every later call; they are made again at their next use).
   */
  private failed(e: unknown, d: Doc): { kind: FailureKind; message: string; refused: boolean } {
    this.dropSession(d);
    const f = failureOf(e);
    // refused by the device (not one of the engine's checks against its limits, which no drop can help)
    const refused = f.kind === 'out-of-memory' && e instanceof GpuDeviceError;
    if (refused) this.ctx.releaseScratch();
    // the device's own message says nothing of what to do
    return { kind: f.kind, message: refused ? this.outOfMemory(f.message) : f.message, refused };
  }

  private async complete(m: Extract<HostMessage, { type: 'complete' }>, received = { at: Date.now(), t: performance.now() }): Promise<void> {
    const skip = (reason: 'cancelled' | 'stale' | 'unknown-document', message?: string) =>
      this.send({ type: 'noCompletion', id: m.id, reason, ...(message ? { message } : {}) });
    if (this.cancelled.has(m.id) || this.latestRequest.get(m.uri) !== m.id) return skip('cancelled');
    const d = this.docs.get(m.uri);
    if (!d) {
      this.send({ type: 'needOpen', uri: m.uri, reason: 'completion for a document the engine has not been sent' });
      return skip('unknown-document');
    }
    if (m.version !== d.version) {
      this.send({ type: 'needOpen', uri: m.uri, reason: `completion for version ${m.version}, the engine holds ${d.version}` });
      return skip('stale', `version ${m.version} is not the engine's ${d.version}`);
    }
    d.cursor = clamp(m.offset, d.text.length);
    d.lastUsed = ++this.clock;
    // Out of GPU memory: the other documents' caches go, least recently used first, one per try, until it fits. Memory
    // given back just before (a cache dropped, this try's own buffers) can come back late (GpuContext.reclaim): each
    // refusal is tried once more after a wait before a cache goes, or the completion fails.
    let waited = false;
    for (;;) {
      try {
        return await this.completeOnce(m, d, received, skip);
      } catch (e) {
        const f = this.failed(e, d);
        const lru = [...this.docs.values()].filter((o) => o.session && o !== d).sort((a, b) => a.lastUsed - b.lastUsed)[0];
        if (f.refused && !waited) {
          waited = true;
          await this.ctx.reclaim();
          continue;
        }
        if (f.refused && lru) {
          this.dropSession(lru);
          this.send({ type: 'log', message: `out of GPU memory for ${d.uri}: dropped the cache of ${lru.uri} (least recently used) and tried again` });
          await this.ctx.reclaim();
          waited = false;
          continue;
        }
        this.send({ type: 'noCompletion', id: m.id, reason: 'error', kind: f.kind, message: f.message });
        if (f.kind === 'device-lost' && this.ctx.lost) throw e;
        return;
      }
    }
  }

  /** One try at a completion (complete() retries after dropping another document's cache when memory ran out). */
  private async completeOnce(m: Extract<HostMessage, { type: 'complete' }>, d: Doc, received: { at: number; t: number }, skip: (reason: 'cancelled') => void): Promise<void> {
    const t0 = performance.now();
    let { session: s, rebuilt } = await this.ensureSession(d);
    const local = d.cursor - d.windowStart;
    const margin = Math.min(256, s.text.length >> 3);
    if (d.windowed && (local < margin || local > s.text.length - margin)) {
      this.dropSession(d); // the cursor went to the window's edge: re-center
      ({ session: s, rebuilt } = await this.ensureSession(d));
    }
    const stop = () => this.cancelled.has(m.id) || this.latestRequest.get(m.uri) !== m.id;
    const c = await s.complete({ offset: d.cursor - d.windowStart, maxTokens: m.maxTokens, maxLines: m.maxLines, shouldStop: stop, maxMs: m.maxMs });
    if (c.stopReason === 'cancelled') return skip('cancelled');
    d.offered = { completion: c, at: d.cursor, id: m.id };
    const decodeMs = c.totalMs - c.firstTokenMs;
    const stats: CompletionStats = {
      firstTokenMs: performance.now() - t0 - c.totalMs + c.firstTokenMs,
      totalMs: performance.now() - t0,
      receivedAt: received.at,
      sentAt: 0,
      queuedMs: t0 - received.t,
      decodeMs,
      applyMs: c.flush.applyMs,
      encodeMs: c.flush.encodeMs,
      rowsMoved: c.flush.rowsMoved,
      rowsDropped: c.flush.rowsDropped,
      tokensEncoded: c.flush.tokensEncoded,
      tokensGenerated: c.tokens.length,
      tokensPerS: c.tokens.length > 1 && decodeMs > 0 ? ((c.tokens.length - 1) * 1000) / decodeMs : 0,
      cacheRows: s.tokens.length,
      cacheCapacity: s.cache.maxRows,
      staleRows: s.staleRows,
      rebuilt,
      windowed: d.windowed,
      context: { chunks: this.contextViews(d.uri), tokens: s.contextChunks.reduce((n, c) => n + c.tokens, 0) },
      document: s.totals,
    };
    stats.sentAt = Date.now();
    this.send({ type: 'completion', id: m.id, uri: m.uri, version: m.version, text: c.text, stopReason: c.stopReason, stats });
  }

  /** The document's session, created (and its cache encoded) if it has none, evicting others past the budget. */
  private async ensureSession(d: Doc): Promise<{ session: DocumentSession; rebuilt: boolean }> {
    if (d.session) return { session: d.session, rebuilt: false };
    const rows = this.maxRows;
    const need = KvCache.bytesFor(this.model.config, rows);
    const budget = this.settings.cacheBudgetMiB * 2 ** 20;
    const others = [...this.docs.values()].filter((o) => o.session && o !== d).sort((a, b) => a.lastUsed - b.lastUsed);
    while (others.length && this.cacheBytes + need > budget) this.dropSession(others.shift());
    // the window: all of the text when it fits, else the text around the cursor
    const tok = this.model.tokenizer;
    // with workspace context, room for it is set aside
    const contextBudget = d.context?.chunks.length ? this.contextBudget : 0;
    const room = rows - GENERATION_RESERVE - (contextBudget > 0 ? contextBudget + CONTEXT_HEADER_RESERVE : 0);
    let start = 0;
    let end = d.text.length;
    if (tok.encode(d.text).length > room) {
      // characters per token measured on the text near the cursor, then a window of `room` tokens' worth, 3/4 before
      const probeStart = Math.max(0, d.cursor - 4096);
      const probe = d.text.slice(probeStart, probeStart + 8192);
      const perToken = probe.length / Math.max(1, tok.encode(probe).length);
      let chars = Math.floor(room * perToken);
      for (;;) {
        start = Math.max(0, d.cursor - Math.floor(chars * 0.75));
        end = Math.min(d.text.length, start + chars);
        start = Math.max(0, end - chars);
        if (tok.encode(d.text.slice(start, end)).length <= room || chars < 16) break;
        chars = Math.floor(chars * 0.9);
      }
      d.windowed = true;
      if (!d.noticeSent) {
        d.noticeSent = true;
        this.send({ type: 'notice', uri: d.uri, message: `This file is longer than the model's ${rows}-token context: completions see about ${end - start} characters around the cursor.` });
      }
    } else {
      d.windowed = false;
    }
    d.windowStart = start;
    const s = new DocumentSession(this.model, d.text.slice(start, end), {
      method: this.method,
      maxRows: rows,
      resyncThreshold: this.settings.resyncThreshold,
      refreshWindow: this.settings.refreshWindow,
      fim: this.settings.fim,
    });
    s.moveCursor(d.cursor - start);
    if (d.context && contextBudget > 0) s.setContext(d.context.path, d.context.chunks, contextBudget);
    d.session = s;
    return { session: s, rebuilt: true };
  }

  /** What a device's refusal means, and what to do (completions say it once no other document's cache is left to drop). */
  private outOfMemory(device: string): string {
    const rows = this.maxRows;
    return `out of GPU memory beside the model (${fmtBytes(this.ctx.liveBytes)} held; a cache of ${rows} rows takes ${fmtBytes(KvCache.bytesFor(this.model.config, rows))}): lower pie.maxContext, choose a smaller model, or close other programs that use the GPU (${device})`;
  }

  private dropSession(d: Doc | undefined): void {
    if (!d?.session) return;
    d.session.destroy();
    d.session = null;
  }
}

function clamp(x: number, n: number): number {
  return Math.max(0, Math.min(n, Math.floor(x)));
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
