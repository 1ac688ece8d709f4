// A soak run: thousands of random edits and completions across several documents, through the message handler the
// hosts use (EngineServer), with document switches, cursor moves, cancellations (before a request starts and while it
// decodes), accepted completions, re-syncs and documents closed and opened again interleaved. It counts what was served
// and what failed (by kind), and checks every document's cache against a full recomputation at the end of each round,
// and after a cancellation in the middle of decoding (`check` says what is compared; docs/engine.md, Soak). The round
// runs twice: the GPU bytes the engine holds after the first (every document closed) and after the second must be
// equal, since the first has grown the scratch buffers to what the run needs. `pie soak` runs it;
// test/gpu/soak.test.ts runs a short one.
import type { EngineMessage, HostMessage } from '../protocol/messages.js';
import type { TransformerModel } from './model/model.js';
import { DEFAULT_SETTINGS, EngineServer } from './server.js';
import type { CompleteOptions, DocumentSession } from './session.js';
import { rng } from './util/rng.js';
import { fullRecomputation } from './verify.js';

export interface SoakOptions {
  documents: number;
  /** Random steps in each of the two rounds. */
  steps: number;
  seed: number;
  /** Called every 100 steps (progress). */
  onProgress?: (step: number) => void;
}

/** The tolerance of PIE's own tests (test/gpu/session.test.ts): relative error ||a - b|| / ||b|| of K, and of V. */
export const SOAK_TOLERANCE = 1e-5;

/** The counts are the second round's; errors, the cache checks and the worst errors are both rounds'. */
export interface SoakResult {
  steps: number;
  edits: number;
  completions: number;
  accepted: number;
  /** Requests answered `cancelled`: the two kinds below together. */
  cancelled: number;
  /** Cancelled before their turn came (the cancel sent right after the request). */
  cancelledBeforeStart: number;
  /** Cancelled while decoding: the cancel sent after the request's first 1 to 3 tokens (see the mid-decode step). */
  cancelledMidDecode: number;
  /** Requests meant for a mid-decode cancel that ended (stop token, line rule) before it was sent: served. */
  finishedBeforeCancel: number;
  resyncs: number;
  reopened: number;
  /** Failures by kind (noCompletion 'error'), answers a correct host never gets ('stale', 'needOpen', a cancellation
   *  nobody asked for, a completion served after its cancel) and failed cache checks ('cache: ...'). */
  errors: Record<string, number>;
  /** GPU bytes held after the first round and after the second (ctx.liveBytes, every document closed). */
  gpuBytesStart: number;
  gpuBytesEnd: number;
  /** Caches compared with a full recomputation: each document at the end of each round, and each document right after
   *  its first mid-decode cancel in a round. */
  cacheChecks: number;
  /** The tolerance of the asserted comparisons (SOAK_TOLERANCE). */
  tolerance: number;
  /** Before any re-sync: layer-0 K and V of every row (PIE's invariant: keys re-rotated, values untouched). */
  worstLayer0: number;
  /** Before any re-sync: layer-1 K and V of every row PIE does not mark stale. Such a row was encoded after the last
   *  change before it, attending to layer-0 rows that are exact, so its layer 1 is exact too (its upper layers are
   *  not: they attend to stale rows' upper layers). */
  worstLayer1NotStale: number;
  /** Before any re-sync: every layer's K and V of the unchanged head, the rows before the first token that changed
   *  since the cache was last encoded in full (opened, rebuilt, re-synced); nothing before them changed, so they must
   *  equal a recomputation in every layer. */
  worstHead: number;
  /** Rows in those heads, summed over the checks (0 would mean the upper layers were never compared). */
  headRows: number;
  /** Reported, not asserted (PIE does not recompute them; its tests assert only that they differ): the worst error
   *  per layer (index = layer) of the rows after the head that PIE marks stale (computed before an edit at a smaller
   *  position; rowStates() 'stale' or 'rotated'), and of the other rows after the head (encoded after an edit, but
   *  attending to stale rows). Layer 0 of both is within worstLayer0. */
  staleByLayer: number[];
  otherByLayer: number[];
  /** Every layer's K and V of every row after a re-sync (at the end of each round, after the checks above). */
  worstAfterResync: number;
  /** Every check within the tolerance (worstLayer0, worstLayer1NotStale, worstHead, worstAfterResync), no errors of
   *  kind 'cache: ...'. */
  cachesExact: boolean;
  seconds: number;
}

