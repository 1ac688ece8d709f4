// PIE's invariants (test/gpu/session.test.ts) on the other families' position encoding: random qwen2 and starcoder2
// models (test/helpers/random-model.ts; F16 weights, rope base 1e6, RoPE pairs (i, i + headDim/2) as in llama.cpp's
// NEOX rope type, QKV biases, starcoder2's LayerNorm) with their real code vocabularies, in a DocumentSession:
//   - after edits, layer-0 K and V of every row equal a full recomputation (K of moved rows re-rotated by the position
//     change, V and the bias unchanged); deeper layers of stale rows differ; resync makes every layer equal;
//   - the same with the FIM layout (psm), cursor in the middle, edits on both sides of it;
//   - inserting text and deleting it again (rows moved by +d, then by -d) returns layer 0 to the original cache.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { DocumentSession, type FimMode, type Method } from '../../src/engine/session.js';
import type { TextChange } from '../../src/engine/kv/mirror.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';
import { normalisedError, testGpu } from '../helpers/gpu.js';
import { F16, randomModel, type RandomModelSpec } from '../helpers/random-model.js';
import { fullRecomputation, kvRowsOf, layerError } from '../../src/engine/verify.js';

/** Layer-0 K/V against a full recomputation (normalised error): as session.test.ts. A moved row's key is re-rotated in
 *  f32 (about 1e-7 per rotation); layer 0 depends on nothing but the token and its position. */
const TOL_LAYER0 = 1e-5;
/** Stale rows' deeper layers must differ from a recomputation by more than this before a resync (their left context
 *  changed; PIE is not a recomputation), so that the test sees a difference where there is one. */
const MIN_STALE_DIFF = 1e-4;

const TEXT = `import math


def mean(xs):
    return sum(xs) / len(xs)


def stddev(xs):
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def normalise(xs):
    m, s = mean(xs), stddev(xs)
    return [(x - m) / s for x in xs]


print(normalise([1.0, 2.0, 3.0, 4.0]))
`;
const at = (needle: string): number => {
  const i = TEXT.indexOf(needle);
  assert.ok(i >= 0, needle);
  return i;
};
/** Edits, found in the text they apply to (each change's offset is in the text the previous changes left). */
const find = (text: string, needle: string): number => {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, needle);
  return i;
};
const EDITS: ((text: string) => TextChange[])[] = [
  // insert in the middle
  (x) => [{ rangeOffset: find(x, 'def stddev'), rangeLength: 0, text: 'def variance(xs):\n    return stddev(xs) ** 2\n\n\n' }],
  // replace a line
  (x) => [{ rangeOffset: find(x, '    return sum(xs) /'), rangeLength: '    return sum(xs) / len(xs)'.length, text: '    return 0' }],
  // multi-cursor: near the start, and further down (the second offset in the text the first left)
  (x) => [
    { rangeOffset: find(x, 'import math'), rangeLength: 'import math'.length, text: 'import math as m' },
    { rangeOffset: find(x, 'print(') + ' as m'.length, rangeLength: 0, text: '# done\n' },
  ],
];

/** Small shapes: 2 layers, head dim 32 (4 heads of a 128 dim), 2 KV heads. */
const SHAPE = { nLayers: 2, dim: 128, nHeads: 4, nKvHeads: 2, ffnDim: 256, contextLength: 4096, ropeBase: 1e6 };
/** fim: the vocabulary has FIM tokens (llama.cpp's qwen2 vocab, from Qwen2, has none; Qwen2.5-Coder's has). */
const FAMILIES: { arch: 'qwen2' | 'starcoder2'; vocab: string; tied: boolean; fim: boolean }[] = [
  { arch: 'qwen2', vocab: 'qwen2', tied: true, fim: false },
  { arch: 'starcoder2', vocab: 'starcoder', tied: false, fim: true },
];

