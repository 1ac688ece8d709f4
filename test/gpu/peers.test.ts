// pie-code-tiny in transformers.js (the peer of bench/peers.mjs) against our engine, in Node: the model exported by
// tools/export-transformersjs (ONNX decoder with past key/values, config.json, tokenizer.json from the GGUF's
// vocabulary) and run by @huggingface/transformers on onnxruntime-node's CPU backend; ours on Dawn with a CPU driver.
// Both must give the same token ids for code, the same logits at every position, the same logits when transformers.js
// reuses its past key/values up to a point (as the benchmark does after an edit), and the same greedy tokens.
//
// Tolerance: per position, max |ours - theirs| over the vocabulary / max |theirs|, the worst position counts (the
// measure of test/gpu/oracle.test.ts). Both run the same F16-valued weights in f32; what differs is the order of the
// f32 sums (our WGSL kernels against onnxruntime's MLAS), the RoPE sin/cos (our polynomial against libm) and softmax
// details. Ours is within 1e-5 of an f64 reference (pie-code-tiny.test.ts); the two engines here within TOL: measured
// 6.8e-6 / 7.7e-6 (fused / plain graph) on 258 positions, 4.4e-5 at the end of a full 2,048-token context, where the
// difference grows with the length (docs/peers.md). Run for both graphs of the exporter (--graph fused|plain).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { exportForTransformersJs } from '../../tools/export-transformersjs/export.mjs';
import { PY_MODULE as PY, TS_FUNCTION as TS } from '../helpers/code-samples.js';
import { skipOrFail } from '../helpers/fixtures.js';
import { testGpu } from '../helpers/gpu.js';
import { compareLogits, rowsOf } from '../helpers/logits.js';

/** Worst relative logit difference allowed between the two engines (measured: see docs/peers.md). */
const TOL = 1e-4;

const PATH = join(projectRoot(), KNOWN_MODELS['pie-code-tiny.gguf']!.bundled!);

const JS = `const total = items.reduce((sum, { price, qty }) => sum + price * qty, 0);\nconsole.log(\`total: \${total.toFixed(2)}\`);\n`;

// transformers.js, typed loosely: its .d.ts is large and these tests use a few calls.
type Tjs = typeof import('@huggingface/transformers');

/** Our engine's copy of the model, loaded once for both graphs. */
let ours: Promise<TransformerModel> | null = null;
async function ourModel(): Promise<TransformerModel> {
  ours ??= (async () => {
    const ctx: GpuContext = await testGpu();
    const src = await fileSource(PATH);
    try {
      return await TransformerModel.load(ctx, src);
    } finally {
      await src.close();
    }
  })();
  return ours;
}
after(async () => (await ours)?.destroy());

