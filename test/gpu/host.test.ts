// EngineHost (src/engine/host.ts), the engine's life in the webview and the language server, when the device goes
// and does not come back: a driver that is gone by the time the device is re-created (Dawn given a Vulkan driver
// list that names no driver), and a device lost again and again. The host must say what happened once each time,
// answer every request at once, and keep taking document events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acquireNodeGpu } from '../../src/engine/gpu/node.js';
import { EngineHost, LOSS_WINDOW_MS, MAX_LOSSES } from '../../src/engine/host.js';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { DEFAULT_SETTINGS } from '../../src/engine/server.js';
import type { EngineMessage } from '../../src/protocol/messages.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';
import { F16, randomModel } from '../helpers/random-model.js';

const VOCAB = 'vocab/ggml-vocab-llama-spm.gguf';
const TEXT = 'int main(void) {\n  return';

/** A host on Node's Dawn whose driver can be taken away (`gone`), with every message it sends. */
function host(vocab: string) {
  const bytes = randomModel({ arch: 'llama', vocab, nLayers: 2, dim: 64, nHeads: 2, nKvHeads: 2, ffnDim: 128, contextLength: 512, tied: true, formats: F16, seed: 7 });
  const out: EngineMessage[] = [];
  let gone = false;
  const h = new EngineHost(
    {
      send: (m) => out.push(m),
      // gone: Dawn is pointed at a Vulkan driver list with nothing in it, as after the driver was removed
      acquire: () => (gone ? withEnv('VK_ICD_FILENAMES', '/nonexistent/pie-test-icd.json', () => acquireNodeGpu({ prefer: 'env' })) : acquireNodeGpu()),
      openModel: async () => ({ source: bytesSource(bytes) }),
    },
    'random-llama',
    { ...DEFAULT_SETTINGS, idleMs: 600_000 },
  );
  const waitFor = async (what: string, ok: (m: EngineMessage) => boolean, from = 0) => {
    for (let i = 0; i < 600; i++) {
      const m = out.slice(from).find(ok);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`no ${what} in ${JSON.stringify(out.slice(from).map((m) => m.type))}`);
  };
  return { h, out, waitFor, gone: () => (gone = true) };
}

async function withEnv<T>(key: string, value: string, f: () => Promise<T>): Promise<T> {
  const saved = process.env[key];
  process.env[key] = value;
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env[key];
    else process.env[key] = saved;
  }
}

