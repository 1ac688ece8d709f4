// The page half of bench/peers.mjs: both engines in one Chromium page on the same WebGPU adapter, the same model
// (pie-code-tiny: our GGUF, and its export by tools/export-transformersjs for transformers.js), the same token ids.
// bench/peers.mjs bundles this file with esbuild at run time, serves it with the models, and calls
// window.peersBench(config); progress goes to console.log, which peers.mjs prints on standard error.
//
// Per context n (a document of n tokens, BOS included, cursor at its end, left to right as the extension asks
// pie-code-tiny), each figure the median of `runs` runs after one warm-up run; one run measures everything once, engine
// after engine, so that a change in the machine's load between runs touches both:
//   prefill   from the text to the next token's logits: ours a DocumentSession built and flushed; transformers.js its
//             tokenizer, then one forward pass over every token (num_logits_to_keep = 1, the logits it keeps while
//             generating)
//   decode    tokens per second, one token at a time through the cache after the document (greedy): ours
//             TransformerModel.forward (argmax on the GPU); transformers.js its model's forward with past_key_values (kept on
//             the GPU, as transformers.js does on WebGPU) and the argmax of the logits read back, as its generate()
//   edit      a one-token insertion in the middle of the document, to the next token's logits:
//             ours 'pie'   the session re-tokenizes around the edit, re-rotates the keys after it (one fused pass), encodes
//                          the new token and its 16-token refresh window before the cursor
//             ours 'full'  the same session API re-encoding every token
//             transformers.js  its tokenizer over the new text, the past key/values of the document cut at the first
//                          changed token (a GPU copy of each layer's keys and values up to there), then one forward pass
//                          over every token from there to the end
import { AutoModelForCausalLM, AutoTokenizer, env, Tensor } from '@huggingface/transformers';
import { acquireBrowserGpu } from '../src/engine/gpu/acquire.js';
import type { GpuContext } from '../src/engine/gpu/context.js';
import { bytesSource } from '../src/engine/model/gguf.js';
import { TransformerModel } from '../src/engine/model/model.js';
import { DocumentSession } from '../src/engine/session.js';

export interface PeersConfig {
  contexts: number[];
  runs: number;
  decodeTokens: number;
  /** Source text to cut documents from. */
  corpus: string;
  /** The exported model's id under /models/ (transformers.js) and our GGUF's URL. */
  modelId: string;
  ggufUrl: string;
  /** onnxruntime-web's files (its .wasm) under this URL. */
  ortUrl: string;
  /** onnxruntime-web's WebGPU execution provider options (validationMode, buffer cache modes), if any. */
  webgpuOptions?: Record<string, unknown>;
}

export interface PeersRow {
  context: number;
  editTokens: number;
  oursPrefillMs: number;
  tfjsPrefillMs: number;
  oursDecodeTps: number;
  tfjsDecodeTps: number;
  oursEditMs: number;
  oursFullMs: number;
  tfjsEditMs: number;
  /** What each edit did: ours re-rotated and encoded; transformers.js recomputed. */
  oursRowsMoved: number;
  oursTokensEncoded: number;
  tfjsTokensRecomputed: number;
  /** Both engines chose the same next token after the document (greedy). */
  nextTokenAgrees: boolean;
  runsMs: Record<string, number[]>;
}

export interface PeersResult {
  device: string;
  tfjsDevice: string;
  tfjsVersion: string;
  userAgent: string;
  loadMs: { ours: number; tfjs: number };
  rows: PeersRow[];
}

const log = (s: string) => console.log(`[peers] ${s}`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const argmax = (x: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[b]!) b = i;
  return b;
};

