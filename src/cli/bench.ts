// `pie bench engine`: prefill and decode speed of our WebGPU engine and of llama.cpp (CPU) on the same model and the
// same tokens, in the same run. Medians of several runs; a table, then one JSON line.
import { cpus } from 'node:os';
import type { Token } from 'node-llama-cpp';
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
    rows.push(row('pie (WebGPU)', ctx.describe(), median(pre), median(dec), prompt.length));
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

  const head = ['engine', 'device', 'prefill ms', 'prefill tok/s', 'decode ms/tok', 'decode tok/s'];
  const table = rows.map((r) => [r.engine, r.device, r.prefillMs.toFixed(2), r.prefillTokPerS.toFixed(0), r.decodeMsPerToken.toFixed(3), r.decodeTokPerS.toFixed(0)]);
  console.log(`model ${o.modelPath}: ${o.promptTokens} prompt tokens, ${o.genTokens} generated, median of ${o.runs} runs (after one warm-up)`);
  printTable(head, table);
  const ratio = rows[1]!.decodeMsPerToken / rows[0]!.decodeMsPerToken;
  console.log(`decode speed pie / llama.cpp: ${ratio.toFixed(2)}x; prefill: ${(rows[1]!.prefillMs / rows[0]!.prefillMs).toFixed(2)}x`);
  console.log(
    JSON.stringify({
      device: rows[0]!.device,
      model: o.modelPath.split('/').pop(),
      promptTokens: o.promptTokens,
      genTokens: o.genTokens,
      runs: o.runs,
      results: rows,
    }),
  );
}

function row(engine: string, device: string, prefillMs: number, decodeMsPerToken: number, promptTokens: number): Row {
  return { engine, device, prefillMs, decodeMsPerToken, prefillTokPerS: (promptTokens / prefillMs) * 1000, decodeTokPerS: 1000 / decodeMsPerToken };
}