for (const fam of FAMILIES) {
  describe(`DocumentSession on a random ${fam.arch} model (F16, NEOX RoPE pairs, rope base 1e6)`, () => {
    const rel = `vocab/ggml-vocab-${fam.vocab}.gguf`;
    const vocabPath = fixture(rel);
    const why = `missing fixture ../shared/fixtures/${rel}`;
    /** No vocab fixture: a failure under CI, else a skip naming it. */
    const missing = (t: { skip(m: string): void }): boolean => {
      if (vocabPath) return false;
      skipOrFail(t, why);
      return true;
    };
    let ctx: GpuContext;
    let model: TransformerModel;
    before(async () => {
      if (!vocabPath) return;
      ctx = await testGpu();
      const spec: RandomModelSpec = { arch: fam.arch, vocab: vocabPath, ...SHAPE, tied: fam.tied, formats: F16, seed: 5 };
      model = await TransformerModel.load(ctx, bytesSource(randomModel(spec)));
    });
    after(() => model?.destroy());

    const open = async (method: Method, o: { text?: string; fim?: FimMode; refreshWindow?: number } = {}) => {
      const s = new DocumentSession(model, o.text ?? TEXT, { method, maxRows: 512, fim: o.fim ?? 'off', refreshWindow: o.refreshWindow ?? 16 });
      await s.flush();
      return s;
    };

    test(`loads as ${fam.arch}: NEOX pairs, base 1e6`, (t) => {
      if (missing(t)) return;
      assert.equal(model.config.architecture, fam.arch);
      assert.equal(model.config.ropeLayout, 'neox');
      assert.equal(model.config.ropeBase, 1e6);
      assert.equal(model.config.headDim, 32);
      assert.equal(model.tokenizer.fim.prefix !== null && model.tokenizer.fim.suffix !== null && model.tokenizer.fim.middle !== null, fam.fim, 'FIM tokens');
    });

    test('pie: after edits, layer-0 K and V of every row equal a full recomputation; resync makes every layer equal', async (t) => {
      if (missing(t)) return;
      const pie = await open('pie');
      for (const edit of EDITS) {
        pie.applyEdits(edit(pie.text));
        await pie.flush();
        t.diagnostic(`rows moved ${pie.stats.rowsMoved}, dropped ${pie.stats.rowsDropped}, encoded ${pie.stats.tokensEncoded} of ${pie.tokens.length}, stale ${pie.staleRows}`);
        assert.ok(pie.stats.rowsMoved > 0, 'an edit in the middle must move rows');
        assert.ok(pie.stats.tokensEncoded < pie.tokens.length / 2, 'pie must not re-encode the document');
      }
      assert.ok(pie.staleRows > 0, 'rows after an edit are stale');
      const e0 = await layerError(pie, 0);
      const last = model.config.nLayers - 1;
      const deep = await layerError(pie, last);
      t.diagnostic(`layer 0: K ${e0.k.toExponential(2)}, V ${e0.v.toExponential(2)}; layer ${last} K before resync ${deep.k.toExponential(2)}`);
      assert.ok(e0.k <= TOL_LAYER0 && e0.v <= TOL_LAYER0, `layer 0 differs: K ${e0.k}, V ${e0.v}`);
      assert.ok(deep.k > MIN_STALE_DIFF, `stale rows should differ in layer ${last} before a resync (${deep.k})`);
      await pie.resync();
      assert.equal(pie.staleRows, 0);
      const full = await fullRecomputation(pie);
      for (let l = 0; l < model.config.nLayers; l++) {
        const x = await kvRowsOf(pie, l);
        const y = await kvRowsOf(full, l);
        const [ek, ev] = [normalisedError(x.k, y.k), normalisedError(x.v, y.v)];
        assert.ok(ek <= TOL_LAYER0 && ev <= TOL_LAYER0, `layer ${l} differs after resync: K ${ek}, V ${ev}`);
      }
      full.destroy();
      pie.destroy();
    });

    if (fam.fim) test('pie with FIM (psm): a cursor move and edits on both sides of the cursor keep layer 0 exact; resync makes every layer equal', async (t) => {
      if (missing(t)) return;
      const pie = await open('pie', { fim: 'psm' });
      assert.equal(pie.fim, 'psm');
      const cursor = at('stddev(xs)\n    return [');
      pie.moveCursor(cursor);
      await pie.flush();
      let e = await layerError(pie, 0);
      t.diagnostic(`cursor move: moved ${pie.stats.rowsMoved}, dropped ${pie.stats.rowsDropped}, encoded ${pie.stats.tokensEncoded}; layer 0 K ${e.k.toExponential(2)}, V ${e.v.toExponential(2)}`);
      assert.ok(e.k <= TOL_LAYER0 && e.v <= TOL_LAYER0, `layer 0 after the cursor move: K ${e.k}, V ${e.v}`);
      const ins = 'def variance(xs):\n    return stddev(xs) ** 2\n\n\n';
      pie.applyEdits([
        { rangeOffset: at('def stddev'), rangeLength: 0, text: ins }, // before the cursor
        { rangeOffset: at('print(') + ins.length, rangeLength: 'print'.length, text: 'show' }, // after it
      ]);
      assert.equal(pie.cursor, cursor + ins.length);
      await pie.flush();
      e = await layerError(pie, 0);
      t.diagnostic(`edits on both sides: moved ${pie.stats.rowsMoved}, encoded ${pie.stats.tokensEncoded}; layer 0 K ${e.k.toExponential(2)}, V ${e.v.toExponential(2)}`);
      assert.ok(pie.stats.rowsMoved > 0, 'the insertion before the cursor moves every row after it');
      assert.ok(e.k <= TOL_LAYER0 && e.v <= TOL_LAYER0, `layer 0 after edits: K ${e.k}, V ${e.v}`);
      await pie.resync();
      for (let l = 0; l < model.config.nLayers; l++) {
        const el = await layerError(pie, l);
        assert.ok(el.k <= TOL_LAYER0 && el.v <= TOL_LAYER0, `layer ${l} differs after resync: K ${el.k}, V ${el.v}`);
      }
      pie.destroy();
    });

    test('+d then -d: inserting text and deleting it again returns layer 0 to the original cache', async (t) => {
      if (missing(t)) return;
      // no refresh window: besides the inserted text, rows are only re-rotated, never re-encoded
      const pie = await open('pie', { refreshWindow: 0 });
      const n = pie.tokens.length;
      const original = await kvRowsOf(pie, 0);
      const where = at('def stddev');
      const ins = '# the spread of xs around its mean, in its units:\n';
      pie.applyEdits([{ rangeOffset: where, rangeLength: 0, text: ins }]);
      await pie.flush();
      const d = pie.tokens.length - n;
      const moved = pie.stats.rowsMoved;
      const there = await layerError(pie, 0);
      t.diagnostic(`+${d}: moved ${moved}, encoded ${pie.stats.tokensEncoded}; layer 0 vs full K ${there.k.toExponential(2)}, V ${there.v.toExponential(2)}`);
      assert.ok(d >= 8 && moved > 0, `inserted ${d} tokens, moved ${moved} rows`);
      assert.ok(there.k <= TOL_LAYER0 && there.v <= TOL_LAYER0, `layer 0 after +${d}: K ${there.k}, V ${there.v}`);
      pie.applyEdits([{ rangeOffset: where, rangeLength: ins.length, text: '' }]);
      await pie.flush();
      assert.equal(pie.text, TEXT);
      assert.equal(pie.tokens.length, n);
      assert.ok(pie.stats.rowsMoved > 0);
      const back = await kvRowsOf(pie, 0);
      const [ek, ev] = [normalisedError(back.k, original.k), normalisedError(back.v, original.v)];
      const full = await layerError(pie, 0);
      t.diagnostic(`-${d}: moved ${pie.stats.rowsMoved}, encoded ${pie.stats.tokensEncoded}; layer 0 vs original K ${ek.toExponential(2)}, V ${ev.toExponential(2)}; vs full K ${full.k.toExponential(2)}`);
      assert.ok(ek <= TOL_LAYER0 && ev <= TOL_LAYER0, `layer 0 after +${d} then -${d}: K ${ek}, V ${ev}`);
      assert.ok(full.k <= TOL_LAYER0 && full.v <= TOL_LAYER0, `layer 0 vs full after the round trip: K ${full.k}, V ${full.v}`);
      pie.destroy();
    });
  });
}