async function peersBench(cfg: PeersConfig): Promise<PeersResult> {
  // --- our engine ---
  let t0 = performance.now();
  const ctx: GpuContext = await acquireBrowserGpu(navigator.gpu);
  const bytes = new Uint8Array(await (await fetch(cfg.ggufUrl)).arrayBuffer());
  const model = await TransformerModel.load(ctx, bytesSource(bytes));
  const oursLoadMs = performance.now() - t0;
  log(`ours: ${ctx.describe()}, loaded in ${oursLoadMs.toFixed(0)} ms`);
  const tok = model.tokenizer;

  // --- transformers.js ---
  t0 = performance.now();
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.localModelPath = '/models/';
  env.useBrowserCache = false;
  const onnx = env.backends.onnx as any;
  onnx.wasm.wasmPaths = { mjs: `${cfg.ortUrl}ort-wasm-simd-threaded.asyncify.mjs`, wasm: `${cfg.ortUrl}ort-wasm-simd-threaded.asyncify.wasm` };
  const tokenizer: any = await AutoTokenizer.from_pretrained(cfg.modelId);
  const peer: any = await AutoModelForCausalLM.from_pretrained(cfg.modelId, {
    device: 'webgpu',
    dtype: 'fp32',
    ...(cfg.webgpuOptions ? { session_options: { executionProviders: [{ name: 'webgpu', ...cfg.webgpuOptions }] } } : {}),
  });
  const tfjsLoadMs = performance.now() - t0;
  const ortDevice: GPUDevice = await onnx.webgpu.device;
  const ai = (ortDevice as any).adapterInfo ?? {};
  const tfjsDevice = [ai.vendor, ai.architecture, ai.device, ai.description].filter((s: string) => s).join(' ') || 'unknown adapter';
  log(`transformers.js: webgpu (${tfjsDevice}), loaded in ${tfjsLoadMs.toFixed(0)} ms`);

  const i64 = (a: ArrayLike<number>) => new Tensor('int64', BigInt64Array.from(Array.from(a, BigInt)), [1, a.length]);
  const ones = (n: number) => new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
  const keep1 = () => new Tensor('int64', [1n], []);
  const presentToPast = (out: Record<string, any>) => {
    const past: Record<string, any> = {};
    for (const [k, v] of Object.entries(out)) if (k.startsWith('present.')) past[k.replace('present.', 'past_key_values.')] = v;
    return past;
  };
  const disposeAll = (past: Record<string, any>, except: Record<string, any> | null = null) => {
    for (const [k, v] of Object.entries(past)) if (!except || except[k] !== v) v.dispose?.();
  };
  /** The first `m` rows of every past tensor (batch 1, kvHeads, n, headDim): one GPU copy per layer, head and K/V. */
  const cutPast = (past: Record<string, any>, m: number): Record<string, any> => {
    const enc = ortDevice.createCommandEncoder();
    const out: Record<string, any> = {};
    for (const [k, t] of Object.entries(past)) {
      const [b, h, n, d] = t.dims as number[];
      const src: GPUBuffer = t.ort_tensor.gpuBuffer;
      const dst = ortDevice.createBuffer({ size: Math.max(16, b! * h! * m * d! * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      if (m > 0) for (let j = 0; j < b! * h!; j++) enc.copyBufferToBuffer(src, j * n! * d! * 4, dst, j * m * d! * 4, m * d! * 4);
      const ort = t.ort_tensor.constructor;
      out[k] = new Tensor(ort.fromGpuBuffer(dst, { dataType: 'float32', dims: [b, h, m, d], dispose: () => dst.destroy() }));
    }
    ortDevice.queue.submit([enc.finish()]);
    return out;
  };

  // a one-token insertion: a word that is one token after a space, before a space near the middle
  const word = [' value', ' data', ' x', ' a'].find((w) => tok.encode(w).length === 1) ?? ' x';
  const rows: PeersRow[] = [];
  const allTokens = tok.encode(cfg.corpus);
  for (const n of cfg.contexts) {
    if (allTokens.length < n) throw new Error(`the corpus has ${allTokens.length} tokens, fewer than ${n}`);
    const doc = tok.decode(allTokens.slice(0, n - 1));
    const ids = [tok.bos!, ...tok.encode(doc)];
    const theirIds = Array.from(tokenizer.encode(doc) as number[]);
    if (theirIds.length !== ids.length || theirIds.some((x, i) => x !== ids[i])) throw new Error(`n=${n}: transformers.js's token ids differ from ours`);
    let at = doc.indexOf(' ', doc.length >> 1);
    if (at < 0) at = doc.length >> 1;
    const edited = doc.slice(0, at) + word + doc.slice(at);
    const forward = [{ rangeOffset: at, rangeLength: 0, text: word }];
    const back = [{ rangeOffset: at, rangeLength: word.length, text: '' }];
    const editedIds = Array.from(tokenizer.encode(edited) as number[]);
    let first = 0;
    while (first < ids.length && editedIds[first] === ids[first]) first++;
    const editTokens = editedIds.length - ids.length;
    log(`context ${ids.length} tokens (${doc.length} characters); edit: ${JSON.stringify(word)} at character ${at}, first changed token ${first}, ${editTokens} token(s) more`);
    const maxRows = n + cfg.decodeTokens + 64;
    const runsMs: Record<string, number[]> = { oursPrefill: [], tfjsPrefill: [], oursDecode: [], tfjsDecode: [], oursEdit: [], oursFull: [], tfjsEdit: [] };
    const record = (key: string, r: number, ms: number) => {
      if (r > 0) runsMs[key]!.push(ms);
      log(`n=${n} ${key} ${r === 0 ? 'warm-up' : `run ${r}`}: ${ms.toFixed(1)} ms`);
    };

    // ours: the sessions the edits are measured on (pie, full), and a cache holding the document for decoding
    const sessions = {} as Record<'pie' | 'full', DocumentSession>;
    for (const method of ['pie', 'full'] as const) {
      sessions[method] = new DocumentSession(model, doc, { method, maxRows, fim: 'off' });
      await sessions[method].flush();
    }
    const cache = model.createCache(maxRows);
    const pos = ids.map((_, i) => i);
    const firstNext = (await model.forward(cache, ids, pos, pos, 'last')).next!;
    let oursRowsMoved = 0;
    let oursTokensEncoded = 0;
    let recomputed = 0;
    let tfjsFirst = -1;
    /** transformers.js's past key/values of the document (its latest prefill's), for its decode and edit runs. */
    let past0: Record<string, any> | null = null;

    // One run measures everything once, engine after engine, so that a change in the machine's load between runs
    // touches both; run 0 warms up (pipelines, shaders) and is not counted.
    try {
      for (let r = 0; r <= cfg.runs; r++) {
        // prefill
        let t = performance.now();
        const s = new DocumentSession(model, doc, { method: 'pie', maxRows, fim: 'off' });
        await s.flush();
        record('oursPrefill', r, performance.now() - t);
        s.destroy();
        t = performance.now();
        const x = Array.from(tokenizer.encode(doc) as number[]);
        const out = await peer({ input_ids: i64(x), attention_mask: ones(x.length), num_logits_to_keep: keep1() });
        tfjsFirst = argmax(out.logits.data);
        record('tfjsPrefill', r, performance.now() - t);
        if (past0) disposeAll(past0);
        past0 = presentToPast(out);

        // decode
        let next = firstNext;
        t = performance.now();
        for (let k = 0; k < cfg.decodeTokens; k++) {
          const p = n + k;
          next = (await model.forward(cache, [next], [p], [p], 'last')).next!;
        }
        record('oursDecode', r, performance.now() - t);
        next = tfjsFirst;
        let past = past0;
        t = performance.now();
        for (let k = 0; k < cfg.decodeTokens; k++) {
          const o = await peer({ input_ids: i64([next]), attention_mask: ones(n + k + 1), past_key_values: past });
          next = argmax(o.logits.data);
          if (past !== past0) disposeAll(past);
          past = presentToPast(o);
        }
        record('tfjsDecode', r, performance.now() - t);
        disposeAll(past);

        // the edit, to the next token's logits; ours undone after (untimed), so that every run starts alike
        for (const method of ['pie', 'full'] as const) {
          const ses = sessions[method];
          t = performance.now();
          ses.applyEdits(forward);
          const f = await ses.flush();
          record(method === 'pie' ? 'oursEdit' : 'oursFull', r, performance.now() - t);
          if (f.next === null) throw new Error('no next token');
          if (method === 'pie') ({ rowsMoved: oursRowsMoved, tokensEncoded: oursTokensEncoded } = ses.stats);
          ses.applyEdits(back);
          await ses.flush();
        }
        t = performance.now();
        const y = Array.from(tokenizer.encode(edited) as number[]);
        let m = 0;
        while (m < ids.length && y[m] === ids[m]) m++;
        const cut = cutPast(past0, m);
        const o = await peer({ input_ids: i64(y.slice(m)), attention_mask: ones(y.length), past_key_values: cut, num_logits_to_keep: keep1() });
        argmax(o.logits.data);
        record('tfjsEdit', r, performance.now() - t);
        recomputed = y.length - m;
        disposeAll(cut);
        disposeAll(presentToPast(o));
      }
    } finally {
      sessions.pie.destroy();
      sessions.full.destroy();
      cache.destroy();
      if (past0) disposeAll(past0);
    }

    const perToken = (xs: number[]) => cfg.decodeTokens / (median(xs) / 1000);
    rows.push({
      context: n,
      editTokens,
      oursPrefillMs: median(runsMs.oursPrefill),
      tfjsPrefillMs: median(runsMs.tfjsPrefill),
      oursDecodeTps: perToken(runsMs.oursDecode),
      tfjsDecodeTps: perToken(runsMs.tfjsDecode),
      oursEditMs: median(runsMs.oursEdit!),
      oursFullMs: median(runsMs.oursFull!),
      tfjsEditMs: median(runsMs.tfjsEdit),
      oursRowsMoved,
      oursTokensEncoded,
      tfjsTokensRecomputed: recomputed,
      nextTokenAgrees: firstNext === tfjsFirst,
      runsMs,
    });
    log(`n=${n}: ${JSON.stringify(rows.at(-1))}`);
  }
  model.destroy();
  await peer.dispose();
  return { device: ctx.describe(), tfjsDevice, tfjsVersion: env.version, userAgent: navigator.userAgent, loadMs: { ours: oursLoadMs, tfjs: tfjsLoadMs }, rows };
}

(globalThis as any).peersBench = peersBench;
(globalThis as any).peersReady = true;
