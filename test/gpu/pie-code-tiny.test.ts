// Our own code model, models/pie-code-tiny.gguf (tools/train-model, model card models/README.md), against
// llama.cpp (node-llama-cpp, CPU) and the f64 CPU reference: both load it, tokenize code the same way, name the same
// BOS/EOS/FIM tokens, and give the same logits at every position of a plain and of a fill-in-the-middle sequence (the
// tolerances of test/gpu/oracle.test.ts and docs/engine.md).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openLlamaCpp, type LlamaCpp } from '../../src/cli/llama.js';
import { sha256 } from '../../src/models/known.js';
import { KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { PY_SCRIPT as PY, TS_FUNCTION as TS } from '../helpers/code-samples.js';
import { skipOrFail } from '../helpers/fixtures.js';
import { testGpu } from '../helpers/gpu.js';
import { compareLogits, rowsOf } from '../helpers/logits.js';
import { referenceModel, type ReferenceModel } from '../helpers/reference-model.js';

/** Per position: max |ours - other| over the vocabulary / max |other|; the worst position counts. */
const TOL_REF = 1e-5;
/** llama.cpp's CPU backend rounds the activations to F16 before each F16 matrix product (oracle.test.ts). */
const TOL_LLAMA_F16 = 5e-3;

const PATH = join(projectRoot(), KNOWN_MODELS['pie-code-tiny.gguf']!.bundled!);
const MISSING = existsSync(PATH) ? '' : `${PATH} is absent (train and export it with tools/train-model, see its README)`;


describe('pie-code-tiny.gguf (our code model) against llama.cpp and the f64 reference', async () => {
  let ctx: GpuContext;
  let model: TransformerModel;
  let lc: LlamaCpp;
  let ref: ReferenceModel;
  before(async () => {
    if (MISSING) return;
    ctx = await testGpu();
    const src = await fileSource(PATH);
    try {
      model = await TransformerModel.load(ctx, src);
    } finally {
      await src.close();
    }
    ref = await referenceModel(readFileSync(PATH));
    lc = await openLlamaCpp(PATH, 512);
  });
  after(async () => {
    model?.destroy();
    await lc?.dispose();
  });

  test('the committed file is the one src/models/known.ts names (sha256)', (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    assert.equal(sha256(readFileSync(PATH)), KNOWN_MODELS['pie-code-tiny.gguf']!.sha256);
  });

  test('special tokens: BOS, EOS and the FIM tokens agree with llama.cpp; EOS ends generation', (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    const tok = model.tokenizer;
    assert.equal(tok.bos, lc.model.tokens.bos);
    assert.equal(tok.eos, lc.model.tokens.eos);
    assert.equal(tok.fim.prefix, lc.model.tokens.infill.prefix);
    assert.equal(tok.fim.suffix, lc.model.tokens.infill.suffix);
    assert.equal(tok.fim.middle, lc.model.tokens.infill.middle);
    assert.ok(tok.fim.prefix !== null && tok.fim.suffix !== null && tok.fim.middle !== null, 'FIM tokens missing');
    assert.ok(tok.isEog(tok.eos!), 'EOS is not end-of-generation');
    assert.ok(tok.isSpecial(tok.fim.middle!), 'the FIM middle token is not a control token');
  });

  test('tokenization of code equals llama.cpp\'s and round-trips', (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    const texts = [PY, TS, 'x = 1234567890 + 0.5e-10\r\n\tπ = "héllo wörld" # 中文 😀\n\n\n   ', "it's we're I'm", ' ', ''];
    for (const text of texts) {
      const ours = model.tokenizer.encode(text);
      assert.deepEqual(ours, [...lc.model.tokenize(text)].map(Number), `tokens of ${JSON.stringify(text.slice(0, 40))}`);
      assert.equal(model.tokenizer.decode(ours), text);
    }
    const bytesPerToken = PY.length / model.tokenizer.encode(PY).length;
    t.diagnostic(`Python sample: ${bytesPerToken.toFixed(2)} characters per token`);
    assert.ok(bytesPerToken > 2.5, `a code tokenizer should not need ${bytesPerToken.toFixed(2)} characters per token`);
  });

  async function logitsTest(t: { diagnostic(s: string): void }, what: string, seq: number[]) {
    const vocab = model.config.vocabSize;
    const cache = model.createCache(seq.length);
    const idx = seq.map((_, i) => i);
    const ours = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
    cache.destroy();
    const theirs = await lc.logitsAt(seq);
    const vsRef = compareLogits(ours, rowsOf(ref.logits(seq), vocab), vocab);
    const vsLlama = compareLogits(ours, theirs, vocab);
    t.diagnostic(`${what} (${seq.length} tokens): vs f64 reference ${vsRef.worst.toExponential(2)} (tolerance ${TOL_REF}); ` +
      `vs llama.cpp ${vsLlama.worst.toExponential(2)} (tolerance ${TOL_LLAMA_F16}), argmax mismatches ${vsLlama.argmaxMismatches}`);
    assert.ok(vsRef.worst <= TOL_REF, `${what}: ours vs f64 reference ${vsRef.worst} > ${TOL_REF}`);
    assert.ok(vsLlama.worst <= TOL_LLAMA_F16, `${what}: ours vs llama.cpp ${vsLlama.worst} > ${TOL_LLAMA_F16}`);
    return ours;
  }

  test('logits at every position of a Python file (left to right)', async (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    const tok = model.tokenizer;
    const seq = [tok.bos!, ...tok.encode(PY + '\n' + TS)];
    assert.ok(seq.length >= 200, `only ${seq.length} tokens`);
    await logitsTest(t, 'plain', seq);
  });

  test('logits at every position of a fill-in-the-middle prompt (PSM) and its middle', async (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    const tok = model.tokenizer;
    const cut = PY.indexOf('        self.value += by');
    const end = PY.indexOf('\n', cut) + 1;
    const seq = [tok.bos!, tok.fim.prefix!, ...tok.encode(PY.slice(0, cut)), tok.fim.suffix!, ...tok.encode(PY.slice(end)),
      tok.fim.middle!, ...tok.encode(PY.slice(cut, end))];
    await logitsTest(t, 'FIM', seq);
  });

  test("logits at every position of a fill-in-the-middle prompt in SPM order (the engine's spm layout)", async (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    const tok = model.tokenizer;
    const cut = PY.indexOf('        self.value += by');
    const end = PY.indexOf('\n', cut) + 1;
    const seq = [tok.bos!, tok.fim.prefix!, tok.fim.suffix!, ...tok.encode(PY.slice(end)), tok.fim.middle!, ...tok.encode(PY.slice(0, cut)),
      ...tok.encode(PY.slice(cut, end))];
    await logitsTest(t, 'SPM', seq);
  });

  test('greedy continuation agrees with llama.cpp', async (t) => {
    if (MISSING) return skipOrFail(t, MISSING);
    const tok = model.tokenizer;
    const start = [tok.bos!, ...tok.encode('def fibonacci(n):\n')];
    const theirs = await lc.greedy(start, 24);
    // ours, token by token through the cache, stopping at end of generation as llama.cpp's loop stops at EOS
    const cache = model.createCache(start.length + 24);
    const idx = start.map((_, i) => i);
    let next = (await model.forward(cache, start, idx, idx, 'last')).next!;
    const ours: number[] = [];
    for (let k = 0; k < 24 && !tok.isEog(next); k++) {
      ours.push(next);
      const p = start.length + k;
      next = (await model.forward(cache, [next], [p], [p], 'last')).next!;
    }
    cache.destroy();
    t.diagnostic(`ours: ${JSON.stringify(tok.decode(ours))}`);
    assert.deepEqual(ours, theirs);
  });
});
