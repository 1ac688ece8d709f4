// The edit-aware session on a real model (stories260K): PIE's invariants against a full recomputation, the methods
// side by side, completion equal to plain generation from the same prompt, the editor's stop rules, accept(); and the
// same model given FIM tokens (test/helpers/fim-model.ts) for prefix-suffix-middle completion.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { generate } from '../../src/engine/generate.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { type Completion, DocumentSession, type Method } from '../../src/engine/session.js';
import type { TextChange } from '../../src/engine/kv/mirror.js';
import { withFimTokens } from '../helpers/fim-model.js';
import { fixtureModel, skipOrFail } from '../helpers/fixtures.js';
import { normalisedError, testGpu } from '../helpers/gpu.js';
import { kvRowsOf as rowsOf, layerError } from '../../src/engine/verify.js';

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

/** Worst normalised layer-0 K/V error of `s` against a 'full' session of the same text and cursor. */
async function layer0Error(s: DocumentSession): Promise<number> {
  const e = await layerError(s, 0);
  return Math.max(e.k, e.v);
}

/** Rows that hold a position: the document's, when no generated row leaked. */
const rowsHeld = (s: DocumentSession): number => s.cache.positions.filter((p) => p >= 0).length;

/**
 * accept() of a fresh completion: the text is prefix + completion + suffix with the cursor after the completion, and
 * the next flush moves rows instead of encoding the completion: besides stale rows that the session chooses to
 * re-encode (the logits token among them), it encodes only the completion's last token (sampled, never fed, unless a
 * stop token ended it); layer-0 K and V equal a full recomputation's.
 */
async function checkAccept(t: { diagnostic(m: string): void }, s: DocumentSession, c: Completion, text = c.text): Promise<void> {
  const [head, tail, cursor] = [s.text.slice(0, s.cursor), s.text.slice(s.cursor), s.cursor];
  s.accept(c, text);
  assert.equal(s.text, head + text + tail);
  assert.equal(s.cursor, cursor + text.length, 'the cursor ends after the completion');
  const stale = s.staleRows;
  await s.flush();
  const refreshed = stale - s.staleRows;
  const err = await layer0Error(s);
  const { tokensEncoded, rowsMoved, rowsDropped } = s.stats;
  t.diagnostic(`accept ${text === c.text ? '' : `${JSON.stringify(text)} of `}${c.tokens.length} tokens (${c.stopReason}): encoded ${tokensEncoded} (${refreshed} of them stale rows), moved ${rowsMoved}, dropped ${rowsDropped}, layer 0 ${err.toExponential(2)}`);
  assert.ok(tokensEncoded - refreshed <= (c.stopReason === 'eos' ? 1 : 2), `encoded ${tokensEncoded}, ${refreshed} of them stale rows`);
  // spm: the generated rows already sit where the accepted text goes, and nothing follows them
  if (s.fim === 'spm') assert.equal(rowsMoved, 0);
  else assert.ok(rowsMoved > 0);
  assert.ok(err <= 1e-5, `layer 0 after accept: ${err}`);
  assert.equal(rowsHeld(s), s.tokens.length);
}

