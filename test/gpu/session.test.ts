// The edit-aware session on a real model (stories260K): PIE's invariants against a full recomputation, the methods
// side by side, and completion equal to plain generation from the same prompt.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate } from '../../src/engine/generate.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { LlamaModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { DocumentSession, type Method } from '../../src/engine/session.js';
import type { TextChange } from '../../src/engine/kv/mirror.js';
import { fixtureModel } from '../helpers/fixtures.js';
import { normalisedError, testGpu } from '../helpers/gpu.js';

const STORY =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big red ball. She wanted to play with it, so she ran to her mom.';
const EDITS: TextChange[][] = [
  [{ rangeOffset: 40, rangeLength: 0, text: ' happy' }], // insert in the middle
  [{ rangeOffset: 80, rangeLength: 10, text: '' }], // delete
  [
    { rangeOffset: 5, rangeLength: 4, text: 'in a' }, // multi-cursor: replace near the start
    { rangeOffset: 120, rangeLength: 0, text: ' very' }, // and insert further down
  ],
];

/** Layer-l K and V rows of a session, in position order: (entries, nKvHeads * headDim) each. */
async function rowsOf(ctx: GpuContext, s: DocumentSession, layer: number): Promise<{ k: Float32Array; v: Float32Array }> {
  const c = s.model.config;
  const [kAll, vAll] = [await ctx.readF32(s.cache.k), await ctx.readF32(s.cache.v)];
  const n = s.tokens.length;
  const k = new Float32Array(n * c.nKvHeads * c.headDim);
  const v = new Float32Array(k.length);
  for (let i = 0; i < n; i++) {
    const row = rowOfPosition(s, i);
    for (let h = 0; h < c.nKvHeads; h++) {
      const src = ((layer * c.nKvHeads + h) * s.cache.maxRows + row) * c.headDim;
      const dst = (i * c.nKvHeads + h) * c.headDim;
      k.set(kAll.subarray(src, src + c.headDim), dst);
      v.set(vAll.subarray(src, src + c.headDim), dst);
    }
  }
  return { k, v };
}

function rowOfPosition(s: DocumentSession, pos: number): number {
  const r = s.cache.positions.indexOf(pos);
  assert.ok(r >= 0, `no row holds position ${pos}`);
  return r;
}

