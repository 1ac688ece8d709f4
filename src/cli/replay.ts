// `pie replay`: runs an edit trace through a DocumentSession with one method, and optionally another method on the same
// steps in the same process, comparing their next-token distributions and greedy completions.
import { readFileSync } from 'node:fs';
import type { GpuContext } from '../engine/gpu/context.js';
import type { TextChange } from '../engine/kv/mirror.js';
import type { TransformerModel } from '../engine/model/model.js';
import { DocumentSession, type Method, type SessionOptions } from '../engine/session.js';

export interface ReplayStep {
  changes: TextChange[];
  cursor?: number;
  complete?: { maxTokens?: number; offset?: number };
}

export interface StepResult {
  step: number;
  ids: number[];
  text: string;
  top5: { id: number; logprob: number }[];
  applyMs: number;
  encodeMs: number;
  firstTokenMs: number;
  rowsMoved: number;
  tokensEncoded: number;
  staleRows: number;
  /** The next-token log-probabilities (kept for the comparison, not printed). */
  logprobs: Float32Array;
}

/** Parses an edits file: one JSON step per non-empty line; errors name the line. */
export function parseSteps(jsonl: string): ReplayStep[] {
  return jsonl
    .split('\n')
    .map((line, i) => ({ line: line.trim(), n: i + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, n }) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (e) {
        throw new Error(`edits line ${n}: not JSON (${(e as Error).message})`);
      }
      const s = v as ReplayStep;
      const okChange = (c: TextChange) =>
        typeof c === 'object' && c !== null && Number.isInteger(c.rangeOffset) && Number.isInteger(c.rangeLength) && typeof c.text === 'string';
      if (typeof s !== 'object' || s === null || !Array.isArray(s.changes) || !s.changes.every(okChange)) {
        throw new Error(`edits line ${n}: expected {"changes": [{"rangeOffset", "rangeLength", "text"}...], "cursor"?, "complete"?}`);
      }
      if (s.cursor !== undefined && !Number.isInteger(s.cursor)) throw new Error(`edits line ${n}: "cursor" must be an integer`);
      return s;
    });
}

export async function runTrace(
  model: TransformerModel,
  document: string,
  steps: ReplayStep[],
  method: Method,
  options: Pick<SessionOptions, 'resyncThreshold' | 'refreshWindow'> = {},
): Promise<{ results: StepResult[]; finalText: string; resyncs: number }> {
  const s = new DocumentSession(model, document, { resyncThreshold: Infinity, ...options, method });
  let resyncs = 0;
  try {
    await s.flush();
    const results: StepResult[] = [];
    for (const [i, st] of steps.entries()) {
      try {
        s.applyEdits(st.changes);
        if (st.cursor !== undefined) s.moveCursor(st.cursor);
      } catch (e) {
        throw new Error(`step ${i + 1}: ${(e as Error).message}`);
      }
      if (!st.complete) continue;
      const c = await s.complete({ maxTokens: st.complete.maxTokens ?? 16, ...(st.complete.offset !== undefined ? { offset: st.complete.offset } : {}), topLogprobs: 5 });
      results.push({
        step: i + 1,
        ids: c.tokens,
        text: c.text,
        top5: c.top,
        applyMs: c.flush.applyMs,
        encodeMs: c.flush.encodeMs,
        firstTokenMs: c.firstTokenMs,
        rowsMoved: c.flush.rowsMoved,
        tokensEncoded: c.flush.tokensEncoded,
        staleRows: s.staleRows,
        logprobs: c.logprobs!,
      });
      // the time between completions is idle time: the policy may re-sync there
      if (await s.idleResync()) resyncs++;
    }
    return { results, finalText: s.text, resyncs };
  } finally {
    s.destroy();
  }
}

/** KL(p || q) from log-probabilities. */
export function klDivergence(logp: Float32Array, logq: Float32Array): number {
  let kl = 0;
  for (let i = 0; i < logp.length; i++) {
    const p = Math.exp(logp[i]!);
    if (p > 0) kl += p * (logp[i]! - logq[i]!);
  }
  return Math.max(kl, 0);
}

