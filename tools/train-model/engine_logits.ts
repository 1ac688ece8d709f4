// Logits and token ids of an exported GGUF from our WebGPU engine and from llama.cpp (node-llama-cpp, CPU), for
// verify_export.py to compare with PyTorch. Reads the project's src/ (never changes it). Run from the repository root:
//
//   node --import ./scripts/register.mjs tools/train-model/engine_logits.ts --model M.gguf --in job.json --out DIR
//
// job.json: {"sequences": [[ids...], ...], "texts": ["...", ...]}. Writes into DIR:
//   ours-<i>.f32     our logits of sequence i at every position, (length x vocab) little-endian float32
//   llama-<i>.f32    llama.cpp's, the same layout (its CPU backend with an f32 KV cache, as the engine's oracle test)
//   result.json      {"device", "vocab", "llamaLoaded", "llamaError", "llamaIds": [[...]] for each text (tokenize(text)
//                    without BOS), "oursGreedy"/"llamaGreedy": greedy continuations of sequence 0, 16 tokens}
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLlamaCpp } from '../../src/cli/llama.js';
import { acquireNodeGpu } from '../../src/engine/gpu/node.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, in: { type: 'string' }, out: { type: 'string' }, 'no-llama': { type: 'boolean', default: false } },
});
if (!values.model || !values.in || !values.out) throw new Error('usage: --model M.gguf --in job.json --out DIR [--no-llama]');
const job = JSON.parse(readFileSync(values.in, 'utf8')) as { sequences: number[][]; texts?: string[] };
mkdirSync(values.out, { recursive: true });

/** node-llama-cpp frees a disposed sequence lazily: the next getSequence() can throw "No sequences left". */
async function retry<T>(f: () => Promise<T>): Promise<T> {
  for (let k = 0; ; k++) {
    try {
      return await f();
    } catch (e) {
      if (k >= 20 || !/No sequences left/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const f32 = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const result: Record<string, unknown> = {};

const ctx = await acquireNodeGpu();
result.device = ctx.describe();
const src = await fileSource(values.model);
const model = await TransformerModel.load(ctx, src);
await src.close();
const vocab = model.config.vocabSize;
result.vocab = vocab;
const maxLen = Math.max(...job.sequences.map((s) => s.length));
for (const [i, seq] of job.sequences.entries()) {
  const cache = model.createCache(seq.length);
  const idx = seq.map((_, j) => j);
  const ours = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
  cache.destroy();
  writeFileSync(join(values.out, `ours-${i}.f32`), f32(ours));
}
{
  // greedy continuation of sequence 0, token by token through the cache
  const seq = job.sequences[0]!;
  const cache = model.createCache(seq.length + 16);
  const idx = seq.map((_, j) => j);
  let next = (await model.forward(cache, seq, idx, idx, 'last')).next!;
  const out: number[] = [];
  for (let k = 0; k < 16; k++) {
    const t = next;
    out.push(t);
    const p = seq.length + k;
    next = (await model.forward(cache, [t], [p], [p], 'last')).next!;
  }
  cache.destroy();
  result.oursGreedy = out;
}
model.destroy();

if (!values['no-llama']) {
  try {
    const lc = await openLlamaCpp(values.model, Math.max(64, maxLen + 32));
    result.llamaLoaded = true;
    for (const [i, seq] of job.sequences.entries()) {
      const rows = await retry(() => lc.logitsAt(seq));
      const flat = new Float32Array(rows.length * vocab);
      rows.forEach((r, p) => flat.set(r.subarray(0, vocab), p * vocab));
      writeFileSync(join(values.out, `llama-${i}.f32`), f32(flat));
    }
    result.llamaGreedy = await retry(() => lc.greedy(job.sequences[0]!, 16));
    result.llamaIds = (job.texts ?? []).map((t) => [...lc.model.tokenize(t)].map(Number));
    result.llamaInfo = {
      bos: lc.model.tokens.bos, eos: lc.model.tokens.eos,
      fim: { prefix: lc.model.tokens.infill.prefix, suffix: lc.model.tokens.infill.suffix, middle: lc.model.tokens.infill.middle },
      trainContextSize: lc.model.trainContextSize,
    };
    await lc.dispose();
  } catch (e) {
    result.llamaLoaded = false;
    result.llamaError = (e as Error).message;
  }
}
writeFileSync(join(values.out, 'result.json'), JSON.stringify(result));
console.log(JSON.stringify({ ok: true, out: values.out }));
process.exit(0);