describe('DocumentSession on stories260K', async () => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  let ctx: GpuContext;
  let model: LlamaModel;
  before(async () => {
    if (!path) return;
    ctx = await testGpu();
    const src = await fileSource(path);
    model = await LlamaModel.load(ctx, src);
    await src.close();
  });
  after(() => model?.destroy());

  const open = async (method: Method, text = STORY) => {
    const s = new DocumentSession(model, text, { method, maxRows: 512 });
    await s.flush();
    return s;
  };

  test('pie: after edits, layer-0 K and V of every row equal a full recomputation (1e-5); resync makes every layer equal', async (t) => {
    if (!path) return t.skip(why);
    const pie = await open('pie');
    for (const changes of EDITS) {
      pie.applyEdits(changes);
      await pie.flush();
      t.diagnostic(`rows moved ${pie.stats.rowsMoved}, dropped ${pie.stats.rowsDropped}, encoded ${pie.stats.tokensEncoded}, stale ${pie.staleRows}`);
      assert.ok(pie.stats.rowsMoved > 0, 'an edit in the middle must move rows');
      assert.ok(pie.stats.tokensEncoded < pie.tokens.length / 2, 'pie must not re-encode the document');
    }
    assert.ok(pie.staleRows > 0, 'rows after an edit are stale');
    const full = await open('full', pie.text);
    assert.deepEqual(pie.tokens, full.tokens);
    const a = await rowsOf(ctx, pie, 0);
    const b = await rowsOf(ctx, full, 0);
    const ek = normalisedError(a.k, b.k);
    const ev = normalisedError(a.v, b.v);
    t.diagnostic(`layer 0: K ${ek.toExponential(2)}, V ${ev.toExponential(2)}`);
    assert.ok(ek <= 1e-5 && ev <= 1e-5, `layer 0 differs: K ${ek}, V ${ev}`);
    // deeper layers of stale rows differ (their left context changed): PIE is not a recomputation
    const deep = normalisedError((await rowsOf(ctx, pie, 4)).k, (await rowsOf(ctx, full, 4)).k);
    t.diagnostic(`layer 4 K before resync: ${deep.toExponential(2)}`);
    assert.ok(deep > 1e-4, 'stale rows should differ in deep layers before a resync');
    await pie.resync();
    assert.equal(pie.staleRows, 0);
    for (let l = 0; l < model.config.nLayers; l++) {
      const x = await rowsOf(ctx, pie, l);
      const y = await rowsOf(ctx, full, l);
      assert.ok(normalisedError(x.k, y.k) <= 1e-5 && normalisedError(x.v, y.v) <= 1e-5, `layer ${l} differs after resync`);
    }
    pie.destroy();
    full.destroy();
  });

  test('cfe reuses rows without re-rotation: layer-0 K of moved rows is wrong, V right', async (t) => {
    if (!path) return t.skip(why);
    const cfe = await open('cfe');
    cfe.applyEdits(EDITS[0]!);
    await cfe.flush();
    const full = await open('full', cfe.text);
    const a = await rowsOf(ctx, cfe, 0);
    const b = await rowsOf(ctx, full, 0);
    assert.ok(normalisedError(a.k, b.k) > 1e-3, 'cfe keys should be at their old positions');
    assert.ok(normalisedError(a.v, b.v) <= 1e-5);
    cfe.destroy();
    full.destroy();
  });

  for (const method of ['pie', 'cfe', 'prefix', 'full'] as Method[]) {
    test(`${method}: a completion at the end equals plain generation from the same text when nothing was edited`, async (t) => {
      if (!path) return t.skip(why);
      const s = await open(method);
      const c = await s.complete({ maxTokens: 20 });
      const g = await generate(model, STORY, { maxTokens: 20, temperature: 0 });
      assert.deepEqual(c.tokens, g.tokens);
      s.destroy();
    });
  }

  test('completion in the middle (no FIM): equals generation from the prefix alone; the suffix is kept', async (t) => {
    if (!path) return t.skip(why);
    const s = await open('pie');
    const at = STORY.indexOf(' One day');
    const c = await s.complete({ offset: at, maxTokens: 15 });
    const g = await generate(model, STORY.slice(0, at), { maxTokens: 15, temperature: 0 });
    assert.deepEqual(c.tokens, g.tokens);
    assert.equal(s.text, STORY, 'completion must not change the text');
    // and the cache still holds the whole document at the right positions: a full session agrees on layer 0
    const full = await open('full');
    full.moveCursor(at);
    await full.flush();
    const ek = normalisedError((await rowsOf(ctx, s, 0)).k, (await rowsOf(ctx, full, 0)).k);
    assert.ok(ek <= 1e-5, `layer 0 K after the completion: ${ek}`);
    s.destroy();
    full.destroy();
  });

  test('methods side by side after edits: pie, prefix and full give the same greedy completion at the end', async (t) => {
    if (!path) return t.skip(why);
    const results: Record<string, number[]> = {};
    for (const method of ['full', 'prefix', 'pie'] as Method[]) {
      const s = await open(method);
      for (const changes of EDITS) s.applyEdits(changes);
      s.moveCursor(s.text.length);
      const c = await s.complete({ maxTokens: 10 });
      results[method] = c.tokens;
      t.diagnostic(`${method}: encoded ${c.flush.tokensEncoded}, moved ${c.flush.rowsMoved}, first token ${c.firstTokenMs.toFixed(1)} ms: ${JSON.stringify(c.text)}`);
      s.destroy();
    }
    assert.deepEqual(results.prefix, results.full, 'prefix reuse is exact');
    assert.equal(results.pie![0], results.full![0], 'pie agrees with full on the first token');
  });

  test('idle re-sync policy: nothing below the threshold; at it, a full re-encode that clears staleness', async (t) => {
    if (!path) return t.skip(why);
    const s = new DocumentSession(model, STORY, { method: 'pie', maxRows: 512, resyncThreshold: 30 });
    await s.flush();
    s.applyEdits([{ rangeOffset: STORY.length - 20, rangeLength: 0, text: ' big' }]);
    await s.flush();
    assert.ok(s.staleRows > 0 && s.staleRows < 30, `stale ${s.staleRows}`);
    assert.equal(await s.idleResync(), false);
    s.applyEdits(EDITS[0]!);
    await s.flush();
    assert.ok(s.staleRows >= 30, `stale ${s.staleRows}`);
    assert.equal(await s.idleResync(), true);
    assert.equal(s.staleRows, 0);
    assert.equal(s.stats.tokensEncoded, s.tokens.length);
    s.destroy();
  });
});
