// A short soak through the engine's message handler (src/engine/soak.ts; `pie soak` runs long ones): no failure of any
// kind, no GPU bytes gained over a repeated round, every cache equal to a full recomputation at the end.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_MODEL, KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import type { GpuContext } from '../../src/engine/gpu/context.js';
import { LlamaModel } from '../../src/engine/model/model.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { soak } from '../../src/engine/soak.js';
import { testGpu } from '../helpers/gpu.js';

let ctx: GpuContext;
let model: LlamaModel;
before(async () => {
  ctx = await testGpu();
  const src = await fileSource(join(projectRoot(), KNOWN_MODELS[DEFAULT_MODEL]!.bundled!));
  model = await LlamaModel.load(ctx, src);
  await src.close();
});
after(() => model?.destroy());

test('150 random steps on 3 documents, twice: every kind of step happens, nothing fails, no GPU bytes gained, caches exact', async (t) => {
  const r = await soak(model, { documents: 3, steps: 150, seed: 7 });
  t.diagnostic(JSON.stringify(r));
  assert.deepEqual(r.errors, {});
  for (const k of ['edits', 'completions', 'accepted', 'cancelled', 'resyncs', 'reopened'] as const) assert.ok(r[k] > 0, `${k}: ${r[k]}`);
  assert.ok(r.gpuBytesStart > 0);
  assert.equal(r.gpuBytesEnd, r.gpuBytesStart, 'the second round gained GPU bytes');
  assert.ok(r.worstLayer0 <= 1e-4, `layer 0 ${r.worstLayer0}`);
  assert.ok(r.worstAfterResync <= 1e-4, `after re-sync ${r.worstAfterResync}`);
  assert.equal(r.cachesExact, true);
});
