// What the engine measures for the model picker's expected speeds (src/models/catalog.ts, "PIE: Select model"): the
// device's copy bandwidth when it boots and the loaded model's decode in the warm-up, both in `ready` (ModelInfo).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/cli/models.js';
import { measureCopyBandwidth } from '../../src/engine/gpu/bandwidth.js';
import { acquireNodeGpu } from '../../src/engine/gpu/node.js';
import { EngineHost } from '../../src/engine/host.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { DEFAULT_SETTINGS } from '../../src/engine/server.js';
import { catalogEntry, deviceSpeed, expectedTokPerS } from '../../src/models/catalog.js';
import type { EngineMessage } from '../../src/protocol/messages.js';
import { skipOrFail } from '../helpers/fixtures.js';

const BUNDLED = join(projectRoot(), 'models/pie-code-tiny.gguf');

test('measureCopyBandwidth with minMs: copies per submission doubled until one takes minMs', { timeout: 60_000 }, async () => {
  const ctx = await acquireNodeGpu();
  try {
    // 1 MiB copies in well under 5 ms on any device: more copies go into each submission
    const r = await measureCopyBandwidth(ctx, { bytes: 1 << 20, runs: 3, minMs: 5, maxCopies: 64 });
    assert.ok(r.copies > 1 && r.copies <= 64, `copies ${r.copies}`);
    assert.equal(r.copyMs.length, 3);
    assert.ok(Number.isFinite(r.bytesPerS) && r.bytesPerS > 1e8, `${r.bytesPerS} B/s`);
    // without minMs: one copy per submission, as the benchmark has always timed it
    assert.equal((await measureCopyBandwidth(ctx, { bytes: 1 << 20, runs: 1 })).copies, 1);
  } finally {
    ctx.destroy();
  }
});

test('ready reports the copy bandwidth and the warm-up decode; calibrated on them, the catalog expects the loaded model at its speed', { timeout: 180_000 }, async (t) => {
  if (!existsSync(BUNDLED)) return skipOrFail(t, `missing the bundled model ${BUNDLED}`);
  const out: EngineMessage[] = [];
  const h = new EngineHost(
    {
      send: (m) => out.push(m),
      acquire: () => acquireNodeGpu(),
      openModel: async () => {
        const source = await fileSource(BUNDLED);
        return { source, close: () => source.close() };
      },
    },
    'pie-code-tiny',
    { ...DEFAULT_SETTINGS, idleMs: 600_000 },
  );
  try {
    assert.equal(await h.start(), true, JSON.stringify(out.filter((m) => m.type !== 'booting')));
    const ready = out.find((m) => m.type === 'ready');
    assert.ok(ready?.type === 'ready');
    const { copyBytesPerS, decodeTokPerS, weightBytes, layers } = ready.model;
    assert.ok(copyBytesPerS !== undefined && Number.isFinite(copyBytesPerS) && copyBytesPerS > 1e8, `copy ${copyBytesPerS} B/s`);
    assert.ok(decodeTokPerS !== undefined && Number.isFinite(decodeTokPerS) && decodeTokPerS > 0, `decode ${decodeTokPerS} tok/s`);
    assert.ok(out.some((m) => m.type === 'log' && /^copy bandwidth \d+\.\d\d GB\/s/.test(m.message)));
    // a completion's own decode is of the same order (both short timings on a machine that may be busy)
    const text = 'def fibonacci(n):\n    if n < 2:\n        return n\n    return ';
    await h.handle({ type: 'open', uri: 'a', version: 1, text, cursor: text.length });
    await h.handle({ type: 'complete', id: 1, uri: 'a', version: 1, offset: text.length, maxTokens: 16, maxLines: 8 });
    const c = out.find((m) => m.type === 'completion' && m.id === 1);
    if (c?.type === 'completion' && c.stats.tokensGenerated > 4) {
      const ratio = c.stats.tokensPerS / decodeTokPerS;
      assert.ok(ratio > 0.2 && ratio < 5, `completion ${c.stats.tokensPerS.toFixed(1)} tok/s, warm-up ${decodeTokPerS.toFixed(1)} tok/s`);
    }
    // the catalog, calibrated on it, expects the bundled entry at the measured speed (its file's bytes against the
    // GPU's: within 2%)
    const speed = deviceSpeed(copyBytesPerS, { software: ready.cpu, measured: { name: 'pie-code-tiny', tokPerS: decodeTokPerS, weightBytes, layers } });
    const expected = expectedTokPerS(catalogEntry('pie-code-tiny')!, { memoryBytes: 2 ** 32, memoryAssumed: true, maxBindingBytes: 2 ** 27, speed })!;
    assert.ok(Math.abs(expected / decodeTokPerS - 1) < 0.02, `expected ${expected}, measured ${decodeTokPerS}`);
  } finally {
    h.dispose();
  }
});