/** Code-like text for the documents: a base, made different per document. */
const BASE = `import math


def mean(values):
    """The arithmetic mean of a non-empty list."""
    total = 0
    for v in values:
        total += v
    return total / len(values)


def variance(values):
    m = mean(values)
    return sum((v - m) ** 2 for v in values) / len(values)


class Stats:
    def __init__(self, values):
        self.values = list(values)

    def summary(self):
        return {"mean": mean(self.values), "sd": math.sqrt(variance(self.values))}
`;

/** Documents longer than this lose their first 800 characters at the next edit (they stay within the context). */
const MAX_TEXT = 5000;

const INSERTS = ['x', ' ', '\n', '    ', 'value', '(', ')', ':', ' = ', 'return ', 'if v > 0:\n        ', 'self.', '0', '# note\n', 'def f(a, b):\n    return a + b\n'];

/** Row sets of a cache check (see compareCache). */
interface CacheComparison {
  /** Per layer (index = layer), the larger of K's and V's relative error ||a - b|| / ||b||, over: every row; the head
   *  (positions below `head`); the stale rows after it; the other rows after it; the rows not stale (head and other).
   *  0 for an empty set. */
  all: number[];
  head: number[];
  stale: number[];
  other: number[];
  notStale: number[];
  headRows: number;
}

/**
 * A session's K and V against `full`'s (a full recomputation of the same text, cursor and layout), every layer, rows
 * matched by position. The rows after `head` fall in two sets: those PIE marks stale (rowStates() 'stale', or
 * 'rotated': moved rows are stale unless encoded again) and the others.
 */
async function compareCache(s: DocumentSession, full: DocumentSession, head: number): Promise<CacheComparison> {
  const c = s.model.config;
  const ctx = s.model.ctx;
  const n = s.tokens.length;
  if (full.tokens.length !== n || full.tokens.some((t, i) => t !== s.tokens[i])) throw new Error('the recomputation holds other tokens');
  const states = s.rowStates();
  // the set of each position: 1 head, 2 stale, 3 other (0: every row)
  const set = Uint8Array.from(states, (st, i) => (i < head ? 1 : st === 'stale' || st === 'rotated' ? 2 : 3));
  const rowsByPosition = (x: DocumentSession): Int32Array => {
    const rows = new Int32Array(n).fill(-1);
    x.cache.positions.forEach((p, row) => {
      if (p < 0) return;
      if (p >= n || rows[p] !== -1) throw new Error(`row ${row} holds position ${p}, ${p >= n ? `past the ${n} tokens` : `as does row ${rows[p]}`}`);
      rows[p] = row;
    });
    const missing = rows.indexOf(-1);
    if (missing >= 0) throw new Error(`no row holds position ${missing}`);
    return rows;
  };
  const [ra, rb] = [rowsByPosition(s), rowsByPosition(full)];
  const [ka, va, kb, vb] = [await ctx.readF32(s.cache.k), await ctx.readF32(s.cache.v), await ctx.readF32(full.cache.k), await ctx.readF32(full.cache.v)];
  const out: CacheComparison = { all: [], head: [], stale: [], other: [], notStale: [], headRows: Math.min(head, n) };
  for (let l = 0; l < c.nLayers; l++) {
    // per set: squared K difference, squared K, squared V difference, squared V
    const acc = new Float64Array(16);
    for (let i = 0; i < n; i++) {
      let dk = 0;
      let k2 = 0;
      let dv = 0;
      let v2 = 0;
      for (let h = 0; h < c.nKvHeads; h++) {
        const oa = ((l * c.nKvHeads + h) * s.cache.maxRows + ra[i]!) * c.headDim;
        const ob = ((l * c.nKvHeads + h) * full.cache.maxRows + rb[i]!) * c.headDim;
        for (let e = 0; e < c.headDim; e++) {
          const kRef = kb[ob + e]!;
          const vRef = vb[ob + e]!;
          dk += (ka[oa + e]! - kRef) ** 2;
          k2 += kRef * kRef;
          dv += (va[oa + e]! - vRef) ** 2;
          v2 += vRef * vRef;
        }
      }
      for (const x of [0, set[i]! * 4]) {
        acc[x] += dk;
        acc[x + 1] += k2;
        acc[x + 2] += dv;
        acc[x + 3] += v2;
      }
    }
    const err = (...sets: number[]) => {
      const sum = (t: number) => sets.reduce((a, x) => a + acc[x * 4 + t]!, 0);
      const rel = (num: number, den: number) => (num === 0 ? 0 : Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30));
      return Math.max(rel(sum(0), sum(1)), rel(sum(2), sum(3)));
    };
    out.all.push(err(0));
    out.head.push(err(1));
    out.stale.push(err(2));
    out.other.push(err(3));
    out.notStale.push(err(1, 3));
  }
  return out;
}