// 'fused' (onnxruntime's GroupQueryAttention and SkipSimplifiedLayerNormalization: what bench/peers.mjs runs) and
// 'plain' (standard ONNX operators only)
for (const graph of ['fused', 'plain'] as const) describe(`pie-code-tiny in transformers.js (onnxruntime-node, the ${graph} graph) against our engine`, async () => {
  let missing = '';
  let tjs: Tjs;
  let tokenizer: any;
  let peer: any;
  let model: TransformerModel;
  let exportMs = 0;
  before(async () => {
    if (!existsSync(PATH)) {
      missing = `${PATH} is absent (tools/train-model makes it)`;
      return;
    }
    try {
      tjs = await import('@huggingface/transformers');
    } catch (e) {
      missing = `@huggingface/transformers cannot be loaded (npm ci installs it; onnxruntime-node's CPU runtime comes inside its npm package): ${(e as Error).message}`;
      return;
    }
    let where: ReturnType<typeof exportForTransformersJs>;
    try {
      const t0 = performance.now();
      where = exportForTransformersJs({ gguf: PATH, graph });
      exportMs = performance.now() - t0;
    } catch (e) {
      missing = `the export for transformers.js cannot run: ${(e as Error).message}`;
      return;
    }
    tjs.env.allowRemoteModels = false;
    tjs.env.allowLocalModels = true;
    tjs.env.localModelPath = where.localModelPath;
    tokenizer = await tjs.AutoTokenizer.from_pretrained(where.modelId);
    peer = await tjs.AutoModelForCausalLM.from_pretrained(where.modelId, { dtype: 'fp32', device: 'cpu' });
    model = await ourModel();
  });
  after(async () => {
    await peer?.dispose();
  });

  const ids = (a: number[]) => new tjs.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
  const ones = (n: number) => new tjs.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);

  /** transformers.js's logits (one row per position) for `seq`, after `past` (its present.* of earlier positions). */
  async function peerLogits(seq: number[], past: Record<string, any> | null = null, pastLength = 0): Promise<Float32Array[]> {
    const out = await peer({ input_ids: ids(seq), attention_mask: ones(pastLength + seq.length), ...(past ? { past_key_values: past } : {}) });
    const vocab = model.config.vocabSize;
    assert.deepEqual(out.logits.dims, [1, seq.length, vocab]);
    const flat = out.logits.data as Float32Array;
    return rowsOf(flat, vocab);
  }

  async function ourLogits(seq: number[]): Promise<Float32Array> {
    const cache = model.createCache(seq.length);
    const idx = seq.map((_, i) => i);
    try {
      return (await model.forward(cache, seq, idx, idx, 'all')).logits!;
    } finally {
      cache.destroy();
    }
  }

  test('the export runs (cached by the GGUF\'s sha256)', (t) => {
    if (missing) return skipOrFail(t, missing);
    t.diagnostic(`export.py: ${exportMs.toFixed(0)} ms (a cached export is only checked)`);
    assert.equal(model.config.vocabSize, peer.config.vocab_size);
  });

  test('tokenizer.json gives our token ids for code (BOS first) and decodes them back', (t) => {
    if (missing) return skipOrFail(t, missing);
    const texts = [PY, TS, JS, 'x = 1234567890 + 0.5e-10\r\n\tπ = "héllo wörld" # 中文 😀\n\n\n   ', "it's we're I'm DON'T", ' ', 'a  b\t\tc\n \n'];
    const bos = model.tokenizer.bos!;
    for (const text of texts) {
      const ours = model.tokenizer.encode(text);
      const theirs = Array.from(tokenizer.encode(text) as number[]);
      assert.deepEqual(theirs, [bos, ...ours], `token ids of ${JSON.stringify(text.slice(0, 40))}`);
      assert.equal(tokenizer.decode(theirs, { skip_special_tokens: true }), text);
    }
    assert.equal(tokenizer.bos_token_id ?? tokenizer.model.tokens_to_ids.get(tokenizer.bos_token), bos);
  });

  test(`logits at every position agree (tolerance ${TOL})`, async (t) => {
    if (missing) return skipOrFail(t, missing);
    const seq = [model.tokenizer.bos!, ...model.tokenizer.encode(PY + '\n' + TS + JS)];
    assert.ok(seq.length >= 200, `only ${seq.length} tokens`);
    const ours = await ourLogits(seq);
    const c = compareLogits(ours, await peerLogits(seq), model.config.vocabSize);
    t.diagnostic(`${seq.length} positions: worst ${c.worst.toExponential(2)} (tolerance ${TOL}), argmax mismatches ${c.argmaxMismatches}`);
    assert.ok(c.worst <= TOL, `ours vs transformers.js ${c.worst} > ${TOL}`);
    assert.equal(c.argmaxMismatches, 0);
  });

  test('its past key/values cut at a point, then the rest: the same logits (what the benchmark does after an edit)', async (t) => {
    if (missing) return skipOrFail(t, missing);
    const seq = [model.tokenizer.bos!, ...model.tokenizer.encode(TS + PY)];
    const n = seq.length;
    const m = n >> 1;
    const ours = await ourLogits(seq);
    // the whole sequence once, its present.* cut to the first m positions, then positions m.. on top of them
    const full = await peer({ input_ids: ids(seq), attention_mask: ones(n) });
    const past: Record<string, any> = {};
    for (const [name, v] of Object.entries(full as Record<string, any>)) {
      if (!name.startsWith('present.')) continue;
      assert.equal(v.dims[2], n);
      past[name.replace('present.', 'past_key_values.')] = v.slice(null, null, [0, m], null);
    }
    const rest = await peerLogits(seq.slice(m), past, m);
    const c = compareLogits(ours.subarray(m * model.config.vocabSize), rest, model.config.vocabSize);
    t.diagnostic(`${n - m} positions after a past of ${m}: worst ${c.worst.toExponential(2)} (tolerance ${TOL}), argmax mismatches ${c.argmaxMismatches}`);
    assert.ok(c.worst <= TOL, `ours vs transformers.js with a cut past ${c.worst} > ${TOL}`);
    assert.equal(c.argmaxMismatches, 0);
  });

  test('at the full context (2048 tokens): the last positions agree (RoPE angles at large positions)', async (t) => {
    if (missing) return skipOrFail(t, missing);
    const tok = model.tokenizer;
    const n = model.config.contextLength;
    const one = tok.encode(PY + TS + JS);
    const seq = [tok.bos!];
    while (seq.length < n) seq.push(...one);
    seq.length = n;
    // ours: the whole context in one cache, the logits of its last 8 positions (the first n - 8 encoded without logits)
    const cache = model.createCache(n);
    const idx = seq.map((_, i) => i);
    const k = 8;
    let ours: Float32Array;
    try {
      await model.forward(cache, seq.slice(0, n - k), idx.slice(0, n - k), idx.slice(0, n - k), 'none');
      ours = (await model.forward(cache, seq.slice(n - k), idx.slice(n - k), idx.slice(n - k), 'all')).logits!;
    } finally {
      cache.destroy();
    }
    const out = await peer({ input_ids: ids(seq), attention_mask: ones(n), num_logits_to_keep: new tjs.Tensor('int64', [BigInt(k)], []) });
    assert.deepEqual(out.logits.dims, [1, k, model.config.vocabSize]);
    const c = compareLogits(ours, rowsOf(out.logits.data as Float32Array, model.config.vocabSize), model.config.vocabSize);
    t.diagnostic(`positions ${n - k}..${n - 1}: worst ${c.worst.toExponential(2)} (tolerance ${TOL}), argmax mismatches ${c.argmaxMismatches}`);
    assert.ok(c.worst <= TOL, `ours vs transformers.js at ${n} tokens ${c.worst} > ${TOL}`);
    assert.equal(c.argmaxMismatches, 0);
  });

  test('greedy generation: the same 24 tokens (transformers.js generate(), ours through the cache)', async (t) => {
    if (missing) return skipOrFail(t, missing);
    const tok = model.tokenizer;
    const start = [tok.bos!, ...tok.encode('def fibonacci(n):\n')];
    const gen = await peer.generate({ input_ids: ids(start), attention_mask: ones(start.length), max_new_tokens: 24, do_sample: false });
    const theirs = Array.from(gen.data as BigInt64Array, Number).slice(start.length);
    const cache = model.createCache(start.length + 24);
    const idx = start.map((_, i) => i);
    let next = (await model.forward(cache, start, idx, idx, 'last')).next!;
    const ours: number[] = [];
    for (let k = 0; k < 24; k++) {
      ours.push(next);
      if (tok.isEog(next)) break;
      const p = start.length + k;
      next = (await model.forward(cache, [next], [p], [p], 'last')).next!;
    }
    cache.destroy();
    t.diagnostic(`greedy: ${JSON.stringify(tok.decode(ours.filter((x) => !tok.isEog(x))))}`);
    assert.deepEqual(theirs, ours);
  });
});
