// A soak run: thousands of random edits and completions across several documents, through the message handler the
// hosts use (EngineServer), with document switches, cursor moves, cancellations, accepted completions, re-syncs and
// documents closed and opened again interleaved. It counts what was served and what failed (by kind), and checks every
// document's cache against a full recomputation at the end. The round runs twice: the GPU bytes the engine holds after
// the first (every document closed) and after the second must be equal, since the first has grown the scratch buffers
// to what the run needs. `pie soak` runs it; test/gpu/soak.test.ts runs a short one.
import type { EngineMessage, HostMessage } from '../protocol/messages.js';
import type { LlamaModel } from './model/model.js';
import { DEFAULT_SETTINGS, EngineServer } from './server.js';
import { rng } from './util/rng.js';
import { layerError } from './verify.js';

export interface SoakOptions {
  documents: number;
  /** Random steps in each of the two rounds. */
  steps: number;
  seed: number;
  /** Called every 100 steps (progress). */
  onProgress?: (step: number) => void;
}

/** The counts are the second round's; errors are both rounds'. */
export interface SoakResult {
  steps: number;
  edits: number;
  completions: number;
  accepted: number;
  cancelled: number;
  resyncs: number;
  reopened: number;
  /** Failures by kind (noCompletion 'error'), and answers a correct host never gets ('stale', 'needOpen'). */
  errors: Record<string, number>;
  /** GPU bytes held after the first round and after the second (ctx.liveBytes, every document closed). */
  gpuBytesStart: number;
  gpuBytesEnd: number;
  /** Every document's layer-0 K and V within 1e-4 of a full recomputation (PIE's invariant), and every layer after a
   *  re-sync. */
  cachesExact: boolean;
  worstLayer0: number;
  worstAfterResync: number;
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

export async function soak(model: LlamaModel, o: SoakOptions): Promise<SoakResult> {
  const t0 = performance.now();
  const replies = new Map<number, EngineMessage>();
  const errors: Record<string, number> = {};
  const count = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
  const server = new EngineServer(model, (m) => {
    if ('id' in m && m.type !== 'read') replies.set(m.id, m);
    if (m.type === 'needOpen') count('needOpen');
  }, { ...DEFAULT_SETTINGS, idleMs: 1e9 });
  const ctx = model.ctx;
  const res: SoakResult = { steps: o.steps, edits: 0, completions: 0, accepted: 0, cancelled: 0, resyncs: 0, reopened: 0, errors, gpuBytesStart: 0, gpuBytesEnd: 0, cachesExact: true, worstLayer0: 0, worstAfterResync: 0, seconds: 0 };
  let id = 1;
  const send = (m: HostMessage) => server.handle(m);
  const tally = (m: EngineMessage | undefined) => {
    if (m?.type === 'completion') res.completions++;
    else if (m?.type === 'noCompletion') {
      if (m.reason === 'cancelled') res.cancelled++;
      else count(m.reason === 'error' ? (m.kind ?? 'internal') : m.reason);
    } else count('no answer');
  };

  /** One round: the documents opened afresh, the random steps, every cache checked, every document closed. */
  const round = async () => {
    const r = rng(o.seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const docs = Array.from({ length: o.documents }, (_, i) => ({ uri: `soak://doc${i}.py`, version: 1, text: `# document ${i}\n${BASE.repeat(2 + (i % 2))}`, open: false }));
    const open = async (d: (typeof docs)[number]) => {
      await send({ type: 'open', uri: d.uri, version: d.version, text: d.text, cursor: d.text.length });
      d.open = true;
    };
    const complete = async (d: (typeof docs)[number], offset: number, maxTokens: number, maxLines: number) => {
      const n = id++;
      await send({ type: 'complete', id: n, uri: d.uri, version: d.version, offset, maxTokens, maxLines });
      const m = replies.get(n);
      replies.delete(n);
      return m;
    };
    const edit = async (d: (typeof docs)[number], changes: { rangeOffset: number; rangeLength: number; text: string }[]) => {
      for (const c of changes) d.text = d.text.slice(0, c.rangeOffset) + c.text + d.text.slice(c.rangeOffset + c.rangeLength);
      await send({ type: 'change', uri: d.uri, version: d.version + 1, prevVersion: d.version, changes });
      d.version++;
    };
    for (const d of docs) await open(d);
    for (let step = 0; step < o.steps; step++) {
      if (step % 100 === 0) o.onProgress?.(step);
      const d = pick(docs);
      const x = r();
      if (!d.open) {
        await open(d);
        continue;
      }
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
        if (changes.some((c, i) => i > 0 && c.rangeOffset + c.rangeLength > changes[i - 1]!.rangeOffset)) continue;
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
      } else if (x < 0.75) {
        // asked, then cancelled at once (the user typed on): the answer is a cancellation or the completion
        const n = id++;
        const asked = send({ type: 'complete', id: n, uri: d.uri, version: d.version, offset: Math.floor(r() * (d.text.length + 1)), maxTokens: 16, maxLines: 4 });
        await send({ type: 'cancel', id: n });
        await asked;
        tally(replies.get(n));
        replies.delete(n);
      } else if (x < 0.8) {
        const n = id++;
        await send({ type: 'resync', id: n, uri: d.uri });
        if (replies.get(n)?.type === 'resynced') res.resyncs++;
        else count('resync failed');
        replies.delete(n);
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
    }
    // Every cache against a full recomputation: layer 0 as PIE left it, then every layer after a re-sync.
    for (const d of docs) {
      if (!d.open) await open(d);
      tally(await complete(d, d.text.length, 2, 1));
      const s = server.session(d.uri);
      if (!s) {
        res.cachesExact = false;
        count('no session at the end');
        continue;
      }
      const e0 = await layerError(s, 0);
      res.worstLayer0 = Math.max(res.worstLayer0, e0.k, e0.v);
      await s.resync();
      const last = await layerError(s, model.config.nLayers - 1);
      res.worstAfterResync = Math.max(res.worstAfterResync, last.k, last.v);
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
    Object.assign(res, { edits: 0, completions: 0, accepted: 0, cancelled: 0, resyncs: 0, reopened: 0 });
    await round();
    res.gpuBytesEnd = ctx.liveBytes;
    res.cachesExact = res.cachesExact && res.worstLayer0 <= 1e-4 && res.worstAfterResync <= 1e-4;
  } finally {
    server.dispose();
  }
  res.seconds = (performance.now() - t0) / 1000;
  return res;
}
