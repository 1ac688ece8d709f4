// The engine server (the webview's side of the protocol) on a real model: completions equal a fresh session's on the
// same text, version gaps ask for the document instead of completing, cancel and supersede, the memory budget evicts the
// least recently used document, resync, and documents longer than the context.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { KvCache } from '../../src/engine/kv/cache.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { DEFAULT_SETTINGS, EngineServer } from '../../src/engine/server.js';
import { DocumentSession, type FimMode } from '../../src/engine/session.js';
import type { EngineMessage, HostMessage } from '../../src/protocol/messages.js';
import { projectRoot } from '../../src/cli/models.js';
import { fixtureModel, skipOrFail } from '../helpers/fixtures.js';
import { testGpu } from '../helpers/gpu.js';

const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big red ball.';

describe('EngineServer on stories260K', async () => {
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

  /** A server whose replies are collected; `send` feeds messages in order and waits for them. */
  function harness(settings = DEFAULT_SETTINGS, method: 'pie' | 'full' = 'pie') {
    const out: EngineMessage[] = [];
    const server = new EngineServer(model, (m) => out.push(m), { ...settings, idleMs: 60_000 }, { method });
    const send = async (...ms: HostMessage[]) => {
      await Promise.all(ms.map((m) => server.handle(m)));
    };
    const reply = (id: number) => out.find((m) => 'id' in m && m.id === id && m.type !== 'read');
    return { server, out, send, reply };
  }

  async function expected(text: string, cursor: number, maxTokens: number): Promise<string> {
    const s = new DocumentSession(model, text, { method: 'full' });
    try {
      return (await s.complete({ offset: cursor, maxTokens })).text;
    } finally {
      s.destroy();
    }
  }

  test('completion after open and edits equals a fresh session on the final text (method full: exact)', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness(DEFAULT_SETTINGS, 'full');
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: 0 });
      await h.send(
        { type: 'change', uri: 'a', version: 2, prevVersion: 1, changes: [{ rangeOffset: 17, rangeLength: 0, text: ' in a small town' }] },
        { type: 'change', uri: 'a', version: 3, prevVersion: 2, changes: [{ rangeOffset: 0, rangeLength: 4, text: '' }, { rangeOffset: 40, rangeLength: 0, text: ' happy' }] },
      );
      let text = STORY.slice(0, 17) + ' in a small town' + STORY.slice(17);
      text = text.slice(4);
      text = text.slice(0, 40) + ' happy' + text.slice(40);
      await h.send({ type: 'complete', id: 7, uri: 'a', version: 3, offset: 60, maxTokens: 12, maxLines: 5 });
      const r = h.reply(7);
      assert.equal(r?.type, 'completion', JSON.stringify(h.out));
      assert.equal(r.type === 'completion' && r.text, await expected(text, 60, 12));
      assert.ok(r.type === 'completion' && r.stats.rebuilt && r.stats.cacheRows > 30 && !r.stats.windowed);
    } finally {
      h.server.dispose();
    }
  });

  test('pie: the second completion re-rotates instead of re-encoding, and reports it', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: STORY.length });
      await h.send({ type: 'complete', id: 1, uri: 'a', version: 1, offset: STORY.length, maxTokens: 4, maxLines: 5 });
      await h.send({ type: 'change', uri: 'a', version: 2, prevVersion: 1, changes: [{ rangeOffset: 17, rangeLength: 0, text: ' far away' }] });
      await h.send({ type: 'complete', id: 2, uri: 'a', version: 2, offset: STORY.length + 9, maxTokens: 4, maxLines: 5 });
      const r = h.reply(2);
      assert.equal(r?.type, 'completion', JSON.stringify(h.out));
      if (r.type !== 'completion') return;
      assert.equal(r.stats.rebuilt, false);
      assert.ok(r.stats.rowsMoved > 20, `rows moved ${r.stats.rowsMoved}`);
      assert.ok(r.stats.tokensEncoded < 25, `tokens encoded ${r.stats.tokensEncoded}`);
      assert.ok(r.stats.firstTokenMs > 0 && r.stats.totalMs >= r.stats.firstTokenMs);
    } finally {
      h.server.dispose();
    }
  });

  /**
   * Offers a completion at the end of STORY, inserts `part(offered text)` where it was offered, and checks that the next
   * completion there encodes at most the token at the cursor again (an edit would encode the inserted tokens) and
   * completes as a fresh session does. Returns the inserted text.
   */
  async function insertOffered(h: ReturnType<typeof harness>, part: (offered: string) => string): Promise<string> {
    await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: STORY.length });
    await h.send({ type: 'complete', id: 1, uri: 'a', version: 1, offset: STORY.length, maxTokens: 10, maxLines: 5 });
    const r = h.reply(1);
    assert.ok(r?.type === 'completion' && r.text.length > 0);
    const text = part((r as { text: string }).text);
    await h.send({ type: 'change', uri: 'a', version: 2, prevVersion: 1, changes: [{ rangeOffset: STORY.length, rangeLength: 0, text }] });
    assert.equal(h.server.session('a')!.text, STORY + text);
    await h.send({ type: 'complete', id: 2, uri: 'a', version: 2, offset: STORY.length + text.length, maxTokens: 4, maxLines: 5 });
    const r2 = h.reply(2);
    assert.ok(r2?.type === 'completion' && r2.stats.tokensEncoded <= 2, JSON.stringify(r2));
    assert.equal((r2 as { text: string }).text, await expected(STORY + text, STORY.length + text.length, 4));
    return text;
  }

  test('inserting exactly the offered completion accepts it: its rows are kept, only a token or two is encoded', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      await insertOffered(h, (offered) => offered);
    } finally {
      h.server.dispose();
    }
  });

  test('inserting the first words of the offered completion (accept word) accepts that part: its rows are kept', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      // the words up to the middle: several tokens, which a plain edit would encode and an accept does not
      const word = await insertOffered(h, (full) => {
        const part = full.slice(0, full.indexOf(' ', full.length >> 1));
        assert.ok(part.length > 0 && h.server.model.tokenizer.encode(part).length >= 3, JSON.stringify(full));
        return part;
      });
      // the editor's report (the item's command) after the change: that change took completion 1
      await h.send({ type: 'accepted', uri: 'a', id: 1 });
      assert.deepEqual(h.server.acceptances, { matched: 1, unmatched: 0 });
      // an accept whose insertion the editor changed (here: other text) went in as an edit, and the log says so
      const end = STORY.length + word.length;
      await h.send({ type: 'change', uri: 'a', version: 3, prevVersion: 2, changes: [{ rangeOffset: end, rangeLength: 0, text: ' zzz' }] });
      await h.send({ type: 'accepted', uri: 'a', id: 2 });
      assert.deepEqual(h.server.acceptances, { matched: 1, unmatched: 1 });
      assert.ok(h.out.some((m) => m.type === 'log' && /completion 2 was accepted in a, but .* encoded as an edit/.test(m.message)));
    } finally {
      h.server.dispose();
    }
  });

  test('a version gap or an unknown document asks for the text and completes nothing', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: 0 });
      await h.send({ type: 'change', uri: 'a', version: 5, prevVersion: 4, changes: [{ rangeOffset: 0, rangeLength: 0, text: 'x' }] });
      assert.ok(h.out.some((m) => m.type === 'needOpen' && m.uri === 'a' && /gap/.test(m.reason)));
      await h.send({ type: 'complete', id: 3, uri: 'a', version: 5, offset: 10, maxTokens: 4, maxLines: 5 });
      assert.deepEqual(h.reply(3), { type: 'noCompletion', id: 3, reason: 'unknown-document' });
      await h.send({ type: 'open', uri: 'b', version: 2, text: STORY, cursor: 0 });
      await h.send({ type: 'complete', id: 4, uri: 'b', version: 1, offset: 10, maxTokens: 4, maxLines: 5 });
      assert.equal(h.reply(4)?.type === 'noCompletion' && (h.reply(4) as { reason: string }).reason, 'stale');
    } finally {
      h.server.dispose();
    }
  });

  test('cancelled and superseded requests are answered without a completion', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: 0 });
      const first = h.server.handle({ type: 'complete', id: 10, uri: 'a', version: 1, offset: 30, maxTokens: 4, maxLines: 5 });
      const second = h.server.handle({ type: 'complete', id: 11, uri: 'a', version: 1, offset: 30, maxTokens: 4, maxLines: 5 });
      const third = h.server.handle({ type: 'complete', id: 12, uri: 'a', version: 1, offset: 30, maxTokens: 4, maxLines: 5 });
      await h.server.handle({ type: 'cancel', id: 12 });
      await Promise.all([first, second, third]);
      assert.equal(h.reply(10)?.type, 'noCompletion', 'superseded by 11');
      assert.equal(h.reply(11)?.type, 'noCompletion', 'superseded by 12');
      assert.deepEqual(h.reply(12), { type: 'noCompletion', id: 12, reason: 'cancelled' });
    } finally {
      h.server.dispose();
    }
  });

  test('a cancel that arrives while the completion decodes stops it; the next completion is unaffected', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: STORY.length });
      const running = h.server.handle({ type: 'complete', id: 20, uri: 'a', version: 1, offset: STORY.length, maxTokens: 400, maxLines: 100 });
      // wait until decoding has begun (the session exists and has encoded the document), then cancel
      while (!h.server.session('a') || h.server.session('a')!.stats.tokensEncoded === 0) await new Promise((r) => setTimeout(r, 5));
      await h.server.handle({ type: 'cancel', id: 20 });
      await running;
      assert.deepEqual(h.reply(20), { type: 'noCompletion', id: 20, reason: 'cancelled' });
      await h.send({ type: 'complete', id: 21, uri: 'a', version: 1, offset: STORY.length, maxTokens: 6, maxLines: 5 });
      const r = h.reply(21);
      assert.equal(r?.type === 'completion' && r.text, await expected(STORY, STORY.length, 6));
    } finally {
      h.server.dispose();
    }
  });

  test('past the memory budget the least recently used document loses its cache, and is re-encoded on return', async (t) => {
    if (!path) return skipOrFail(t, why);
    const oneCache = KvCache.bytesFor(model.config, Math.min(model.config.contextLength, 4096));
    const h = harness({ ...DEFAULT_SETTINGS, cacheBudgetMiB: (oneCache * 1.5) / 2 ** 20 });
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: 0 }, { type: 'open', uri: 'b', version: 1, text: STORY.slice(20), cursor: 0 });
      await h.send({ type: 'complete', id: 1, uri: 'a', version: 1, offset: 30, maxTokens: 2, maxLines: 5 });
      assert.ok(h.server.session('a'));
      await h.send({ type: 'complete', id: 2, uri: 'b', version: 1, offset: 30, maxTokens: 2, maxLines: 5 });
      assert.equal(h.server.session('a'), null, 'a was evicted');
      assert.ok(h.server.session('b'));
      assert.ok(h.server.cacheBytes <= oneCache);
      await h.send({ type: 'complete', id: 3, uri: 'a', version: 1, offset: 30, maxTokens: 2, maxLines: 5 });
      const r = h.reply(3);
      assert.ok(r?.type === 'completion' && r.stats.rebuilt);
      assert.equal(h.server.session('b'), null, 'b was evicted in turn');
    } finally {
      h.server.dispose();
    }
  });

  test('resync re-encodes the whole document', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      await h.send({ type: 'open', uri: 'a', version: 1, text: STORY, cursor: STORY.length });
      await h.send({ type: 'complete', id: 1, uri: 'a', version: 1, offset: STORY.length, maxTokens: 2, maxLines: 5 });
      await h.send({ type: 'change', uri: 'a', version: 2, prevVersion: 1, changes: [{ rangeOffset: 5, rangeLength: 0, text: ' dear' }] });
      await h.send({ type: 'resync', id: 2, uri: 'a' });
      const r = h.reply(2);
      assert.ok(r?.type === 'resynced' && r.tokensEncoded === h.server.session('a')!.tokens.length, JSON.stringify(r));
      assert.equal(h.server.session('a')!.staleRows, 0);
    } finally {
      h.server.dispose();
    }
  });

  test('a document longer than the context is completed from a window around the cursor, with a notice', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      const long = Array.from({ length: 40 }, (_, i) => `Part ${i}. ${STORY}`).join('\n');
      const cursor = Math.floor(long.length * 0.6);
      await h.send({ type: 'open', uri: 'big', version: 1, text: long, cursor });
      await h.send({ type: 'complete', id: 1, uri: 'big', version: 1, offset: cursor, maxTokens: 8, maxLines: 5 });
      const r = h.reply(1);
      assert.equal(r?.type, 'completion', JSON.stringify(h.out));
      if (r.type !== 'completion') return;
      assert.ok(r.stats.windowed);
      assert.ok(r.stats.cacheRows + 8 <= r.stats.cacheCapacity);
      assert.ok(h.out.some((m) => m.type === 'notice' && /longer than/.test(m.message)));
      // an edit far before the window shifts it without rebuilding; one inside is applied to the session
      await h.send({ type: 'change', uri: 'big', version: 2, prevVersion: 1, changes: [{ rangeOffset: 0, rangeLength: 0, text: 'Title\n' }, { rangeOffset: cursor + 6 - 40, rangeLength: 0, text: ' big' }] });
      await h.send({ type: 'complete', id: 2, uri: 'big', version: 2, offset: cursor + 10, maxTokens: 8, maxLines: 5 });
      const r2 = h.reply(2);
      assert.ok(r2?.type === 'completion' && !r2.stats.rebuilt && r2.stats.tokensEncoded < 30, JSON.stringify(r2));
      assert.equal(h.server.session('big')!.text.includes(' big'), true);
    } finally {
      h.server.dispose();
    }
  });

  test('warm-up runs a scratch completion, keeps no document and leaves completions unchanged', async (t) => {
    if (!path) return skipOrFail(t, why);
    const h = harness();
    try {
      const ms = await h.server.warmup();
      assert.ok(ms > 0);
      assert.equal(h.out.length, 0, 'the warm-up sends nothing');
      await h.send({ type: 'open', uri: 'w', version: 1, text: STORY, cursor: STORY.length });
      await h.send({ type: 'complete', id: 1, uri: 'w', version: 1, offset: STORY.length, maxTokens: 12, maxLines: 4 });
      const r = h.reply(1);
      assert.equal(r?.type, 'completion');
      assert.equal(r.type === 'completion' && r.text, await expected(STORY, STORY.length, 12));
      assert.ok(r.type === 'completion' && r.stats.rebuilt, 'a new document is built from scratch: no rows of the scratch document');
    } finally {
      h.server.dispose();
    }
  });
});

