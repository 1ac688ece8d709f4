// `pie bench engine`: prefill and decode speed of our WebGPU engine and of llama.cpp (CPU) on the same model and the
// same tokens, in the same run. Medians of several runs; a table, then one JSON line. For our engine also the weight
// bandwidth decode achieves (weight bytes per token / decode time per token), against the device's measured copy
// bandwidth: how far decode is from memory-bound.
import { cpus } from 'node:os';
import type { Token } from 'node-llama-cpp';
import { measureCopyBandwidth } from '../engine/gpu/bandwidth.js';
import { fmtBytes } from '../engine/gpu/context.js';
import { median, openModel, printTable, SAMPLE_TEXT } from './common.js';
import { openLlamaCpp } from './llama.js';

export interface BenchEngineOptions {
  modelPath: string;
  promptTokens: number;
  genTokens: number;
  runs: number;
  json: boolean;
}

interface Row {
  engine: string;
  device: string;
  prefillMs: number;
  decodeMsPerToken: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  /** Bytes of weights one decode step reads (our engine only; null for llama.cpp). */
  weightBytes: number | null;
  /** weightBytes / decode time per token (our engine only). */
  decodeBytesPerS: number | null;
  /** The device's median copyBufferToBuffer bandwidth (our engine only). */
  copyBytesPerS: number | null;
}

export async function benchEngine(o: BenchEngineOptions): Promise<void> {
  const { ctx, model } = await openModel(o.modelPath);
  const rows: Row[] = [];
  let prompt: number[];
  try {
    const tok = model.tokenizer;
    const ids = tok.encode(SAMPLE_TEXT.repeat(Math.ceil(o.promptTokens / 40) + 1));
    prompt = [...(tok.bos !== null ? [tok.bos] : []), ...ids].slice(0, o.promptTokens);
    const total = o.promptTokens + o.genTokens;
    if (total > model.config.contextLength) throw new Error(`prompt + generated tokens (${total}) exceed the model's context (${model.config.contextLength})`);
    const cache = model.createCache(total);
    const pre: number[] = [];
    const dec: number[] = [];
    for (let r = 0; r <= o.runs; r++) {
      cache.clear();
      const t0 = performance.now();
      let next = (await model.prefill(cache, prompt)).next!;
      const t1 = performance.now();
      for (let i = 0; i < o.genTokens - 1; i++) next = (await model.decodeOne(cache, next)).next!;
      const t2 = performance.now();
      if (r === 0) continue; // warm-up: pipeline compilation
      pre.push(t1 - t0);
      dec.push((t2 - t1) / Math.max(o.genTokens - 1, 1));
    }
    cache.destroy();
    // Weight bytes one decode step reads: every matrix once. model.weightBytes counts the GPU bytes of all weights; with
    // a tied embedding (token_embd.weight is the output matrix, as in Qwen2.5-Coder 0.5B) that table is read once per
    // token as the output matrix, and the embedding lookup reads only one row of it, which is not counted again.
    // (For an untied model the input embedding table is in weightBytes too, though decode reads one row of it: there
    // the figure overstates the bytes read by that table.)
    const weightBytes = model.weightBytes;
    const copy = await measureCopyBandwidth(ctx, { bytes: 128 << 20, runs: 5 });
    const r = row('pie (WebGPU)', ctx.describe(), median(pre), median(dec), prompt.length);
    r.weightBytes = weightBytes;
    r.decodeBytesPerS = weightBytes / (r.decodeMsPerToken / 1000);
    r.copyBytesPerS = copy.bytesPerS;
    rows.push(r);
  } finally {
    model.destroy();
    ctx.destroy();
  }

  const threads = cpus().length;
  const lc = await openLlamaCpp(o.modelPath, o.promptTokens + o.genTokens + 8, threads);
  try {
    const pre: number[] = [];
    const dec: number[] = [];
    for (let r = 0; r <= o.runs; r++) {
      const seq = lc.context.getSequence();
      try {
        const t0 = performance.now();
        let t1 = t0;
        let n = 0;
        for await (const _t of seq.evaluate(prompt as Token[], { temperature: 0 })) {
          if (n === 0) t1 = performance.now();
          if (++n >= o.genTokens) break;
        }
        const t2 = performance.now();
        if (r === 0) continue;
        pre.push(t1 - t0);
        dec.push((t2 - t1) / Math.max(n - 1, 1));
      } finally {
        seq.dispose();
      }
    }
    rows.push(row(`llama.cpp (CPU, ${threads} threads)`, 'cpu', median(pre), median(dec), prompt.length));
  } finally {
    await lc.dispose();
  }

  const gbs = (x: number | null) => (x === null ? '-' : (x / 1e9).toFixed(2));
  const head = ['engine', 'device', 'prefill ms', 'prefill tok/s', 'decode ms/tok', 'decode tok/s', 'weights/tok', 'decode GB/s', 'copy GB/s'];
  const table = rows.map((r) => [
    r.engine,
    r.device,
    r.prefillMs.toFixed(2),
    r.prefillTokPerS.toFixed(0),
    r.decodeMsPerToken.toFixed(3),
    r.decodeTokPerS.toFixed(0),
    r.weightBytes === null ? '-' : fmtBytes(r.weightBytes),
    gbs(r.decodeBytesPerS),
    gbs(r.copyBytesPerS),
  ]);
  console.log(`model ${o.modelPath}: ${o.promptTokens} prompt tokens, ${o.genTokens} generated, median of ${o.runs} runs (after one warm-up)`);
  printTable(head, table);
  const ratio = rows[1]!.decodeMsPerToken / rows[0]!.decodeMsPerToken;
  console.log(`decode speed pie / llama.cpp: ${ratio.toFixed(2)}x; prefill: ${(rows[1]!.prefillMs / rows[0]!.prefillMs).toFixed(2)}x`);
  const ours = rows[0]!;
  console.log(
    `pie decode reads ${fmtBytes(ours.weightBytes!)} of weights per token at ${gbs(ours.decodeBytesPerS)} GB/s: ` +
      `${((ours.decodeBytesPerS! / ours.copyBytesPerS!) * 100).toFixed(1)}% of the device's copy bandwidth (${gbs(ours.copyBytesPerS)} GB/s, median of 5 copies of 128 MiB)`,
  );
  console.log(
    JSON.stringify({
      device: rows[0]!.device,
      model: o.modelPath.split('/').pop(),
      promptTokens: o.promptTokens,
      genTokens: o.genTokens,
      runs: o.runs,
      weightBytes: ours.weightBytes,
      decodeBytesPerS: ours.decodeBytesPerS,
      copyBytesPerS: ours.copyBytesPerS,
      results: rows,
    }),
  );
}

function row(engine: string, device: string, prefillMs: number, decodeMsPerToken: number, promptTokens: number): Row {
  return {
    engine,
    device,
    prefillMs,
    decodeMsPerToken,
    prefillTokPerS: (promptTokens / prefillMs) * 1000,
    decodeTokPerS: 1000 / decodeMsPerToken,
    weightBytes: null,
    decodeBytesPerS: null,
    copyBytesPerS: null,
  };
}