describe('DocumentSession on stories260K', async () => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  let ctx: GpuContext;
  let model: TransformerModel;
  before(async () => {
    if (!path) return;
    ctx = await testGpu();
    const src = await fileSource(path);
    model = await TransformerModel.load(ctx, src);
    await src.close();
  });
  after(() => model?.destroy());

  const open = async (method: Method, text = STORY) => {
    const s = new DocumentSession(model, text, { method, maxRows: 512 });
    await s.flush();
    return s;
  };

  test('pie: after edits, layer-0 K and V of every row equal a full recomputation (1e-5); resync makes every layer equal', async (t) => {
    if (!path) return skipOrFail(t, why);
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
    const a = await rowsOf(pie, 0);
    const b = await rowsOf(full, 0);
    const ek = normalisedError(a.k, b.k);
    const ev = normalisedError(a.v, b.v);
    t.diagnostic(`layer 0: K ${ek.toExponential(2)}, V ${ev.toExponential(2)}`);
    assert.ok(ek <= 1e-5 && ev <= 1e-5, `layer 0 differs: K ${ek}, V ${ev}`);
    // deeper layers of stale rows differ (their left context changed): PIE is not a recomputation
    const deep = normalisedError((await rowsOf(pie, 4)).k, (await rowsOf(full, 4)).k);
    t.diagnostic(`layer 4 K before resync: ${deep.toExponential(2)}`);
    assert.ok(deep > 1e-4, 'stale rows should differ in deep layers before a resync');
    await pie.resync();
    assert.equal(pie.staleRows, 0);
    for (let l = 0; l < model.config.nLayers; l++) {
      const x = await rowsOf(pie, l);
      const y = await rowsOf(full, l);
      assert.ok(normalisedError(x.k, y.k) <= 1e-5 && normalisedError(x.v, y.v) <= 1e-5, `layer ${l} differs after resync`);
    }
    pie.destroy();
    full.destroy();
  });

  test('cfe reuses rows without re-rotation: layer-0 K of moved rows is wrong, V right', async (t) => {
    if (!path) return skipOrFail(t, why);
    const cfe = await open('cfe');
    cfe.applyEdits(EDITS[0]!);
    await cfe.flush();
    const full = await open('full', cfe.text);
    const a = await rowsOf(cfe, 0);
    const b = await rowsOf(full, 0);
    assert.ok(normalisedError(a.k, b.k) > 1e-3, 'cfe keys should be at their old positions');
    assert.ok(normalisedError(a.v, b.v) <= 1e-5);
    cfe.destroy();
    full.destroy();
  });

  for (const method of ['pie', 'cfe', 'prefix', 'full'] as Method[]) {
    test(`${method}: a completion at the end equals plain generation from the same text when nothing was edited`, async (t) => {
      if (!path) return skipOrFail(t, why);
      const s = await open(method);
      const c = await s.complete({ maxTokens: 20 });
      const g = await generate(model, STORY, { maxTokens: 20, temperature: 0 });
      assert.deepEqual(c.tokens, g.tokens);
      s.destroy();
    });
  }

  test('completion in the middle (no FIM): equals generation from the prefix alone; the suffix is kept', async (t) => {
    if (!path) return skipOrFail(t, why);
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
    const ek = normalisedError((await rowsOf(s, 0)).k, (await rowsOf(full, 0)).k);
    assert.ok(ek <= 1e-5, `layer 0 K after the completion: ${ek}`);
    s.destroy();
    full.destroy();
  });

  test('methods side by side after edits: pie, prefix and full give the same greedy completion at the end', async (t) => {
    if (!path) return skipOrFail(t, why);
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

  test('refresh window: the stale rows just before the cursor are re-encoded, the others stay stale', async (t) => {
    if (!path) return skipOrFail(t, why);
    for (const refreshWindow of [0, 16]) {
      const s = new DocumentSession(model, STORY, { method: 'pie', maxRows: 512, refreshWindow });
      s.moveCursor(STORY.length);
      await s.flush();
      s.applyEdits([{ rangeOffset: 9, rangeLength: 0, text: ' big' }]);
      const stale = s.tokens.length - 6; // roughly every row after the edit
      await s.flush();
      const states = s.rowStates();
      // the inserted token and the cursor's token always; with a window, the 16 rows before the cursor as well
      assert.equal(s.stats.tokensEncoded, refreshWindow ? 1 + 16 : 2, `window ${refreshWindow}`);
      assert.deepEqual(states.slice(-16), new Array(16).fill(refreshWindow ? 'inserted' : 'rotated').map((x, i) => (i === 15 ? 'inserted' : x)));
      assert.ok(s.staleRows > stale - 30 && states.filter((x) => x === 'stale').length === 0, 'after a flush, moved rows show as rotated');
      s.destroy();
    }
  });

  test('idle re-sync policy: nothing below the threshold; at it, a full re-encode that clears staleness', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = new DocumentSession(model, STORY, { method: 'pie', maxRows: 512, resyncThreshold: 30, refreshWindow: 0 });
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
    assert.ok(s.rowStates().every((x) => x === 'fresh'), 'after a re-sync every row shows as fresh');
    const totals = s.totals;
    assert.equal(totals.resyncs, 1);
    assert.equal(totals.completions, 0, 'flushes are not completions');
    assert.ok(totals.rowsMoved > 0 && totals.tokensEncoded >= s.tokens.length, JSON.stringify(totals));
    s.destroy();
  });

  test('a time budget (maxMs) stops decoding after the first token; asked again, the completion continues to what one decode gives', async (t) => {
    if (!path) return skipOrFail(t, why);
    const ref = await open('pie');
    const full = await ref.complete({ maxTokens: 24 });
    ref.destroy();
    const s = await open('pie');
    const cut = await s.complete({ maxTokens: 24, maxMs: 0 });
    assert.equal(cut.stopReason, 'time');
    assert.deepEqual(cut.tokens, full.tokens.slice(0, 1));
    const rest = await s.complete({ maxTokens: 24, maxMs: 1e9 });
    assert.deepEqual(rest.tokens, full.tokens, 'continued, and a budget not reached changes nothing');
    assert.equal(rest.text, full.text);
    s.destroy();
  });

  test('the first line, then all lines: the second call continues the first (its rows reused, only the rest decoded); an edit between starts over', async (t) => {
    if (!path) return skipOrFail(t, why);
    const P = STORY.slice(0, STORY.indexOf(' One day'));
    const ref = await open('pie', P);
    const lines3 = await ref.complete({ maxTokens: 60, maxLines: 3 });
    ref.destroy();
    const s = await open('pie', P);
    let forwards = 0;
    const forward = model.forward.bind(model);
    model.forward = (...args: Parameters<typeof model.forward>) => {
      forwards++;
      return forward(...args);
    };
    try {
      const line1 = await s.complete({ maxTokens: 60, maxLines: 1 });
      assert.equal(line1.stopReason, 'maxLines');
      assert.ok(lines3.text.startsWith(`${line1.text}\n`), `${JSON.stringify(line1.text)} starts ${JSON.stringify(lines3.text)}`);
      forwards = 0;
      const more = await s.complete({ maxTokens: 60, maxLines: 3 });
      assert.deepEqual(more.tokens, lines3.tokens);
      assert.equal(more.text, lines3.text);
      // one forward for the prompt's logits, then one per token after the first line's (whose rows were kept)
      assert.ok(forwards <= 1 + lines3.tokens.length - line1.tokens.length, `${forwards} forwards for ${lines3.tokens.length - line1.tokens.length} new tokens`);
      // text typed and deleted again at the start: the text is the same, the generated rows are not kept
      s.applyEdits([{ rangeOffset: 0, rangeLength: 0, text: 'X' }]);
      s.applyEdits([{ rangeOffset: 0, rangeLength: 1, text: '' }]);
      forwards = 0;
      const again = await s.complete({ maxTokens: 60, maxLines: 3 });
      assert.deepEqual(again.tokens, lines3.tokens);
      assert.ok(forwards >= lines3.tokens.length - 1, `after an edit every token is decoded again (${forwards} forwards)`);
    } finally {
      model.forward = forward;
      s.destroy();
    }
  });

  test('stop rules: maxLines; a generated line equal to the next line after the cursor ends the completion before it', async (t) => {
    if (!path) return skipOrFail(t, why);
    // greedy continuations are deterministic: take the lines the model writes after P, then put them after the cursor
    const P = STORY.slice(0, STORY.indexOf(' One day'));
    const g = await generate(model, P, { maxTokens: 160, temperature: 0 });
    const [a, b] = g.text.split('\n') as [string, string];
    assert.ok(g.text.split('\n').length >= 3 && a.trim() && b.trim(), `no two lines in ${JSON.stringify(g.text)}`);
    const s = await open('pie', P);
    for (const maxLines of [1, 2]) {
      const c = await s.complete({ maxTokens: 160, maxLines });
      assert.equal(c.stopReason, 'maxLines');
      assert.equal(c.text, [a, b].slice(0, maxLines).join('\n'));
    }
    s.destroy();
    // the suffix's next non-empty line is the model's second line: the completion is the first line only, without the
    // line break the suffix already has, and accepting it duplicates nothing
    const tail = `\n\n${b}\nThe end.`;
    const d = await open('pie', P + tail);
    const c = await d.complete({ offset: P.length, maxTokens: 160 });
    t.diagnostic(`suffix rule: ${c.tokens.length} tokens generated, text ${JSON.stringify(c.text)}`);
    assert.equal(c.stopReason, 'suffix');
    assert.equal(c.text, a);
    assert.deepEqual(c.tokens, g.tokens.slice(0, c.tokens.length), 'the completion is greedy generation from the prefix');
    await checkAccept(t, d, c);
    assert.equal(d.text, P + a + tail);
    d.destroy();
    // at the start of a line the suffix has no line break before its next line: the completion keeps its own
    const P2 = `${P}${a}\n`;
    const g2 = await generate(model, P2, { maxTokens: 160, temperature: 0 });
    const [b2, c2] = g2.text.split('\n') as [string, string];
    assert.ok(g2.text.split('\n').length >= 3 && b2.trim() && c2.trim(), `no two lines in ${JSON.stringify(g2.text)}`);
    const e = await open('pie', `${P2}${c2}\nThe end.`);
    const ce = await e.complete({ offset: P2.length, maxTokens: 160 });
    assert.equal(ce.stopReason, 'suffix');
    assert.equal(ce.text, `${b2}\n`);
    e.destroy();
  });

  test('accept (no FIM): the generated rows already sit at their positions, the suffix moves; the next completion is exact', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('pie');
    const at = STORY.indexOf(' One day');
    const c = await s.complete({ offset: at, maxTokens: 12 });
    assert.equal(c.stopReason, 'maxTokens');
    await checkAccept(t, s, c);
    // prefix and generated rows were computed with exactly their left context: a completion now equals generation
    // from the prefix, and encodes only its logits token (the completion's last, unfed, token)
    const prefix = s.text.slice(0, s.cursor);
    const next = await s.complete({ maxTokens: 10 });
    t.diagnostic(`next completion encoded ${next.flush.tokensEncoded}`);
    assert.equal(next.flush.tokensEncoded, 1);
    assert.deepEqual(next.tokens, (await generate(model, prefix, { maxTokens: 10, temperature: 0 })).tokens);
    s.destroy();
  });

  test('a partial accept (whole words, as VS Code\'s accept word) keeps the rows of the tokens it covers and frees the rest; layer 0 equals a full recomputation', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('pie');
    const at = STORY.indexOf(' One day');
    const c = await s.complete({ offset: at, maxTokens: 12 });
    // the words up to the middle: several tokens, which a plain edit would encode and an accept does not
    const part = c.text.slice(0, c.text.indexOf(' ', c.text.length >> 1));
    assert.ok(part.length > 0 && model.tokenizer.encode(part).length >= 3, JSON.stringify(c.text));
    assert.throws(() => s.accept(c, 'not a prefix'), /not a prefix/);
    await checkAccept(t, s, c, part);
    assert.ok(s.stats.rowsDropped > 0 || s.stats.rowsMoved > 0);
    s.destroy();
  });

  test('accept() takes only the latest completion with no edit since; generated rows never leak', async (t) => {
    if (!path) return skipOrFail(t, why);
    // room for the document and one completion's rows only
    const at = STORY.indexOf(' One day');
    const tok = model.tokenizer;
    const n = 1 + tok.encode(STORY.slice(0, at)).length + tok.encode(STORY.slice(at)).length;
    const s = new DocumentSession(model, STORY, { method: 'pie', maxRows: n + 16 });
    let last: Completion | null = null;
    for (let i = 0; i < 10; i++) {
      const c = await s.complete({ offset: at, maxTokens: 17 });
      assert.equal(c.stopReason, 'maxTokens', `completion ${i}`);
      if (last) assert.deepEqual(c.tokens, last.tokens);
      assert.equal(rowsHeld(s), n, 'generated rows are hidden');
      // the previous completion (or, the first time, a copy of this one) is not the latest
      assert.throws(() => s.accept(last ?? { ...c }), /not the latest completion/);
      last = c;
    }
    s.applyEdits([{ rangeOffset: 0, rangeLength: 5, text: '' }]);
    assert.throws(() => s.accept(last!), /not the latest completion/);
    const c = await s.complete({ maxTokens: 17 });
    s.accept(c);
    await s.flush();
    assert.equal(rowsHeld(s), s.tokens.length);
    s.destroy();
  });
});

