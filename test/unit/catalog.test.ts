// The catalog: every entry resolvable by its quantization, the memory arithmetic, what fits and what is recommended.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOG, catalogEntry, type DeviceBudget, fit, memoryNeeded, recommend } from '../../src/models/catalog.js';

const GiB = 2 ** 30;
const device = (gib: number, bindingMiB = 2048): DeviceBudget => ({ memoryBytes: gib * GiB, memoryAssumed: false, maxBindingBytes: bindingMiB * 2 ** 20 });

test('every Hub entry names a .gguf file carrying its quantization, and ids are unique', () => {
  assert.equal(new Set(CATALOG.map((e) => e.id)).size, CATALOG.length);
  for (const e of CATALOG.filter((e) => e.repo)) {
    assert.match(e.file, new RegExp(`[-._]${e.quant}\\.gguf$`, 'i'), e.id);
    assert.match(e.repo!, /^[\w.-]+\/[\w.-]+$/, e.id);
  }
  assert.equal(CATALOG.filter((e) => e.bundled).length, 1);
  assert.equal(catalogEntry('qwen2.5-coder-1.5b-q8_0.gguf')?.id, 'qwen2.5-coder-1.5b:q8_0');
});

test('memory: weights (the file) plus the f32 KV cache at the context, capped by the model', () => {
  const q05 = catalogEntry('qwen2.5-coder-0.5b:q8_0')!;
  // 2 (K and V) x 24 layers x 2 KV heads x 4096 rows x 64 dims x 4 bytes
  assert.deepEqual(memoryNeeded(q05, 4096), { weights: 531e6, kvCache: 100_663_296, total: 531e6 + 100_663_296, contextRows: 4096 });
  const tiny = catalogEntry('pie-code-tiny')!;
  assert.equal(memoryNeeded(tiny, 4096).contextRows, 2048, "the model's own context caps the setting");
});

test('fit: the KV cache buffers against the binding limit, the total against the memory', () => {
  const ds = catalogEntry('deepseek-coder-1.3b-base:q4_k_m')!;
  const lavapipe = fit(ds, device(8, 128), 4096);
  assert.equal(lavapipe.fits, false);
  assert.match(lavapipe.why, /KV cache at 4096 tokens needs 0\.75 GiB per K\/V buffer, over this adapter's binding limit of 0\.13 GiB \(lower pie\.maxContext\)/);
  assert.equal(fit(ds, device(8, 128), 512).fits, true);
  const q7 = fit(catalogEntry('qwen2.5-coder-7b:q8_0')!, { ...device(4), memoryAssumed: true }, 4096);
  assert.equal(q7.fits, false);
  assert.match(q7.why, /over the 4\.00 GiB of GPU memory assumed \(set pie\.gpuMemoryGiB\)/);
});

test('recommend: the largest Qwen2.5-Coder within half the memory, Q8_0 first; the bundled model when nothing fits', () => {
  assert.equal(recommend(device(24), 4096).id, 'qwen2.5-coder-7b:q8_0');
  assert.equal(recommend(device(8), 4096).id, 'qwen2.5-coder-3b:q8_0');
  assert.equal(recommend(device(4), 4096).id, 'qwen2.5-coder-1.5b:q8_0');
  assert.equal(recommend(device(1), 4096).id, 'qwen2.5-coder-0.5b-instruct:q4_k_m');
  assert.equal(recommend(device(0.7), 4096).id, 'qwen2.5-coder-0.5b-instruct:q4_k_m', 'nothing within half: the smallest that fits');
  assert.equal(recommend(device(0.25), 4096).id, 'pie-code-tiny');
  assert.equal(recommend({ ...device(64), software: true }, 4096).id, 'qwen2.5-coder-0.5b:q8_0', 'a CPU adapter: the smallest');
});
