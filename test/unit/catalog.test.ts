// The catalog: every entry resolvable by its quantization, the memory arithmetic, what fits, the decode speed to
// expect on a device, and what is recommended.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOG, catalogEntry, DEFAULT_EFFICIENCY, deviceSpeed, type DeviceBudget, expectedTokPerS, fit, memoryNeeded, recommend, speedBasis, speedNote, USABLE_TOK_PER_S } from '../../src/models/catalog.js';

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

test('recommend, before the bandwidth is measured: the largest Qwen2.5-Coder within half the memory, Q8_0 first; the bundled model when nothing fits', () => {
  const id = (d: DeviceBudget) => recommend(d, 4096).entry.id;
  assert.equal(id(device(24)), 'qwen2.5-coder-7b:q8_0');
  assert.equal(id(device(8)), 'qwen2.5-coder-3b:q8_0');
  assert.equal(id(device(4)), 'qwen2.5-coder-1.5b:q8_0');
  assert.equal(id(device(1)), 'qwen2.5-coder-0.5b-instruct:q4_k_m');
  assert.equal(id(device(0.7)), 'qwen2.5-coder-0.5b-instruct:q4_k_m', 'nothing within half: the smallest that fits');
  assert.equal(id(device(0.25)), 'pie-code-tiny');
  assert.deepEqual(recommend(device(24), 4096), { entry: catalogEntry('qwen2.5-coder-7b:q8_0'), tokPerS: undefined, slow: false, why: '' });
  // a CPU adapter whose bandwidth is not known yet: the fewest bytes, flagged slow (it was the 0.5B Q8_0)
  const cpu = recommend({ ...device(64), software: true }, 4096);
  assert.equal(cpu.entry.id, 'qwen2.5-coder-0.5b-instruct:q4_k_m');
  assert.equal(cpu.slow, true);
  assert.match(cpu.why, /CPU adapter/);
});

// ---- speed ----
// Measured on lavapipe (Mesa 25.0.7, 2 CPU cores, quiet machine; docs/models.md "Speed at a real shape" and
// docs/engine.md "CPU adapters"): the copy bandwidth 5.99 GB/s (median of 5 copies of 128 MiB,
// bench/results/qwen0.5b-q8_0-engine.txt), the bundled pie-code-tiny (10,810,368 weight bytes on the GPU, 6 layers)
// decoding at 8.9 ms per token, and Qwen2.5-Coder-0.5B's shape in Q8_0 (555,992,576 bytes on the GPU, 24 layers) at
// 1.86 tok/s.
const LAVAPIPE_BW = 5.99e9;
const TINY = { name: 'pie-code-tiny', tokPerS: 1000 / 8.9, weightBytes: 10_810_368, layers: 6 };
const Q05_MEASURED = { name: 'qwen0.5b-q8_0', tokPerS: 1.86, weightBytes: 555_992_576, layers: 24 };
const lavapipe = (measured = TINY): DeviceBudget => ({ memoryBytes: 64 * GiB, memoryAssumed: false, maxBindingBytes: 128 * 2 ** 20, software: true, speed: deviceSpeed(LAVAPIPE_BW, { software: true, measured }) });
const h100 = (measured?: typeof TINY): DeviceBudget => ({ ...device(80), speed: deviceSpeed(3e12, { measured }) });