describe('DocumentSession with FIM: stories260K given FIM sentinels', async () => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  let ctx: GpuContext;
  let bytes: Uint8Array;
  let model: TransformerModel;
  before(async () => {
    if (!path) return;
    ctx = await testGpu();
    bytes = new Uint8Array(readFileSync(path));
    model = await TransformerModel.load(ctx, bytesSource(await withFimTokens(bytes)));
  });
  after(() => model?.destroy());

  const at = STORY.indexOf(' One day');
  const fim = () => {
    const f = model.tokenizer.fim;
    return { pre: f.prefix!, suf: f.suffix!, mid: f.middle! };
  };
  /** [BOS] [PRE] prefix [SUF] suffix [MID], tokenized independently of the session. */
  const fimSequence = (text: string, cursor: number): number[] => {
    const { pre, suf, mid } = fim();
    const tok = model.tokenizer;
    return [tok.bos!, pre, ...tok.encode(text.slice(0, cursor)), suf, ...tok.encode(text.slice(cursor)), mid];
  };
  const open = async (method: Method, text = STORY) => {
    const s = new DocumentSession(model, text, { method, maxRows: 512 });
    await s.flush();
    return s;
  };

  test('the sentinels are control tokens no text produces', (t) => {
    if (!path) return skipOrFail(t, why);
    const tok = model.tokenizer;
    const { pre, suf, mid } = fim();
    for (const id of [pre, suf, mid]) {
      assert.ok(tok.isSpecial(id));
      assert.equal(tok.tokenBytes(id).length, 0);
    }
    const ids = tok.encode(`${STORY} \u00fd\u00fe\u00ff <PRE> \u{10ffff}`);
    assert.ok(![pre, suf, mid].some((id) => ids.includes(id)));
  });

  test('layout [BOS][PRE] prefix [SUF] suffix [MID]; moving the cursor and edits on both sides of it are edits (pie: layer 0 exact)', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('pie');
    assert.deepEqual(s.tokens, fimSequence(STORY, STORY.length));
    s.moveCursor(at);
    assert.deepEqual(s.tokens, fimSequence(STORY, at));
    await s.flush();
    t.diagnostic(`cursor move: moved ${s.stats.rowsMoved}, dropped ${s.stats.rowsDropped}, encoded ${s.stats.tokensEncoded} of ${s.tokens.length}`);
    assert.ok(s.stats.rowsMoved > 0 && s.stats.tokensEncoded < 8, 'the suffix sentinel moves; the rows stay');
    let err = await layer0Error(s);
    assert.ok(err <= 1e-5, `layer 0 after the cursor move: ${err}`);
    s.applyEdits([
      { rangeOffset: 40, rangeLength: 0, text: ' happy' }, // before the cursor
      { rangeOffset: at + 6 + 20, rangeLength: 5, text: ' green' }, // after it
    ]);
    assert.equal(s.cursor, at + 6);
    assert.deepEqual(s.tokens, fimSequence(s.text, s.cursor));
    await s.flush();
    err = await layer0Error(s);
    t.diagnostic(`edits on both sides: moved ${s.stats.rowsMoved}, encoded ${s.stats.tokensEncoded}; layer 0 ${err.toExponential(2)}`);
    assert.ok(err <= 1e-5, `layer 0 after edits: ${err}`);
    s.moveCursor(s.text.length - 10);
    await s.flush();
    err = await layer0Error(s);
    assert.ok(err <= 1e-5, `layer 0 after a cursor move to the right: ${err}`);
    s.destroy();
  });

  for (const method of ['full', 'pie'] as Method[]) {
    test(`${method}: a FIM completion is greedy generation from [BOS, PRE, ...prefix, SUF, ...suffix, MID]`, async (t) => {
      if (!path) return skipOrFail(t, why);
      const s = await open(method);
      s.moveCursor(at);
      if (method === 'pie') await s.resync(); // the cursor move left stale rows; a completion is exact only after a resync
      const c = await s.complete({ maxTokens: 20 });
      const g = await generate(model, fimSequence(STORY, at), { maxTokens: 20, temperature: 0 });
      t.diagnostic(`${c.stopReason}: ${JSON.stringify(c.text)}`);
      assert.equal(c.stopReason, 'maxTokens');
      assert.deepEqual(c.tokens, g.tokens);
      assert.equal(c.text, g.text);
      assert.equal(s.text, STORY, 'completion must not change the text');
      s.destroy();
    });
  }

  test('decoding stops at the end-of-middle token (EOT from the metadata): k tokens, stop reason eos', async (t) => {
    if (!path) return skipOrFail(t, why);
    const g = await generate(model, fimSequence(STORY, at), { maxTokens: 20, temperature: 0 });
    // EOT := the first token greedy decoding emits at step k >= 3 that it did not emit before
    const k = g.tokens.findIndex((id, i) => i >= 3 && !g.tokens.slice(0, i).includes(id));
    assert.ok(k > 0);
    const eot = g.tokens[k]!;
    const m = await TransformerModel.load(ctx, bytesSource(await withFimTokens(bytes, { eot })));
    assert.ok(m.tokenizer.isEog(eot) && !m.tokenizer.isSpecial(eot), 'a text token that ends generation only as EOT');
    // the cursor moves before anything is encoded: the completion's prompt is encoded from scratch, as generate() does
    const s = new DocumentSession(m, STORY, { method: 'pie', maxRows: 512 });
    const c = await s.complete({ offset: at, maxTokens: 20 });
    t.diagnostic(`EOT ${eot} at step ${k}: ${JSON.stringify(c.text)}`);
    assert.equal(c.stopReason, 'eos');
    assert.deepEqual(c.tokens, g.tokens.slice(0, k));
    // every generated token was fed: after accept, none is encoded
    await checkAccept(t, s, c);
    s.destroy();
    m.destroy();
  });

  test("fim: 'off'; a stop token ends the last line, which counts with the text before the cursor on its line", async (t) => {
    if (!path) return skipOrFail(t, why);
    // Without FIM the completion does not depend on the suffix: the model's first line after P, with EOT := the line
    // break that ends it, is P's line's last part. With that whole line next after the cursor, nothing is inserted.
    const P = STORY.slice(0, at);
    const g = await generate(model, P, { maxTokens: 160, temperature: 0 });
    const k = g.tokens.findIndex((id) => model.tokenizer.tokenBytes(id).includes(0x0a));
    assert.ok(k > 0, `no line break in ${JSON.stringify(g.text)}`);
    const m = await TransformerModel.load(ctx, bytesSource(await withFimTokens(bytes, { eot: g.tokens[k]! })));
    const line = P + g.text.slice(0, g.text.indexOf('\n'));
    const s = new DocumentSession(m, `${P}\n${line}\nThe end.`, { fim: 'off', maxRows: 512 });
    assert.equal(s.tokens.length, 1 + m.tokenizer.encode(s.text).length, 'no sentinels');
    const c = await s.complete({ offset: P.length, maxTokens: 160 });
    assert.deepEqual(c.tokens, g.tokens.slice(0, k));
    assert.equal(c.stopReason, 'suffix');
    assert.equal(c.text, '');
    s.accept(c);
    assert.equal(s.text, `${P}\n${line}\nThe end.`);
    await s.flush();
    assert.equal(rowsHeld(s), s.tokens.length);
    s.destroy();
    m.destroy();
  });

  test('accept (FIM): the generated rows move from after [MID] to before [SUF]; layer 0 equals a full recomputation', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('pie');
    const c = await s.complete({ offset: at, maxTokens: 12 });
    assert.equal(c.stopReason, 'maxTokens');
    await checkAccept(t, s, c);
    assert.deepEqual(s.tokens, fimSequence(s.text, s.cursor));
    s.destroy();
  });

  /** [BOS] [PRE] [SUF] suffix [MID] prefix (suffix-prefix-middle), tokenized independently of the session. */
  const spmSequence = (text: string, cursor: number): number[] => {
    const { pre, suf, mid } = fim();
    const tok = model.tokenizer;
    return [tok.bos!, pre, suf, ...tok.encode(text.slice(cursor)), mid, ...tok.encode(text.slice(0, cursor))];
  };
  const openSpm = async (method: Method, text = STORY) => {
    const s = new DocumentSession(model, text, { method, maxRows: 512, fim: 'spm' });
    await s.flush();
    return s;
  };

  test("spm layout [BOS][PRE][SUF] suffix [MID] prefix: typing at the cursor appends; cursor moves and edits (pie: layer 0 exact)", async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await openSpm('pie');
    assert.equal(s.fim, 'spm');
    assert.deepEqual(s.tokens, spmSequence(STORY, STORY.length));
    s.moveCursor(at);
    assert.deepEqual(s.tokens, spmSequence(STORY, at));
    await s.flush();
    const moved = STORY.length - at;
    t.diagnostic(`cursor move over ${moved} chars: moved ${s.stats.rowsMoved}, dropped ${s.stats.rowsDropped}, encoded ${s.stats.tokensEncoded} of ${s.tokens.length}`);
    // the text between the two cursors leaves the prefix's tail (its rows dropped) and is encoded at the suffix's head
    assert.ok(s.stats.rowsDropped > 0 && s.stats.tokensEncoded >= s.stats.rowsDropped - 2);
    let err = await layer0Error(s);
    assert.ok(err <= 1e-5, `layer 0 after the cursor move: ${err}`);
    // typing at the cursor: an append, nothing after it moves (with psm the whole suffix would)
    await s.resync();
    s.applyEdits([{ rangeOffset: at, rangeLength: 0, text: ' Then' }]);
    assert.deepEqual(s.tokens, spmSequence(s.text, s.cursor));
    await s.flush();
    t.diagnostic(`typing at the cursor: moved ${s.stats.rowsMoved}, encoded ${s.stats.tokensEncoded}`);
    assert.equal(s.stats.rowsMoved, 0);
    assert.ok(s.stats.tokensEncoded <= 4, `encoded ${s.stats.tokensEncoded}`);
    assert.equal(s.staleRows, 0, 'nothing follows the appended tokens');
    s.applyEdits([
      { rangeOffset: 40, rangeLength: 0, text: ' happy' }, // before the cursor
      { rangeOffset: s.cursor + 6 + 20, rangeLength: 5, text: ' green' }, // after it
    ]);
    assert.deepEqual(s.tokens, spmSequence(s.text, s.cursor));
    await s.flush();
    err = await layer0Error(s);
    t.diagnostic(`edits on both sides: moved ${s.stats.rowsMoved}, encoded ${s.stats.tokensEncoded}; layer 0 ${err.toExponential(2)}`);
    assert.ok(s.stats.rowsMoved > 0 && err <= 1e-5, `layer 0 after edits: ${err}`);
    s.destroy();
  });

  for (const method of ['full', 'pie'] as Method[]) {
    test(`${method} (spm): a completion is greedy generation from [BOS, PRE, SUF, ...suffix, MID, ...prefix]`, async (t) => {
      if (!path) return skipOrFail(t, why);
      const s = await openSpm(method);
      s.moveCursor(at);
      // the suffix grew at its head: every prefix row now has more text before it (stale, as with psm's suffix rows)
      if (method === 'pie') await s.resync();
      const c = await s.complete({ maxTokens: 20 });
      const g = await generate(model, spmSequence(STORY, at), { maxTokens: 20, temperature: 0 });
      t.diagnostic(`${c.stopReason}: ${JSON.stringify(c.text)}`);
      assert.equal(c.stopReason, 'maxTokens');
      assert.deepEqual(c.tokens, g.tokens);
      assert.equal(s.text, STORY, 'completion must not change the text');
      s.destroy();
    });
  }

  test('accept (spm): the generated rows stay where they are; layer 0 equals a full recomputation', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await openSpm('pie');
    const c = await s.complete({ offset: at, maxTokens: 12 });
    assert.equal(c.stopReason, 'maxTokens');
    await checkAccept(t, s, c);
    assert.deepEqual(s.tokens, spmSequence(s.text, s.cursor));
    s.destroy();
  });

  test('generated rows never leak: many completions without accept fit a cache with room for one', async (t) => {
    if (!path) return skipOrFail(t, why);
    const n = fimSequence(STORY, at).length;
    const s = new DocumentSession(model, STORY, { method: 'pie', maxRows: n + 16 });
    for (let i = 0; i < 10; i++) {
      const c = await s.complete({ offset: at, maxTokens: 17 });
      assert.equal(c.stopReason, 'maxTokens', `completion ${i}`);
      assert.equal(rowsHeld(s), n);
    }
    s.destroy();
  });
});