test('a device that cannot be re-created: lost said once, then unavailable with the reason; requests answered at once, document events taken', { timeout: 120_000 }, async (t) => {
  const vocab = fixture(VOCAB);
  if (!vocab) return skipOrFail(t, `missing fixture ../shared/fixtures/${VOCAB}`);
  const { h, out, waitFor, gone } = host(vocab);
  try {
    assert.equal(await h.start(), true);
    await h.handle({ type: 'open', uri: 'a', version: 1, text: TEXT, cursor: TEXT.length });
    await h.handle({ type: 'complete', id: 1, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
    assert.equal((await waitFor('completion', (m) => 'id' in m && m.id === 1)).type, 'completion');
    gone();
    const from = out.length;
    h.loseDevice();
    const down = await waitFor('no-adapter', (m) => m.type === 'unavailable' && m.reason === 'no-adapter', from);
    const said = out.slice(from).filter((m) => m.type === 'unavailable');
    assert.equal(said.length, 2, JSON.stringify(said));
    assert.ok(said[0]!.type === 'unavailable' && said[0]!.reason === 'device-lost' && /^The GPU device was lost \(destroyed.*\); restarting the engine\.$/.test(said[0]!.message), JSON.stringify(said[0]));
    // the reason names what was tried and what to install
    assert.ok(down.type === 'unavailable' && /No WebGPU adapter found\. Tried:[\s\S]*VK_ICD_FILENAMES=\/nonexistent\/pie-test-icd\.json[\s\S]*install a CPU driver/.test(down.message), JSON.stringify(down));
    assert.equal(h.server, null);
    // requests are answered at once; the editor's document events are taken (nothing throws)
    const before = out.length;
    await h.handle({ type: 'change', uri: 'a', version: 2, prevVersion: 1, changes: [{ rangeOffset: TEXT.length, rangeLength: 0, text: ' 0;' }] });
    await h.handle({ type: 'complete', id: 2, uri: 'a', version: 2, offset: TEXT.length + 3, maxTokens: 4, maxLines: 1 });
    assert.deepEqual(out.slice(before), [{ type: 'noCompletion', id: 2, reason: 'error', message: 'the engine is not ready' }]);
  } finally {
    h.dispose();
  }
});

test(`a device lost more than ${MAX_LOSSES} times within ${LOSS_WINDOW_MS / 1000} s: restarted ${MAX_LOSSES} times with the document, then stopped with the count and the last reason`, { timeout: 300_000 }, async (t) => {
  const vocab = fixture(VOCAB);
  if (!vocab) return skipOrFail(t, `missing fixture ../shared/fixtures/${VOCAB}`);
  const { h, out, waitFor } = host(vocab);
  try {
    assert.equal(await h.start(), true);
    await h.handle({ type: 'open', uri: 'a', version: 1, text: TEXT, cursor: TEXT.length });
    await h.handle({ type: 'complete', id: 1, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
    const first = await waitFor('completion', (m) => 'id' in m && m.id === 1);
    for (let i = 1; i <= MAX_LOSSES; i++) {
      const from = out.length;
      h.loseDevice();
      const ready = await waitFor(`ready after loss ${i}`, (m) => m.type === 'ready', from);
      assert.ok(ready.type === 'ready' && (ready.restored ?? []).some((d) => d.uri === 'a'), JSON.stringify(ready));
      await h.handle({ type: 'complete', id: 1 + i, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
      const again = await waitFor(`completion after loss ${i}`, (m) => 'id' in m && m.id === 1 + i, from);
      assert.ok(again.type === 'completion' && first.type === 'completion' && again.text === first.text, JSON.stringify(again));
    }
    const from = out.length;
    h.loseDevice();
    const stop = await waitFor('the stop', (m) => m.type === 'unavailable' && /not restarted again/.test(m.message), from);
    assert.ok(stop.type === 'unavailable' && stop.reason === 'device-lost');
    assert.match(stop.message, new RegExp(`^The GPU device was lost ${MAX_LOSSES + 1} times within ${LOSS_WINDOW_MS / 1000} s \\(last: destroyed.*\\); the engine is not restarted again\\. Reload the window to try again\\.$`));
    // stopped for good: no booting after it, and requests are answered at once
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(out.slice(from).map((m) => m.type), ['unavailable']);
    await h.handle({ type: 'complete', id: 99, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
    assert.equal(out.at(-1)?.type, 'noCompletion');
  } finally {
    h.dispose();
  }
});

test('requests sent while the engine boots wait for it (an editor that asks at once gets its completion); when the boot fails they get its reason', { timeout: 120_000 }, async (t) => {
  const vocab = fixture(VOCAB);
  if (!vocab) return skipOrFail(t, `missing fixture ../shared/fixtures/${VOCAB}`);
  const { h, out, waitFor } = host(vocab);
  try {
    const booted = h.start();
    await h.handle({ type: 'open', uri: 'a', version: 1, text: TEXT, cursor: TEXT.length });
    await h.handle({ type: 'complete', id: 1, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
    await h.handle({ type: 'complete', id: 2, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
    await h.handle({ type: 'complete', id: 3, uri: 'b', version: 1, offset: 0, maxTokens: 4, maxLines: 1 });
    await h.handle({ type: 'cancel', id: 3 });
    // a superseded and a cancelled request are answered at once, before the engine is up
    assert.deepEqual(out.filter((m) => m.type === 'noCompletion'), [{ type: 'noCompletion', id: 1, reason: 'cancelled' }, { type: 'noCompletion', id: 3, reason: 'cancelled' }]);
    assert.equal(await booted, true);
    const r = await waitFor('completion 2', (m) => 'id' in m && m.id === 2);
    assert.equal(r.type, 'completion', JSON.stringify(r));
    h.dispose();

    // a boot that fails: the waiting request gets the reason
    const f = host(vocab);
    f.gone();
    const failed = f.h.start();
    await f.h.handle({ type: 'open', uri: 'a', version: 1, text: TEXT, cursor: TEXT.length });
    await f.h.handle({ type: 'complete', id: 9, uri: 'a', version: 1, offset: TEXT.length, maxTokens: 4, maxLines: 1 });
    assert.equal(await failed, false);
    const no = await f.waitFor('the answer', (m) => 'id' in m && m.id === 9);
    assert.ok(no.type === 'noCompletion' && no.reason === 'error' && no.kind === 'no-adapter' && /^the engine could not start: No WebGPU adapter found/.test(no.message ?? ''), JSON.stringify(no));
    f.h.dispose();
  } finally {
    h.dispose();
  }
});