test('expected tok/s: efficiency x bandwidth / weight bytes, so inversely with the bytes and in proportion to the bandwidth', () => {
  const d: DeviceBudget = { ...device(8), speed: deviceSpeed(LAVAPIPE_BW) };
  assert.equal(d.speed!.efficiency, DEFAULT_EFFICIENCY);
  const q05 = catalogEntry('qwen2.5-coder-0.5b:q8_0')!;
  assert.ok(Math.abs(expectedTokPerS(q05, d)! - (0.5 * 5.99e9) / 531e6) < 1e-9);
  for (const e of CATALOG) {
    // tok/s x bytes is the same for every entry: the weights read per second
    assert.ok(Math.abs((expectedTokPerS(e, d)! * e.bytes) / (DEFAULT_EFFICIENCY * LAVAPIPE_BW) - 1) < 1e-12, e.id);
    assert.ok(Math.abs(expectedTokPerS(e, { ...d, speed: deviceSpeed(2 * LAVAPIPE_BW) })! / expectedTokPerS(e, d)! - 2) < 1e-12, e.id);
  }
  const q8 = expectedTokPerS(catalogEntry('qwen2.5-coder-7b:q8_0')!, d)!;
  const q4 = expectedTokPerS(catalogEntry('qwen2.5-coder-7b-instruct:q4_k_m')!, d)!;
  assert.ok(Math.abs(q4 / q8 - 8.1 / 4.68) < 1e-12, 'Q4_K_M over Q8_0 of one model: the ratio of their files');
  assert.equal(expectedTokPerS(q05, device(8)), undefined, 'no bandwidth measured: no estimate');
  assert.equal(speedNote(24.4), '~24 tok/s');
  assert.equal(speedNote(1.84), 'too slow here: ~1.8 tok/s');
  assert.equal(speedNote(14.9), 'too slow here: ~15 tok/s', `under ${USABLE_TOK_PER_S}, whatever the rounding`);
});

