// Failures by kind through the engine's message handler, on a real device: one created with WebGPU's default limits
// (128 MiB storage bindings, 256 MiB buffers), lower than the adapter offers, and a random-weight model whose context
// is long enough for its KV cache not to fit them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { acquireNodeGpu } from '../../src/engine/gpu/node.js';
import { bytesSource } from '../../src/engine/model/gguf.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { DEFAULT_SETTINGS, EngineServer } from '../../src/engine/server.js';
import type { EngineMessage } from '../../src/protocol/messages.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';
import { F16, randomModel } from '../helpers/random-model.js';

const VOCAB = 'vocab/ggml-vocab-llama-spm.gguf';
const LIMITS = { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 256 << 20 };

let ctx: GpuContext | null = null;
let model: TransformerModel | null = null;

before(async () => {
  const vocab = fixture(VOCAB);
  if (!vocab) return;
  ctx = await acquireNodeGpu({ limits: LIMITS });
  // 2 layers x 2 KV heads x 64 dims x 4 bytes: 1 KiB of K (and of V) per token; 262,144 tokens of context
  const bytes = randomModel({ arch: 'llama', vocab, nLayers: 2, dim: 128, nHeads: 2, nKvHeads: 2, ffnDim: 256, contextLength: 262_144, tied: true, formats: F16, seed: 3 });
  model = await TransformerModel.load(ctx, bytesSource(bytes), undefined, 1024);
});
after(() => {
  model?.destroy();
  ctx?.destroy();
});

function needsModel(t: { skip(msg: string): void }): boolean {
  if (model) return true;
  skipOrFail(t, `missing fixture ../shared/fixtures/${VOCAB}`);
  return false;
}

test('the device has the lowered limits', (t) => {
  if (!needsModel(t)) return;
  assert.equal(ctx!.limits.maxStorageBufferBindingSize, LIMITS.maxStorageBufferBindingSize);
});

test('a context whose KV cache is over the device\'s limits: out-of-memory with both sizes; with a smaller context completions go on', async (t) => {
  if (!needsModel(t)) return;
  const out: EngineMessage[] = [];
  const server = new EngineServer(model!, (m) => out.push(m), { ...DEFAULT_SETTINGS, maxContext: 200_000, idleMs: 60_000 });
  try {
    await server.handle({ type: 'open', uri: 'a', version: 1, text: 'int main(void) {\n  return', cursor: 26 });
    await server.handle({ type: 'complete', id: 1, uri: 'a', version: 1, offset: 26, maxTokens: 4, maxLines: 1 });
    const r = out.find((m) => m.type === 'noCompletion' && m.id === 1);
    assert.ok(r && r.type === 'noCompletion', JSON.stringify(out));
    assert.equal(r.reason, 'error');
    assert.equal(r.kind, 'out-of-memory');
    assert.match(r.message ?? '', /a KV cache of 200000 rows needs 195\.3 MiB per K\/V buffer, over this device's limit of 128\.0 MiB; use a smaller context/);
    // the setting lowered: the same document completes
    await server.handle({ type: 'settings', settings: { ...DEFAULT_SETTINGS, maxContext: 4096, idleMs: 60_000 } });
    await server.handle({ type: 'complete', id: 2, uri: 'a', version: 1, offset: 26, maxTokens: 4, maxLines: 1 });
    const ok = out.find((m) => 'id' in m && m.id === 2);
    assert.equal(ok?.type, 'completion', JSON.stringify(ok));
  } finally {
    server.dispose();
  }
});
