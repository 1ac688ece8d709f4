// A short soak through the engine's message handler (src/engine/soak.ts; `pie soak` runs long ones): no failure of any
// kind, no GPU bytes gained over a repeated round, requests cancelled both before they start and while they decode, and
// every cache checked against a full recomputation before any re-sync (layer 0 of every row, layer 1 of every row PIE
// does not mark stale, every layer of the rows before the first change) and after one (every layer of every row).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_MODEL, KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { TransformerModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { SOAK_TOLERANCE, soak } from '../../src/engine/soak.js';
import { testGpu } from '../helpers/gpu.js';

let ctx: GpuContext;
let model: TransformerModel;
before(async () => {
  ctx = await testGpu();
  const src = await fileSource(join(projectRoot(), KNOWN_MODELS[DEFAULT_MODEL]!.bundled!));
  model = await TransformerModel.load(ctx, src);
  await src.close();
});
after(() => model?.destroy());

test('150 random steps on 3 documents, twice: every kind of step happens, nothing fails, no GPU bytes gained, caches checked', async (t) => {
  const r = await soak(model, { documents: 3, steps: 150, seed: 7 });
  t.diagnostic(JSON.stringify(r));
  assert.deepEqual(r.errors, {});
  for (const k of ['edits', 'completions', 'accepted', 'cancelledBeforeStart', 'cancelledMidDecode', 'resyncs', 'reopened'] as const) assert.ok(r[k] > 0, `${k}: ${r[k]}`);
  assert.equal(r.cancelled, r.cancelledBeforeStart + r.cancelledMidDecode);
  assert.ok(r.gpuBytesStart > 0);
  assert.equal(r.gpuBytesEnd, r.gpuBytesStart, 'the second round gained GPU bytes');
  // every document at the end of both rounds, and after a mid-decode cancel
  assert.ok(r.cacheChecks >= 2 * 3 + 1, `cache checks: ${r.cacheChecks}`);
  assert.equal(r.tolerance, 1e-5, 'the tolerance of the session tests');
  assert.ok(r.worstLayer0 <= SOAK_TOLERANCE, `layer 0: ${r.worstLayer0}`);
  assert.ok(r.worstLayer1NotStale <= SOAK_TOLERANCE, `layer 1 of the rows not stale: ${r.worstLayer1NotStale}`);
  assert.ok(r.headRows > 0, 'no head rows: the upper layers were never compared');
  assert.ok(r.worstHead <= SOAK_TOLERANCE, `every layer of the heads: ${r.worstHead}`);
  assert.ok(r.worstAfterResync <= SOAK_TOLERANCE, `every layer after a re-sync: ${r.worstAfterResync}`);
  // reported, not asserted beyond being finite: the upper layers of the rows after the head differ (PIE leaves them)
  assert.equal(r.staleByLayer.length, model.config.nLayers);
  for (const e of [...r.staleByLayer, ...r.otherByLayer]) assert.ok(Number.isFinite(e), `a non-finite error: ${e}`);
  assert.ok(r.staleByLayer.at(-1)! > SOAK_TOLERANCE, 'stale rows should differ in the last layer (else the soak made none)');
  assert.equal(r.cachesExact, true);
});
