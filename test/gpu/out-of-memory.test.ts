// Out of GPU memory on a real device: lavapipe under a Vulkan layer that gives it less memory (test/helpers/
// vk-memory-cap.c), so that vkAllocateMemory itself answers VK_ERROR_OUT_OF_DEVICE_MEMORY and Dawn reports it as
// WebGPU does. Through the engine's message handler: the other documents' caches go least recently used first, one per
// refusal, every completion equals the one made without the cap, random edits and completions over more documents than
// fit are all served with exact caches, and when nothing is left to drop the message says what to do and completions
// go on once memory is back. A model larger than the memory left fails to load with its sizes and keeps nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { acquireNodeGpu } from '../../src/engine/gpu/node.js';
import { KvCache } from '../../src/engine/kv/cache.js';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { DEFAULT_SETTINGS, EngineServer } from '../../src/engine/server.js';
import { rng } from '../../src/engine/util/rng.js';
import { layerError } from '../../src/engine/verify.js';
import type { EngineMessage } from '../../src/protocol/messages.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';
import { F16, randomModel } from '../helpers/random-model.js';
import { enableMemoryCap, type MemoryCap } from '../helpers/vk-memory-cap.js';

const VOCAB = 'vocab/ggml-vocab-llama-spm.gguf';
// 2 layers x 2 KV heads x 64 dims x 4 bytes: 1 KiB of K and 1 KiB of V per row, so 8 MiB each for 8,192 rows, above
// the size Dawn sub-allocates (4 MiB): each cache is memory of its own that the driver gives and takes back.
const ROWS = 8192;
const SETTINGS = { ...DEFAULT_SETTINGS, maxContext: ROWS, cacheBudgetMiB: 4096, idleMs: 600_000 };
const TEXTS: Record<string, string> = {
  a: 'int main(void) {\n  return',
  b: 'def add(a, b):\n    return',
  c: 'fn main() {\n    let x =',
};

/** The test's model: random weights, the llama vocabulary (8 MiB of f16 embedding), 8,192 rows of context. */
function modelBytes(vocab: string, seed: number): Uint8Array {
  return randomModel({ arch: 'llama', vocab, nLayers: 2, dim: 128, nHeads: 2, nKvHeads: 2, ffnDim: 256, contextLength: ROWS, tied: true, formats: F16, seed });
}

let cap: MemoryCap | null = null;
let missing = '';
let ctx: GpuContext | null = null;
let model: TransformerModel | null = null;

before(async () => {
  const vocab = fixture(VOCAB);
  if (!vocab) return void (missing = `missing fixture ../shared/fixtures/${VOCAB}`);
  const layer = enableMemoryCap();
  if ('missing' in layer) return void (missing = `the memory-capping Vulkan layer cannot be built: no ${layer.missing}`);
  try {
    ctx = await acquireNodeGpu({ prefer: 'lavapipe' });
  } catch (e) {
    return void (missing = `lavapipe (scripts/setup-cpu-gpu.sh): ${(e as Error).message}`);
  }
  cap = layer;
  model = await TransformerModel.load(ctx, bytesSource(modelBytes(vocab, 5)), undefined, 1024);
});
after(() => {
  model?.destroy();
  ctx?.destroy();
});

function ready(t: { skip(msg: string): void }): boolean {
  if (model) return true;
  skipOrFail(t, missing);
  return false;
}

/** The documents whose caches the engine said it dropped, in order, in `messages`. */
function droppedIn(messages: EngineMessage[]): string[] {
  return messages.flatMap((m) => (m.type === 'log' ? [...m.message.matchAll(/dropped the cache of (\w+)/g)].map((x) => x[1]!) : []));
}

/** An engine with documents a, b and c open, and a way to ask for a completion and get its answer and logs. */
async function engine() {
  const out: EngineMessage[] = [];
  const server = new EngineServer(model!, (m) => out.push(m), SETTINGS);
  for (const [uri, text] of Object.entries(TEXTS)) await server.handle({ type: 'open', uri, version: 1, text, cursor: text.length });
  let id = 0;
  const complete = async (uri: string) => {
    const from = out.length;
    await server.handle({ type: 'complete', id: ++id, uri, version: 1, offset: TEXTS[uri]!.length, maxTokens: 8, maxLines: 1 });
    const answer = out.slice(from).find((m) => 'id' in m && m.id === id);
    return { answer, dropped: droppedIn(out.slice(from)) };
  };
  return { server, complete, out };
}

test('the layer is in the driver: the model\'s memory is counted', (t) => {
  if (!ready(t)) return;
  assert.match(ctx!.describe(), /llvmpipe|lavapipe/i);
  assert.ok(cap!.held() >= model!.ctx.liveBytes, `held ${cap!.held()} < the engine's ${model!.ctx.liveBytes}`);
});

