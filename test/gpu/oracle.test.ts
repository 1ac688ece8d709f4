// The whole model against llama.cpp, running inside this test (node-llama-cpp, CPU): logits at every position of a
// 64-token sequence, and greedy continuations of 100 tokens, on real GGUF files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openLlamaCpp, type LlamaCpp } from '../../src/cli/llama.js';
import { generate } from '../../src/engine/generate.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { LlamaModel } from '../../src/engine/model/model.js';
import { GGMLType } from '../../src/engine/model/gguf.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { fixtureModel } from '../helpers/fixtures.js';
import { patchU32, quantizeQ8_0Bytes, rewriteGGUF } from '../helpers/gguf-rewrite.js';
import { testGpu } from '../helpers/gpu.js';

/** Tolerances, stated in docs/engine.md: per position, max |ours - llama.cpp| over the vocabulary divided by the
 *  largest |logit| of llama.cpp at that position. */
const TOL_STORIES = 1e-4;
const TOL_F16 = 1e-4;
/** llama.cpp's CPU backend also quantizes the activations to Q8_0 before each Q8_0 matrix product (we keep them in
 *  f32), so the two differ by that rounding. */
const TOL_Q8_0 = 3e-2;

interface Compared {
  worst: number;
  argmaxMismatches: number;
}

