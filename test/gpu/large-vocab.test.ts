// A vocabulary whose logits for a long batch do not fit one storage binding (Qwen2.5-Coder's 151,936 tokens: 220 rows
// in lavapipe's 128 MiB): forward() splits a batch that wants every position's logits, and each row equals the logits
// the same position gets as the last token of its own prefix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fixtureOrSkip } from '../helpers/fixtures.js';
import { normalisedError, testGpu } from '../helpers/gpu.js';
import { F16, randomModel } from '../helpers/random-model.js';

test('logits of every position of a batch longer than one binding holds (qwen2 vocabulary, split at the binding limit)', async (t) => {
  const vocab = fixtureOrSkip(t, 'vocab/ggml-vocab-qwen2.gguf');
  if (!vocab) return;
  const bytes = randomModel({ arch: 'qwen2', vocab, nLayers: 1, dim: 64, nHeads: 2, nKvHeads: 1, ffnDim: 128, contextLength: 4096, ropeBase: 1e6, tied: true, formats: F16, seed: 3 });
  const ctx = await testGpu();
  const model = await TransformerModel.load(ctx, bytesSource(bytes));
  try {
    const V = model.config.vocabSize;
    const perBinding = Math.floor(ctx.limits.maxStorageBufferBindingSize / (V * 4));
    const n = Math.min(perBinding + 80, 4000);
    assert.ok(n > perBinding, `the batch (${n}) must be longer than one binding's ${perBinding} rows of logits`);
    const seq = Array.from({ length: n }, (_, i) => (i * 7919) % V);
    const idx = seq.map((_, i) => i);
    const cache = model.createCache(n);
    const all = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
    assert.equal(all.length, n * V);
    for (const k of [1, perBinding, perBinding + 1, n]) {
      cache.clear();
      const last = (await model.forward(cache, seq.slice(0, k), idx.slice(0, k), idx.slice(0, k), 'last')).logits!;
      const err = normalisedError(all.subarray((k - 1) * V, k * V), last);
      t.diagnostic(`position ${k - 1}: batched vs as the last token ${err.toExponential(2)}`);
      assert.ok(err < 1e-5, `position ${k - 1}: the batched logits differ from the last-token logits by ${err}`);
    }
    cache.destroy();
  } finally {
    model.destroy();
  }
});