test('a cache the device refuses: the others go least recently used first, and completions are unchanged', async (t) => {
  if (!ready(t)) return;
  const { server, complete } = await engine();
  // the documents with a cache, least recently used first
  let cached: string[] = [];
  const text = async (uri: string, room: number) => {
    const r = await complete(uri);
    assert.equal(r.answer?.type, 'completion', `${uri}: ${JSON.stringify(r.answer)}`);
    const others = cached.filter((u) => u !== uri);
    // the least recently used go first: as many as needed to make room, or (memory given back late) one more
    const need = Math.max(0, others.length + 1 - room);
    assert.deepEqual(r.dropped, others.slice(0, r.dropped.length), `${uri}: caches dropped out of order (cached: ${others})`);
    assert.ok(r.dropped.length >= need && r.dropped.length <= need + (need ? 1 : 0), `${uri}: dropped ${r.dropped} for room for ${need}`);
    cached = [...others.filter((u) => !r.dropped.includes(u)), uri];
    return r.answer!.type === 'completion' ? r.answer.text : '';
  };
  try {
    const start = cap!.held();
    const a = await text('a', 3);
    const oneCache = cap!.held() - start;
    const b = await text('b', 3);
    assert.ok(oneCache >= 16 << 20, `a cache of ${ROWS} rows took ${oneCache} bytes of device memory`);
    // room for half a cache more: c's is refused until a cache goes
    cap!.set(cap!.held() + oneCache / 2);
    const refused = cap!.refusals();
    const c = await text('c', 2);
    assert.ok(cap!.refusals() > refused, 'the device refused an allocation');
    assert.equal(await text('a', 2), a);
    assert.equal(await text('b', 2), b);
    assert.equal(await text('c', 2), c);
    // memory back: nothing is dropped, and every document completes as it did under the cap
    cap!.set(null);
    for (const [uri, want] of Object.entries({ a, b, c })) assert.equal(await text(uri, 3), want);
    assert.equal(ctx!.lost, null);
  } finally {
    server.dispose();
    cap!.set(null);
  }
});

test('60 random edits and completions over 4 documents with room for about 2 caches: every completion served, caches dropped in order, PIE\'s caches exact, no GPU bytes kept', { timeout: 300_000 }, async (t) => {
  if (!ready(t)) return;
  const c = model!.ctx;
  // GPU bytes held before and after, without the scratch buffers (kept between calls, grown by larger batches)
  c.releaseScratch();
  await c.reclaim();
  const liveBefore = c.liveBytes;
  const out: EngineMessage[] = [];
  const server = new EngineServer(model!, (m) => out.push(m), SETTINGS);
  const r = rng(11);
  const docs = ['a', 'b', 'c', 'a2'].map((uri, i) => ({ uri, version: 1, text: Object.values(TEXTS)[i % 3]!.repeat(3 + i) }));
  const INSERTS = [' x', '\n  ', 'return 0;', '(a, b)', ' = 1'];
  let cached: string[] = [];
  let id = 0;
  let drops = 0;
  try {
    for (const d of docs) await server.handle({ type: 'open', uri: d.uri, version: 1, text: d.text, cursor: d.text.length });
    // two caches made, then room for half a cache more
    for (const d of docs.slice(0, 2)) {
      await server.handle({ type: 'complete', id: ++id, uri: d.uri, version: 1, offset: d.text.length, maxTokens: 1, maxLines: 1 });
      cached.push(d.uri);
    }
    cap!.set(cap!.held() + KvCache.bytesFor(model!.config, ROWS) / 2);
    for (let step = 0; step < 60; step++) {
      const d = docs[Math.floor(r() * docs.length)]!;
      if (r() < 0.5) {
        const at = Math.floor(r() * (d.text.length + 1));
        const text = INSERTS[Math.floor(r() * INSERTS.length)]!;
        d.text = d.text.slice(0, at) + text + d.text.slice(at);
        await server.handle({ type: 'change', uri: d.uri, version: d.version + 1, prevVersion: d.version, changes: [{ rangeOffset: at, rangeLength: 0, text }] });
        d.version++;
        continue;
      }
      const from = out.length;
      await server.handle({ type: 'complete', id: ++id, uri: d.uri, version: d.version, offset: Math.floor(r() * (d.text.length + 1)), maxTokens: 6, maxLines: 2 });
      const answer = out.slice(from).find((m) => 'id' in m && m.id === id);
      assert.equal(answer?.type, 'completion', `step ${step}: ${JSON.stringify(answer)}`);
      const dropped = droppedIn(out.slice(from));
      const others = cached.filter((u) => u !== d.uri);
      assert.deepEqual(dropped, others.slice(0, dropped.length), `step ${step}: out of order (cached: ${others})`);
      drops += dropped.length;
      cached = [...others.filter((u) => !dropped.includes(u)), d.uri];
    }
    assert.ok(drops >= 5, `only ${drops} caches dropped: the cap did not bite`);
    t.diagnostic(`${id} completions, ${drops} caches dropped, ${cap!.refusals()} allocations refused`);
    // the caches left, as PIE kept them through the edits (brought up to date by a completion): layer 0 equal to a
    // full recomputation
    cap!.set(null);
    for (const uri of cached) {
      const d = docs.find((x) => x.uri === uri)!;
      await server.handle({ type: 'complete', id: ++id, uri, version: d.version, offset: d.text.length, maxTokens: 1, maxLines: 1 });
      assert.equal(out.at(-1)?.type, 'completion', JSON.stringify(out.at(-1)));
      const e = await layerError(server.session(uri)!, 0);
      assert.ok(Math.max(e.k, e.v) <= 1e-4, `${uri}: layer 0 off by ${JSON.stringify(e)}`);
    }
  } finally {
    server.dispose();
    cap!.set(null);
  }
  c.releaseScratch();
  assert.equal(c.liveBytes, liveBefore, 'GPU bytes kept after every document is gone');
  assert.equal(ctx!.lost, null);
});