test('calibration: the loaded model is expected at its measured decode, and the others move with it', () => {
  const q05 = catalogEntry('qwen2.5-coder-0.5b:q8_0')!;
  const before = expectedTokPerS(q05, { ...lavapipe(), speed: deviceSpeed(LAVAPIPE_BW, { software: true }) })!;
  // the loaded model itself, measured at 1.86 tok/s: the estimate comes to it (the file's bytes, not the GPU's)
  const exact = deviceSpeed(LAVAPIPE_BW, { software: true, measured: { ...Q05_MEASURED, weightBytes: q05.bytes } });
  assert.ok(Math.abs(expectedTokPerS(q05, { ...lavapipe(), speed: exact })! - 1.86) < 1e-9);
  const after = expectedTokPerS(q05, lavapipe(Q05_MEASURED))!;
  assert.ok(before > 5 && Math.abs(after - 1.86) < 0.15 && Math.abs(after - 1.86) < Math.abs(before - 1.86), `before ${before}, after ${after}`);
  // efficiency = tok/s x weight bytes / bandwidth: 0.17 here, and every other entry scaled by the same factor
  assert.ok(Math.abs(lavapipe(Q05_MEASURED).speed!.efficiency - (1.86 * 555_992_576) / 5.99e9) < 1e-12);
  const q7 = catalogEntry('qwen2.5-coder-7b:q8_0')!;
  assert.ok(Math.abs(expectedTokPerS(q7, lavapipe(Q05_MEASURED))! / expectedTokPerS(q7, { ...lavapipe(), speed: deviceSpeed(LAVAPIPE_BW) })! - after / before) < 1e-12);
  // from the bundled model's decode (8.9 ms per token): the 0.5B Q8_0 at about 2.3 tok/s (measured 1.86)
  const fromTiny = expectedTokPerS(q05, lavapipe())!;
  assert.ok(fromTiny > 1.86 && fromTiny < 2.5 && Math.abs(fromTiny - 1.86) < Math.abs(before - 1.86), `${fromTiny}`);
  assert.match(speedBasis(lavapipe().speed!), /^copy bandwidth 5\.99 GB\/s; decode efficiency 0\.20, from pie-code-tiny's measured 112 tok\/s$/);
  // a GPU decoding faster than the default assumes: the efficiency rises to match (at most 1)
  const fast = deviceSpeed(1e12, { measured: { name: 'm', tokPerS: 150, weightBytes: 4e9, layers: 28 } });
  assert.ok(Math.abs(fast.efficiency - 0.6) < 1e-12 && fast.layerOverheadS === 0);
  assert.equal(deviceSpeed(1e12, { measured: { name: 'm', tokPerS: 1000, weightBytes: 4e9, layers: 28 } }).efficiency, 1);
});

test('recommend on a CPU adapter (lavapipe): not the 0.5B Q8_0 (under 15 tok/s) but the fastest that fits, flagged slow, with why', () => {
  const d = lavapipe();
  const q05 = catalogEntry('qwen2.5-coder-0.5b:q8_0')!;
  assert.equal(fit(q05, d, 4096).fits, true);
  assert.ok(expectedTokPerS(q05, d)! < USABLE_TOK_PER_S);
  const r = recommend(d, 4096);
  assert.notEqual(r.entry.id, q05.id);
  assert.equal(r.entry.id, 'qwen2.5-coder-0.5b-instruct:q4_k_m', 'the fewest bytes of those that fit');
  assert.equal(r.slow, true);
  for (const e of CATALOG.filter((e) => e.repo && e.family === 'qwen2' && fit(e, d, 4096).fits)) assert.ok(expectedTokPerS(e, d)! <= r.tokPerS!, e.id);
  assert.ok(r.tokPerS! > 2.5 && r.tokPerS! < 3.5, `${r.tokPerS}`);
  assert.match(r.why, /^no model that fits is expected at 15 tok\/s here \(copy bandwidth 5\.99 GB\/s; .*\); Qwen2\.5-Coder 0\.5B Instruct Q4_K_M is the fastest, at ~3\.1 tok\/s$/);
  // the default efficiency, before any decode is measured, says the same
  assert.equal(recommend({ ...d, speed: deviceSpeed(LAVAPIPE_BW, { software: true }) }, 4096).slow, true);
});

test('recommend on an H100-like bandwidth (3 TB/s, efficiency 0.5): the largest that fits, not slow, also when calibrated on the bundled model', () => {
  const r = recommend(h100(), 4096);
  assert.equal(r.entry.id, 'qwen2.5-coder-7b:q8_0');
  assert.equal(r.slow, false);
  assert.equal(r.why, '');
  assert.ok(Math.abs(r.tokPerS! - (0.5 * 3e12) / 8.1e9) < 1e-9);
  // the bundled model reads 11 MB per token: a GPU's 2 ms a token for it (an assumed figure: no GPU was measured) are
  // dispatches, taken as per-layer overhead, not as a bandwidth that would put the 7B model at 0.7 tok/s
  const calibrated = h100({ name: 'pie-code-tiny', tokPerS: 500, weightBytes: 10_810_368, layers: 6 });
  assert.equal(calibrated.speed!.efficiency, DEFAULT_EFFICIENCY);
  assert.ok(calibrated.speed!.layerOverheadS > 3e-4 && calibrated.speed!.layerOverheadS < 3.4e-4);
  const c = recommend(calibrated, 4096);
  assert.equal(c.entry.id, 'qwen2.5-coder-7b:q8_0');
  assert.equal(c.slow, false);
  assert.ok(c.tokPerS! > USABLE_TOK_PER_S && c.tokPerS! < r.tokPerS!, `${c.tokPerS}`);
});

test('recommend on a slower GPU (60 GB/s, 16 GiB): the largest that fits and is fast enough, not the largest that fits', () => {
  const d: DeviceBudget = { ...device(16), speed: deviceSpeed(60e9) };
  assert.equal(fit(catalogEntry('qwen2.5-coder-7b:q8_0')!, d, 4096).fits, true);
  const r = recommend(d, 4096);
  // 7B Q8_0 ~3.7, 7B Q4_K_M ~6.4, 3B Q8_0 ~9.1, 3B Q4_K_M ~14.3, 1.5B Q8_0 ~18 tok/s
  assert.equal(r.entry.id, 'qwen2.5-coder-1.5b:q8_0');
  assert.equal(r.slow, false);
  assert.ok(r.tokPerS! >= USABLE_TOK_PER_S);
  assert.equal(recommend(d, 4096, CATALOG, 5).entry.id, 'qwen2.5-coder-7b-instruct:q4_k_m', 'a lower bar: the 7B Q4_K_M (its Q8_0 is under it)');
});