function compareLogits(ours: Float32Array, theirs: Float32Array[], vocab: number): Compared {
  let worst = 0;
  let argmaxMismatches = 0;
  theirs.forEach((ref, p) => {
    let maxDiff = 0;
    let scale = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < vocab; i++) {
      const o = ours[p * vocab + i]!;
      assert.ok(Number.isFinite(o), `non-finite logit at position ${p}, token ${i}`);
      maxDiff = Math.max(maxDiff, Math.abs(o - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
      if (o > ours[p * vocab + a]!) a = i;
      if (ref[i]! > ref[b]!) b = i;
    }
    worst = Math.max(worst, maxDiff / scale);
    if (a !== b) argmaxMismatches++;
  });
  return { worst, argmaxMismatches };
}

async function loadOurs(ctx: GpuContext, path: string): Promise<LlamaModel> {
  const src = await fileSource(path);
  try {
    return await LlamaModel.load(ctx, src);
  } finally {
    await src.close();
  }
}

describe('stories260K.gguf (F32, grouped-query attention) against llama.cpp', async () => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  let ctx: GpuContext;
  let model: LlamaModel;
  let lc: LlamaCpp;
  before(async () => {
    if (!path) return;
    ctx = await testGpu();
    model = await loadOurs(ctx, path);
    lc = await openLlamaCpp(path, 256);
  });
  after(async () => {
    model?.destroy();
    await lc?.dispose();
  });

  const prompts = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park. They'];
  for (const prompt of prompts) {
    test(`logits at every position of 64 tokens: "${prompt}"`, async (t) => {
      if (!path) return t.skip(why);
      const tok = model.tokenizer;
      const start = [tok.bos!, ...tok.encode(prompt)];
      // a real 64-token sequence: the prompt and llama.cpp's own greedy continuation
      const seq = [...start, ...(await lc.greedy(start, 64 - start.length))].slice(0, 64);
      assert.equal(seq.length, 64, 'llama.cpp stopped early; choose another prompt');
      const theirs = await lc.logitsAt(seq);
      const cache = model.createCache(64);
      const idx = seq.map((_, i) => i);
      const ours = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
      cache.destroy();
      const r = compareLogits(ours, theirs, model.config.vocabSize);
      t.diagnostic(`worst normalised max-abs logit difference ${r.worst.toExponential(2)} (tolerance ${TOL_STORIES}), argmax mismatches ${r.argmaxMismatches}/64`);
      assert.ok(r.worst <= TOL_STORIES, `worst ${r.worst} > ${TOL_STORIES}`);
      assert.equal(r.argmaxMismatches, 0);
    });

    test(`greedy continuation of 100 tokens is identical: "${prompt}"`, async (t) => {
      if (!path) return t.skip(why);
      const tok = model.tokenizer;
      const start = [tok.bos!, ...tok.encode(prompt)];
      const theirs = await lc.greedy(start, 100);
      const ours = await generate(model, start, { maxTokens: 100, temperature: 0, addBos: false });
      t.diagnostic(`ours: ${JSON.stringify(ours.text.slice(0, 80))}...`);
      assert.deepEqual(ours.tokens, theirs);
      assert.ok(ours.tokens.length >= 50, `only ${ours.tokens.length} tokens`);
    });
  }

  test('prefill in one batch equals token-by-token decoding (the cache is used right)', async (t) => {
    if (!path) return t.skip(why);
    const seq = [model.tokenizer.bos!, ...model.tokenizer.encode('Once upon a time, there was a big dog named Max.')];
    const idx = seq.map((_, i) => i);
    const cache = model.createCache(seq.length);
    const batched = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
    cache.clear();
    const vocab = model.config.vocabSize;
    let worst = 0;
    for (let i = 0; i < seq.length; i++) {
      const one = (await model.forward(cache, [seq[i]!], [i], [i], 'last')).logits!;
      for (let j = 0; j < vocab; j++) worst = Math.max(worst, Math.abs(one[j]! - batched[i * vocab + j]!));
    }
    cache.destroy();
    t.diagnostic(`max abs difference ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `batched and sequential logits differ by ${worst}`);
  });
});

/** Our logits vs llama.cpp's at every position of `text` (BOS + up to 64 tokens) for the model in `bytes`. */
async function compareOnFile(t: { diagnostic(s: string): void }, bytes: Uint8Array, text: string, tol: number, what: string) {
  const dir = mkdtempSync(join(tmpdir(), 'pie-oracle-'));
  const path = join(dir, 'model.gguf');
  writeFileSync(path, bytes);
  const ctx = await testGpu();
  const model = await loadOurs(ctx, path);
  const lc = await openLlamaCpp(path, 128);
  try {
    const tok = model.tokenizer;
    const seq = [tok.bos!, ...tok.encode(text)].slice(0, 64);
    assert.equal(seq.length, 64, 'the text must give at least 63 tokens');
    const theirs = await lc.logitsAt(seq);
    const cache = model.createCache(64);
    const idx = seq.map((_, i) => i);
    const ours = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
    cache.destroy();
    const r = compareLogits(ours, theirs, model.config.vocabSize);
    t.diagnostic(`${what}: worst normalised max-abs logit difference ${r.worst.toExponential(2)} (tolerance ${tol}), argmax mismatches ${r.argmaxMismatches}/64`);
    assert.ok(r.worst <= tol, `${what}: worst ${r.worst} > ${tol}`);
    return { model: model.config, ...r };
  } finally {
    model.destroy();
    await lc.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const CODE = 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\nprint(fibonacci(10))';
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big red ball.';

describe('derived and F16 models against llama.cpp', async () => {
  const tiny = await fixtureModel('llama-2-tiny-random.gguf');
  const stories = await fixtureModel('stories260K.gguf');

  test('llama-2-tiny-random.gguf (F16 weights, 32000-token SentencePiece vocabulary): logits at every position', async (t) => {
    if (!tiny.path) return t.skip(tiny.why);
    const r = await compareOnFile(t, readFileSync(tiny.path), CODE, TOL_F16, 'F16');
    assert.equal(r.model.vocabSize, 32000);
  });

  test('partial rotary: llama-2-tiny-random with llama.rope.dimension_count patched to 2 of 4 head dims', async (t) => {
    if (!tiny.path) return t.skip(tiny.why);
    const patched = patchU32(readFileSync(tiny.path), 'llama.rope.dimension_count', 2);
    const r = await compareOnFile(t, patched, CODE, TOL_F16, 'partial rotary');
    assert.equal(r.model.ropeDim, 2);
    assert.equal(r.model.headDim, 4);
  });

  test('Q8_0: stories260K with every matrix whose rows are a multiple of 32 quantized by ggml\'s reference rule', async (t) => {
    if (!stories.path) return t.skip(stories.why);
    let quantized = 0;
    const q8 = await rewriteGGUF(readFileSync(stories.path), (info, data) => {
      if (info.type !== GGMLType.F32 || info.dims.length !== 2 || info.dims[0]! % 32 !== 0) return null;
      quantized++;
      return { type: GGMLType.Q8_0, data: quantizeQ8_0Bytes(new Float32Array(data.slice().buffer)) };
    });
    assert.ok(quantized >= 30, `only ${quantized} tensors quantized`);
    await compareOnFile(t, q8, STORY, TOL_Q8_0, `Q8_0 (${quantized} tensors)`);
  });
});