test('no room for even one cache: the completion and a re-sync answer out-of-memory with what to do; completions go on once memory is back', async (t) => {
  if (!ready(t)) return;
  const { server, complete, out } = await engine();
  try {
    // the scratch buffers go too: what is held is the model
    model!.ctx.releaseScratch();
    await model!.ctx.reclaim();
    const modelOnly = model!.ctx.liveBytes;
    cap!.set(cap!.held() + (4 << 20));
    const r = await complete('a');
    assert.ok(r.answer?.type === 'noCompletion', JSON.stringify(r.answer));
    assert.equal(r.answer.reason, 'error');
    assert.equal(r.answer.kind, 'out-of-memory');
    assert.match(r.answer.message ?? '', /^out of GPU memory beside the model \([\d.]+ [KM]iB held; a cache of 8192 rows takes 16\.0 MiB\): lower pie\.maxContext, choose a smaller model, or close other programs that use the GPU \(.*VK_ERROR_OUT_OF_DEVICE_MEMORY/);
    assert.deepEqual(r.dropped, []);
    // a re-sync, which makes the cache again, is answered with the same
    const from = out.length;
    await server.handle({ type: 'resync', id: 50, uri: 'a' });
    const resync = out.slice(from).find((m) => 'id' in m && m.id === 50);
    assert.ok(resync?.type === 'noCompletion' && resync.kind === 'out-of-memory' && /^out of GPU memory beside the model/.test(resync.message ?? ''), JSON.stringify(resync));
    // nothing the failed tries allocated stays
    assert.equal(model!.ctx.liveBytes, modelOnly);
    cap!.set(null);
    const ok = await complete('a');
    assert.equal(ok.answer?.type, 'completion', JSON.stringify(ok.answer));
    assert.equal(ctx!.lost, null);
  } finally {
    server.dispose();
    cap!.set(null);
  }
});

test('a second model larger than the memory left: the load fails with out-of-memory and the sizes, keeps nothing, and the first model still completes', async (t) => {
  if (!ready(t)) return;
  const c = model!.ctx;
  c.releaseScratch();
  await c.reclaim();
  const live = c.liveBytes;
  cap!.set(cap!.held() + (2 << 20));
  try {
    await assert.rejects(TransformerModel.load(c, bytesSource(modelBytes(fixture(VOCAB)!, 6)), undefined, 1024), (e: Error & { kind?: string }) => {
      assert.equal(e.kind, 'out-of-memory');
      assert.match(e.message, /^the GPU could not hold this model: it needs [\d.]+ MiB for the weights and [\d.]+ MiB for a KV cache of 1024 tokens \([\d.]+ MiB in all\), and the device refused an allocation \(.*VK_ERROR_OUT_OF_DEVICE_MEMORY[\s\S]*\); choose a smaller model or quantization$/);
      return true;
    });
  } finally {
    cap!.set(null);
  }
  assert.equal(c.liveBytes, live, 'the failed load kept GPU bytes');
  const { server, complete } = await engine();
  try {
    const r = await complete('a');
    assert.equal(r.answer?.type, 'completion', JSON.stringify(r.answer));
  } finally {
    server.dispose();
  }
});
