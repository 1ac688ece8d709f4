// Workspace context in a document's cache, on a real model (stories260K, and the same model given FIM tokens): every
// kind of context change (a chunk added, dropped, replaced, reordered, edited inside) is a PIE edit that encodes only
// the new tokens and re-rotates the rows after them, asserted by the counts of the flush; layer 0 stays equal to a full
// recomputation of the same prompt; a re-sync makes every layer equal; and the engine server takes `context` messages.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { DEFAULT_SETTINGS, EngineServer } from '../../src/engine/server.js';
import { type ContextOrder, DocumentSession, type FimMode, type SessionChunk } from '../../src/engine/session.js';
import { kvRowsOf, layerError, relativeError, fullRecomputation } from '../../src/engine/verify.js';
import type { ContextChunk, EngineMessage, HostMessage } from '../../src/protocol/messages.js';
import { withFimTokens } from '../helpers/fim-model.js';
import { fixtureModel, skipOrFail } from '../helpers/fixtures.js';
import { testGpu } from '../helpers/gpu.js';

const FILE = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';
const A: SessionChunk = { id: 'a.txt:0', path: 'a.txt', text: 'The cat sat on the warm mat and purred all day long.\n' };
const B: SessionChunk = { id: 'b.txt:0', path: 'b.txt', text: 'Tom had a red ball. He threw it high into the blue sky.\n' };
const C: SessionChunk = { id: 'c.txt:0', path: 'c.txt', text: 'The dog ran to the big tree and barked at a bird.\n' };