/** Math.max that keeps a NaN (a non-finite error must fail the check, not vanish). */
const worse = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));

export async function soak(model: TransformerModel, o: SoakOptions): Promise<SoakResult> {
  const t0 = performance.now();
  const replies = new Map<number, EngineMessage>();
  const errors: Record<string, number> = {};
  const count = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
  const server = new EngineServer(model, (m) => {
    if ('id' in m && m.type !== 'read') replies.set(m.id, m);
    if (m.type === 'needOpen') count('needOpen');
  }, { ...DEFAULT_SETTINGS, idleMs: 1e9 });
  const ctx = model.ctx;
  const tol = SOAK_TOLERANCE;
  const res: SoakResult = {
    steps: o.steps, edits: 0, completions: 0, accepted: 0, cancelled: 0, cancelledBeforeStart: 0, cancelledMidDecode: 0, finishedBeforeCancel: 0, resyncs: 0, reopened: 0, errors,
    gpuBytesStart: 0, gpuBytesEnd: 0, cacheChecks: 0, tolerance: tol, worstLayer0: 0, worstLayer1NotStale: 0, worstHead: 0, headRows: 0,
    staleByLayer: new Array<number>(model.config.nLayers).fill(0), otherByLayer: new Array<number>(model.config.nLayers).fill(0), worstAfterResync: 0, cachesExact: false, seconds: 0,
  };
  // Each document's session as last seen, and its head: the positions before the first token that changed since the
  // session last encoded everything (made, or re-synced). Observed after every message about the document: a message
  // flushes at most once, after its last change of the tokens (a completion: the cursor moved, then the flush), so
  // comparing the tokens message by message sees every change made after a flush (the acceptance of a completion,
  // sent right after it, included).
  const seen = new Map<string, { s: DocumentSession; tokens: number[]; resyncs: number; head: number }>();
  const observe = (uri: string) => {
    const s = server.session(uri);
    const was = seen.get(uri);
    if (!s) {
      seen.delete(uri);
      return;
    }
    const tokens = s.tokens;
    if (!was || was.s !== s || was.resyncs !== s.totals.resyncs) {
      // a new session (opened, rebuilt, re-windowed) or a re-sync: the next flush, or the re-sync, encodes everything
      seen.set(uri, { s, tokens, resyncs: s.totals.resyncs, head: Infinity });
      return;
    }
    let i = 0;
    while (i < tokens.length && i < was.tokens.length && tokens[i] === was.tokens[i]) i++;
    if (i < tokens.length || i < was.tokens.length) was.head = Math.min(was.head, i);
    was.tokens = tokens;
  };
  let id = 1;
  const answer = (n: number) => {
    const m = replies.get(n);
    replies.delete(n);
    return m;
  };
  const send = async (m: HostMessage) => {
    await server.handle(m);
    if ('uri' in m && typeof m.uri === 'string') observe(m.uri);
  };
  /** Counts an answer; `cancel`: the request was cancelled (a cancellation is then expected, and before its start a
   *  completion is fine too: the cancel may come too late; after a cancel sent mid-decode it is not). */
  const tally = (m: EngineMessage | undefined, cancel: 'beforeStart' | 'midDecode' | null = null) => {
    if (m?.type === 'completion') {
      res.completions++;
      if (cancel === 'midDecode') count('completion after its cancel');
    } else if (m?.type === 'noCompletion') {
      if (m.reason !== 'cancelled') count(m.reason === 'error' ? (m.kind ?? 'internal') : m.reason);
      else if (!cancel) count('cancelled unasked');
      else {
        res.cancelled++;
        if (cancel === 'beforeStart') res.cancelledBeforeStart++;
        else res.cancelledMidDecode++;
      }
    } else count('no answer');
  };

  /**
   * A document's cache against a full recomputation (it must have been flushed: every token has a row): layer 0 of
   * every row, layer 1 of every row not stale and every layer of the head within the tolerance, the other rows
   * reported. With `resync`, the document is then re-synced and every layer of every row compared with the same
   * recomputation (the text has not changed).
   */
  const check = async (uri: string, resync = false) => {
    observe(uri);
    const s = server.session(uri);
    if (!s) return count('cache: no session to check');
    let full: DocumentSession | null = null;
    try {
      full = await fullRecomputation(s);
      const c = await compareCache(s, full, seen.get(uri)!.head);
      res.cacheChecks++;
      res.worstLayer0 = worse(res.worstLayer0, c.all[0]!);
      if (c.notStale.length > 1) res.worstLayer1NotStale = worse(res.worstLayer1NotStale, c.notStale[1]!);
      res.headRows += c.headRows;
      for (let l = 0; l < c.all.length; l++) {
        res.worstHead = worse(res.worstHead, c.head[l]!);
        res.staleByLayer[l] = worse(res.staleByLayer[l]!, c.stale[l]!);
        res.otherByLayer[l] = worse(res.otherByLayer[l]!, c.other[l]!);
      }
      if (!resync) return;
      const n = id++;
      await send({ type: 'resync', id: n, uri });
      if (answer(n)?.type !== 'resynced' || server.session(uri) !== s) return count('cache: the re-sync failed');
      const after = await compareCache(s, full, seen.get(uri)!.head);
      if (after.headRows !== s.tokens.length) count('cache: rows left out of the check after a re-sync');
      for (const e of after.all) res.worstAfterResync = worse(res.worstAfterResync, e);
    } catch (e) {
      count(`cache: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      full?.destroy();
    }
  };

  /** One round: the documents opened afresh, the random steps, every cache checked, every document closed. */
  const round = async () => {
    const r = rng(o.seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const docs = Array.from({ length: o.documents }, (_, i) => ({ uri: `soak://doc${i}.py`, version: 1, text: `# document ${i}\n${BASE.repeat(2 + (i % 2))}`, open: false }));
    type Doc = (typeof docs)[number];
    const checkedMid = new Set<string>();
    const open = async (d: Doc) => {
      await send({ type: 'open', uri: d.uri, version: d.version, text: d.text, cursor: d.text.length });
      d.open = true;
    };
    const complete = async (d: Doc, offset: number, maxTokens: number, maxLines: number) => {
      const n = id++;
      await send({ type: 'complete', id: n, uri: d.uri, version: d.version, offset, maxTokens, maxLines });
      return answer(n);
    };
    const edit = async (d: Doc, changes: { rangeOffset: number; rangeLength: number; text: string }[]) => {
      for (const c of changes) d.text = d.text.slice(0, c.rangeOffset) + c.text + d.text.slice(c.rangeOffset + c.rangeLength);
      await send({ type: 'change', uri: d.uri, version: d.version + 1, prevVersion: d.version, changes });
      d.version++;
    };
    const step = async (d: Doc) => {
      const x = r();
      if (!d.open) return open(d);
      if (x < 0.4) {
        // one edit, or several at once (multi-cursor), from the end backwards so that offsets stay valid
        const n = r() < 0.2 ? 2 + Math.floor(r() * 3) : 1;
        const at = Array.from({ length: n }, () => Math.floor(r() * (d.text.length + 1))).sort((a, b) => b - a);
        const changes = at.map((a) => {
          const del = r() < 0.4 ? Math.min(d.text.length - a, 1 + Math.floor(r() * 20)) : 0;
          return { rangeOffset: a, rangeLength: del, text: r() < 0.8 ? pick(INSERTS) : '' };
        });
        // keep the documents within the context: long ones lose a block
        if (d.text.length > MAX_TEXT) changes.push({ rangeOffset: 0, rangeLength: 800, text: '' });
        changes.sort((a, b) => b.rangeOffset - a.rangeOffset);
        if (changes.some((c, i) => i > 0 && c.rangeOffset + c.rangeLength > changes[i - 1]!.rangeOffset)) return;
        await edit(d, changes);
        res.edits++;
      } else if (x < 0.65) {
        const offset = Math.floor(r() * (d.text.length + 1));
        const m = await complete(d, offset, 1 + Math.floor(r() * 12), 1 + Math.floor(r() * 4));
        tally(m);
        // sometimes the user takes it (Tab): an insertion of exactly its text at that offset
        if (m?.type === 'completion' && m.text && r() < 0.3) {
          await edit(d, [{ rangeOffset: offset, rangeLength: 0, text: m.text }]);
          res.accepted++;
        }
      } else if (x < 0.7) {
        // asked, then cancelled before it starts (the user typed on): the cancel is handled at once, the request waits
        // its turn in the queue, which comes after this turn of the event loop
        const n = id++;
        const asked = send({ type: 'complete', id: n, uri: d.uri, version: d.version, offset: Math.floor(r() * (d.text.length + 1)), maxTokens: 16, maxLines: 4 });
        await send({ type: 'cancel', id: n });
        await asked;
        tally(answer(n), 'beforeStart');
      } else if (x < 0.75) {
        // asked, then cancelled while it decodes: the host's cancel comes in between two tokens, when the session asks
        // the server whether to stop after its `after`-th token (the server's cancellation check, polled per token)
        const offset = Math.floor(r() * (d.text.length + 1));
        const after = 1 + Math.floor(r() * 3);
        const s = server.session(d.uri);
        // without a cache, a plain completion makes one
        if (!s) return tally(await complete(d, offset, 16, 4));
        const n = id++;
        let polls = 0;
        let sent = false;
        const original = s.complete;
        s.complete = (co: CompleteOptions = {}) =>
          original.call(s, {
            ...co,
            shouldStop: () => {
              if (++polls === after) {
                sent = true;
                void send({ type: 'cancel', id: n }); // handled before send's first await: the server sees it now
              }
              return co.shouldStop?.() ?? false;
            },
          });
        try {
          await send({ type: 'complete', id: n, uri: d.uri, version: d.version, offset, maxTokens: 32, maxLines: 8 });
        } finally {
          Reflect.deleteProperty(s, 'complete');
        }
        const m = answer(n);
        if (!sent) {
          // it ended (a stop token, a line rule) before the cancel was due
          res.finishedBeforeCancel++;
          return tally(m);
        }
        tally(m, 'midDecode');
        if (server.session(d.uri) !== s) return count('cache: the session went with the cancel');
        // the prompt's rows hold their positions again and the generated rows none (they stay, hidden, for a
        // continuation); the first such cache of each document in a round is compared with a full recomputation now,
        // as at the end of the round (every one would cost a recomputation each)
        const held = [...s.cache.positions].filter((p) => p >= 0).sort((a, b) => a - b);
        if (held.length !== s.tokens.length || held.some((p, i) => p !== i)) count('cache: positions after a mid-decode cancel');
        if (!checkedMid.has(d.uri)) {
          checkedMid.add(d.uri);
          await check(d.uri);
        }
      } else if (x < 0.8) {
        const n = id++;
        await send({ type: 'resync', id: n, uri: d.uri });
        if (answer(n)?.type === 'resynced') res.resyncs++;
        else count('resync failed');
      } else if (x < 0.9) {
        await send({ type: 'focus', uri: d.uri });
        await send({ type: 'cursor', uri: d.uri, version: d.version, offset: Math.floor(r() * (d.text.length + 1)) });
      } else if (x < 0.95) {
        await send({ type: 'close', uri: d.uri });
        d.open = false;
        res.reopened++;
      } else {
        tally(await complete(d, d.text.length, 4, 1));
      }
    };
    for (const d of docs) await open(d);
    for (let i = 0; i < o.steps; i++) {
      if (i % 100 === 0) o.onProgress?.(i);
      await step(pick(docs));
    }
    // Every cache against a full recomputation before it is re-synced (each document flushed first by a short
    // completion at its end), then re-synced and compared again.
    for (const d of docs) {
      if (!d.open) await open(d);
      tally(await complete(d, d.text.length, 2, 1));
      await check(d.uri, true);
    }
    for (const d of docs) await send({ type: 'close', uri: d.uri });
    // retired scratch buffers go when the work that used them is done
    await ctx.device.queue.onSubmittedWorkDone();
  };

  try {
    // The same round twice: the first brings the scratch buffers (which grow with the longest context and batch seen)
    // to the sizes this run needs; the second does exactly the same, so any GPU bytes it gains are a leak.
    await round();
    res.gpuBytesStart = ctx.liveBytes;
    Object.assign(res, { edits: 0, completions: 0, accepted: 0, cancelled: 0, cancelledBeforeStart: 0, cancelledMidDecode: 0, finishedBeforeCancel: 0, resyncs: 0, reopened: 0 });
    await round();
    res.gpuBytesEnd = ctx.liveBytes;
    for (const e of [...res.staleByLayer, ...res.otherByLayer]) if (!Number.isFinite(e)) count('cache: a non-finite error after the head');
    res.cachesExact =
      res.cacheChecks > 0 &&
      !Object.keys(errors).some((k) => k.startsWith('cache:')) &&
      res.worstLayer0 <= tol &&
      res.worstLayer1NotStale <= tol &&
      res.worstHead <= tol &&
      res.worstAfterResync <= tol;
  } finally {
    server.dispose();
  }
  res.seconds = (performance.now() - t0) / 1000;
  return res;
}