describe('EngineServer with a FIM model (pie-code-tiny): the fim setting', async () => {
  const path = join(projectRoot(), 'models', 'pie-code-tiny.gguf');
  let ctx: GpuContext;
  let model: TransformerModel;
  before(async () => {
    if (!existsSync(path)) return;
    ctx = await testGpu();
    const src = await fileSource(path);
    model = await TransformerModel.load(ctx, src);
    await src.close();
  });
  after(() => model?.destroy());

  const CODE = 'export function total(values: number[]): number {\n  let sum = 0;\n  for (const v of values) sum += v;\n  return sum;\n}\n\nexport function max(values: number[]): number {\n  let best = values[';

  async function fresh(fim: FimMode): Promise<string> {
    const s = new DocumentSession(model, CODE, { method: 'full', fim });
    try {
      return (await s.complete({ offset: CODE.length, maxTokens: 12, maxLines: 4 })).text;
    } finally {
      s.destroy();
    }
  }

  test('completions follow the setting (psm, spm, left to right); a change rebuilds the caches', async (t) => {
    if (!existsSync(path)) return skipOrFail(t, `${path} is absent (train and export it with tools/train-model)`);
    assert.equal(EngineServer.modelInfo(model, 'm').fim, 'psm');
    assert.equal(EngineServer.modelInfo(model, 'm', { ...DEFAULT_SETTINGS, fim: 'spm' }).fim, 'spm');
    assert.equal(EngineServer.modelInfo(model, 'm', { ...DEFAULT_SETTINGS, fim: 'off' }).fim, 'off');
    // the context a document's cache holds is the model's, capped by the maxContext setting, and its size is reported
    const c = model.config;
    const capped = EngineServer.modelInfo(model, 'm', { ...DEFAULT_SETTINGS, maxContext: 100 });
    assert.equal(capped.contextLength, 100);
    assert.equal(capped.kvCacheBytes, 2 * c.nLayers * c.nKvHeads * 100 * c.headDim * 4);
    assert.equal(EngineServer.modelInfo(model, 'm', { ...DEFAULT_SETTINGS, maxContext: 1e6 }).contextLength, c.contextLength);
    assert.equal(capped.architecture, 'llama');
    assert.ok(capped.weightBytes > 1e6, `weights ${capped.weightBytes} bytes`);
    const out: EngineMessage[] = [];
    const server = new EngineServer(model, (m) => out.push(m), { ...DEFAULT_SETTINGS, idleMs: 60_000 }, { method: 'full' });
    const reply = (id: number) => out.find((m) => m.type === 'completion' && m.id === id);
    const expected = { psm: await fresh('psm'), spm: await fresh('spm'), off: await fresh('off') };
    assert.ok(new Set(Object.values(expected)).size >= 2, `the prompts should not all give the same completion here: ${JSON.stringify(expected)}`);
    try {
      await server.handle({ type: 'open', uri: 'c', version: 1, text: CODE, cursor: CODE.length });
      let id = 0;
      for (const fim of ['psm', 'spm', 'off'] as FimMode[]) {
        if (fim !== DEFAULT_SETTINGS.fim) {
          await server.handle({ type: 'settings', settings: { ...DEFAULT_SETTINGS, idleMs: 60_000, fim } });
          assert.equal(server.session('c'), null, `the cache laid out for the previous prompts was dropped (${fim})`);
        }
        await server.handle({ type: 'complete', id: ++id, uri: 'c', version: 1, offset: CODE.length, maxTokens: 12, maxLines: 4 });
        const r = reply(id);
        assert.ok(r?.type === 'completion' && r.text === expected[fim] && (fim === DEFAULT_SETTINGS.fim || r.stats.rebuilt), `${fim}: ${JSON.stringify(r)}`);
      }
      t.diagnostic(JSON.stringify(expected));
    } finally {
      server.dispose();
    }
  });
});