describe('workspace context in the cache (stories260K)', async () => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  let ctx: GpuContext;
  const models: Partial<Record<FimMode, TransformerModel>> = {};
  before(async () => {
    if (!path) return;
    ctx = await testGpu();
    const bytes = new Uint8Array(readFileSync(path));
    models.off = await TransformerModel.load(ctx, bytesSource(bytes));
    models.psm = await TransformerModel.load(ctx, bytesSource(await withFimTokens(bytes)));
  });
  after(() => {
    for (const m of Object.values(models)) m.destroy();
  });

  /** A flushed pie session of FILE with `chunks` as context; refresh window 0, so a flush encodes exactly the plan. */
  async function open(fim: FimMode, chunks: SessionChunk[], order: ContextOrder = 'stable'): Promise<DocumentSession> {
    const s = new DocumentSession(models[fim]!, FILE, { method: 'pie', maxRows: 512, fim, refreshWindow: 0, contextOrder: order });
    s.setContext('story.txt', chunks, 1024);
    await s.flush();
    return s;
  }

  const tokensOf = (s: DocumentSession, id: string): number => s.contextChunks.find((c) => c.id === id)!.tokens;
  const fileTokens = (s: DocumentSession): number => s.segments().find((g) => g.kind === 'file')!.tokens;

  /** Layer 0 of `s` against a full recomputation of the same prompt: K re-rotated exactly, V untouched. */
  async function assertLayer0(s: DocumentSession): Promise<void> {
    const e = await layerError(s, 0);
    assert.ok(Math.max(e.k, e.v) <= 1e-5, `layer 0 against a full recomputation: K ${e.k}, V ${e.v}`);
  }

  for (const fim of ['off', 'psm'] as const) {
    test(`${fim}: no chunks is exactly the layout without context`, async (t) => {
      if (!path) return skipOrFail(t, why);
      const plain = new DocumentSession(models[fim]!, FILE, { maxRows: 512, fim });
      const s = await open(fim, []);
      try {
        assert.deepEqual(s.tokens, plain.tokens);
        assert.deepEqual(s.contextChunks, []);
      } finally {
        plain.destroy();
        s.destroy();
      }
    });

    test(`${fim}: a chunk added encodes its own tokens only and re-rotates the file's rows`, async (t) => {
      if (!path) return skipOrFail(t, why);
      const s = await open(fim, [A]);
      try {
        const file = fileTokens(s);
        assert.deepEqual(s.setContext('story.txt', [B, A], 1024).ids, [A.id, B.id], 'stable: the new chunk goes after the kept one');
        await s.flush();
        const st = s.stats;
        t.diagnostic(`added ${tokensOf(s, B.id)} tokens: encoded ${st.tokensEncoded}, moved ${st.rowsMoved}`);
        // the new chunk's tokens, and the token whose logits come back (re-encoded by every flush)
        assert.equal(st.tokensEncoded, tokensOf(s, B.id) + 1);
        // every row of the file moved by the chunk's length, but the one re-encoded for its logits
        assert.equal(st.rowsMoved, file - 1);
        assert.equal(st.rowsDropped, 0);
        assert.deepEqual(s.segments().map((g) => g.kind), ['head', 'chunk', 'chunk', 'file']);
        await assertLayer0(s);
        assert.ok(s.staleRows >= file - 1, 'the file rows are stale: they were computed without the new chunk');
      } finally {
        s.destroy();
      }
    });
  }

  test('a chunk dropped encodes nothing new and moves the rows after it', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', [A, B]); // cache order: [B][A] ('stable' adds the best nearest the file)
    try {
      assert.deepEqual(s.contextChunks.map((c) => c.id), [B.id, A.id]);
      const [b, file] = [tokensOf(s, B.id), fileTokens(s)];
      const a = tokensOf(s, A.id);
      s.setContext('story.txt', [A], 1024);
      await s.flush();
      assert.deepEqual(s.stats, { ...s.stats, tokensEncoded: 1, rowsDropped: b, rowsMoved: a + file - 1 });
      await assertLayer0(s);
    } finally {
      s.destroy();
    }
  });

  test('a chunk replaced: the old one dropped, the new one encoded, the rest moved', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', [A, B]);
    try {
      const b = tokensOf(s, B.id);
      s.setContext('story.txt', [C, A], 1024); // B replaced by C
      await s.flush();
      assert.equal(s.stats.tokensEncoded, tokensOf(s, C.id) + 1);
      assert.equal(s.stats.rowsDropped, b);
      assert.deepEqual(s.contextChunks.map((x) => x.id).sort(), [A.id, C.id].sort());
      await assertLayer0(s);
    } finally {
      s.destroy();
    }
  });

  test('chunks reordered: no token encoded but the logits token, the moved chunks re-rotated', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', [A, B], 'ranked'); // ranked: best nearest the file, so the cache holds [B][A]
    try {
      assert.deepEqual(s.contextChunks.map((c) => c.id), [B.id, A.id]);
      const [a, b] = [tokensOf(s, A.id), tokensOf(s, B.id)];
      s.setContext('story.txt', [B, A], 1024);
      assert.deepEqual(s.contextChunks.map((c) => c.id), [A.id, B.id]);
      await s.flush();
      assert.equal(s.stats.tokensEncoded, 1);
      assert.equal(s.stats.rowsDropped, 0);
      // both chunks moved (by each other's length); the file did not move unless their lengths differ
      assert.ok(s.stats.rowsMoved >= a + b, `moved ${s.stats.rowsMoved}, chunks ${a} + ${b}`);
      await assertLayer0(s);
    } finally {
      s.destroy();
    }
  });

  test('an edit inside a chunk source encodes the changed tokens only', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', [A, B]);
    try {
      const before = tokensOf(s, A.id);
      s.setContext('story.txt', [{ ...A, text: A.text.replace('warm', 'soft') }, B], 1024);
      await s.flush();
      t.diagnostic(`chunk of ${before} tokens, one word changed: encoded ${s.stats.tokensEncoded}, moved ${s.stats.rowsMoved}`);
      assert.ok(s.stats.tokensEncoded <= 4, `encoded ${s.stats.tokensEncoded}`);
      assert.ok(s.stats.tokensEncoded < before);
      assert.deepEqual(s.contextChunks.map((c) => c.id), [B.id, A.id], 'the chunk keeps its place');
      await assertLayer0(s);
    } finally {
      s.destroy();
    }
  });

  test('the same context sent again changes nothing: the latest completion can still be accepted', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', [A, B]);
    try {
      const c = await s.complete({ maxTokens: 4 });
      s.setContext('story.txt', [{ ...A }, { ...B }], 1024);
      assert.equal(s.pendingTokens, 0);
      assert.ok(c.text.length > 0);
      s.accept(c); // throws if the context change had discarded the completion
      await s.flush();
      await assertLayer0(s);
    } finally {
      s.destroy();
    }
  });

  test('the budget: chunks are taken best first, one that does not fit is skipped', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', []);
    try {
      const big: SessionChunk = { id: 'big.txt:0', path: 'big.txt', text: `${A.text}${B.text}${C.text}`.repeat(3) };
      const [a, c] = [A, C].map((x) => s.layoutFormat.chunk(x.path, x.text).length);
      const r = s.setContext('story.txt', [A, big, C], a! + c!);
      assert.deepEqual(r, { ids: [C.id, A.id], tokens: a! + c! });
      assert.deepEqual(s.setContext('story.txt', [A, big, C], a! + c! - 1).ids, [A.id]);
      assert.deepEqual(s.setContext('story.txt', [A, B], 0), { ids: [], tokens: 0 });
    } finally {
      s.destroy();
    }
  });

  test('after a series of context changes a re-sync equals a full recomputation at every layer, and so does its completion', async (t) => {
    if (!path) return skipOrFail(t, why);
    const s = await open('psm', [A]);
    try {
      for (const set of [[B, A], [C, B, A], [C, A], [A, { ...C, text: C.text.replace('dog', 'cat') }]]) {
        s.setContext('story.txt', set, 1024);
        await s.complete({ maxTokens: 3 });
      }
      await s.resync();
      const full = await fullRecomputation(s);
      try {
        for (let l = 0; l < s.model.config.nLayers; l++) {
          const [x, y] = [await kvRowsOf(s, l), await kvRowsOf(full, l)];
          assert.ok(relativeError(x.k, y.k) <= 1e-5 && relativeError(x.v, y.v) <= 1e-5, `layer ${l}`);
        }
        assert.equal((await s.complete({ maxTokens: 8 })).text, (await full.complete({ maxTokens: 8 })).text);
      } finally {
        full.destroy();
      }
    } finally {
      s.destroy();
    }
  });

  test('the engine server: a context message puts the chunks in the prompt, within the budget; contextTokens 0 turns it off', async (t) => {
    if (!path) return skipOrFail(t, why);
    const wire = (c: SessionChunk, startLine: number): ContextChunk => ({ ...c, startLine, endLine: startLine + 1, source: 'visible', score: 1 });
    for (const contextTokens of [1024, 0]) {
      const out: EngineMessage[] = [];
      const server = new EngineServer(models.psm!, (m) => out.push(m), { ...DEFAULT_SETTINGS, idleMs: 60_000, contextTokens }, { maxRows: 512 });
      const send = (m: HostMessage) => server.handle(m);
      try {
        await send({ type: 'open', uri: 'story', version: 1, text: FILE, cursor: FILE.length });
        await send({ type: 'context', uri: 'story', path: 'story.txt', chunks: [wire(A, 3), wire(B, 10)] });
        await send({ type: 'complete', id: 1, uri: 'story', version: 1, offset: FILE.length, maxTokens: 3, maxLines: 1 });
        const r = out.find((m) => m.type === 'completion');
        assert.ok(r?.type === 'completion', JSON.stringify(out));
        const view = server.cacheView('story')!;
        if (contextTokens === 0) {
          assert.deepEqual(r.stats.context, { chunks: [], tokens: 0 });
          assert.deepEqual(view.context, []);
          continue;
        }
        assert.deepEqual(r.stats.context.chunks.map((c) => [c.path, c.startLine]), [['b.txt', 10], ['a.txt', 3]]);
        assert.equal(view.fileStart, 1 + r.stats.context.tokens);
        // a new context: only its new chunk is encoded
        await send({ type: 'context', uri: 'story', path: 'story.txt', chunks: [wire(C, 0), wire(A, 3), wire(B, 10)] });
        await send({ type: 'complete', id: 2, uri: 'story', version: 1, offset: FILE.length, maxTokens: 3, maxLines: 1 });
        const r2 = out.find((m) => m.type === 'completion' && m.id === 2);
        assert.ok(r2?.type === 'completion', JSON.stringify(out));
        const c = r2.stats.context.chunks.find((x) => x.path === 'c.txt')!;
        assert.ok(c && c.reused === 0);
        assert.ok(r2.stats.tokensEncoded <= c.tokens + 1 + DEFAULT_SETTINGS.refreshWindow, `encoded ${r2.stats.tokensEncoded}`);
        assert.ok(r2.stats.context.chunks.filter((x) => x.path !== 'c.txt').every((x) => x.reused === x.tokens));
      } finally {
        server.dispose();
      }
    }
  });
});