export interface ReplayOptions {
  model: TransformerModel;
  ctx: GpuContext;
  document: string;
  steps: ReplayStep[];
  method: Method;
  compare?: Method;
  /** Re-sync in idle time once this many rows are stale (default: never, to measure PIE alone). */
  resyncThreshold?: number;
  /** Stale rows before the cursor that 'pie' re-encodes before each completion (default: the session's). */
  refreshWindow?: number;
  json: boolean;
}

export async function replay(o: ReplayOptions): Promise<void> {
  const options = {
    ...(o.resyncThreshold !== undefined ? { resyncThreshold: o.resyncThreshold } : {}),
    ...(o.refreshWindow !== undefined ? { refreshWindow: o.refreshWindow } : {}),
  };
  const main = await runTrace(o.model, o.document, o.steps, o.method, options);
  const other = o.compare ? await runTrace(o.model, o.document, o.steps, o.compare, options) : null;
  const kls: number[] = [];
  let top1 = 0;
  let exact = 0;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  main.results.forEach((r, i) => {
    const line: Record<string, unknown> = {
      step: r.step,
      ids: r.ids,
      text: r.text,
      top5: r.top5.map((t) => ({ id: t.id, logprob: r3(t.logprob) })),
      applyMs: r3(r.applyMs),
      encodeMs: r3(r.encodeMs),
      firstTokenMs: r3(r.firstTokenMs),
      rowsMoved: r.rowsMoved,
      tokensEncoded: r.tokensEncoded,
      staleRows: r.staleRows,
    };
    if (other) {
      const m = other.results[i]!;
      const kl = klDivergence(m.logprobs, r.logprobs);
      kls.push(kl);
      const agree = m.top5[0]?.id === r.top5[0]?.id;
      const same = m.ids.length === r.ids.length && m.ids.every((id, j) => id === r.ids[j]);
      top1 += agree ? 1 : 0;
      exact += same ? 1 : 0;
      Object.assign(line, { compare: { kl, top1Agrees: agree, completionIdentical: same, text: m.text } });
    }
    if (o.json) console.log(JSON.stringify(line));
    else {
      const cmp = other ? `  KL ${(line.compare as { kl: number }).kl.toExponential(2)} top1 ${(line.compare as { top1Agrees: boolean }).top1Agrees ? 'same' : 'DIFF'}` : '';
      console.log(
        `step ${r.step}: ${JSON.stringify(r.text)}  apply ${r.applyMs.toFixed(1)} ms, encode ${r.encodeMs.toFixed(1)} ms (${r.tokensEncoded} tokens), first token ${r.firstTokenMs.toFixed(1)} ms, moved ${r.rowsMoved}, stale ${r.staleRows}${cmp}`,
      );
    }
  });
  const n = main.results.length;
  const summary = {
    method: o.method,
    compare: o.compare ?? null,
    device: o.ctx.describe(),
    steps: o.steps.length,
    completions: n,
    resyncs: main.resyncs,
    meanKL: other && n ? kls.reduce((a, b) => a + b, 0) / n : null,
    maxKL: other && n ? Math.max(...kls) : null,
    top1Agreement: other && n ? top1 / n : null,
    completionExactMatch: other && n ? exact / n : null,
    finalText: main.finalText,
  };
  if (o.json) console.log(JSON.stringify(summary));
  else if (other) {
    console.log(
      `${o.method} vs ${o.compare}: mean KL ${summary.meanKL!.toExponential(3)}, max KL ${summary.maxKL!.toExponential(3)}, top-1 agreement ${(100 * summary.top1Agreement!).toFixed(1)}%, identical completions ${(100 * summary.completionExactMatch!).toFixed(1)}%`,
    );
  }
}

export function readTraceFiles(documentPath: string, editsPath: string): { document: string; steps: ReplayStep[] } {
  return { document: readFileSync(documentPath, 'utf8'), steps: parseSteps(readFileSync(editsPath, 'utf8')) };
}
