// embedding against its CPU reference (rows of the dequantized table) for each weight type, odd row lengths for f32 and
// f16 (f16 rows then start in the middle of a u32), repeated ids and both ends of the table, the table bound whole and
// in row ranges; outputs pre-filled with a sentinel to catch out-of-bounds writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { embedding, embeddingChunks, embeddingRef } from '../../src/engine/kernels/embedding.js';
import { dequantize, uploadWeight, type WeightType, weightRowChunks } from '../../src/engine/model/weights.js';
import { f32ToF16Bits, quantizeQ8_0Bytes } from '../helpers/gguf-rewrite.js';
import { assertClose, randn, readChecked, rng, sentinelBuffer, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

/** Random (rows, cols) table of `type` as raw GGUF bytes. */
function makeTable(type: WeightType, rows: number, cols: number, seed: number): Uint8Array {
  const f = randn(rows * cols, seed);
  if (type === 'f32') return new Uint8Array(f.buffer);
  if (type === 'f16') return new Uint8Array(Uint16Array.from(f, f32ToF16Bits).buffer);
  return quantizeQ8_0Bytes(f);
}

/** `tokens` ids below `rows`: random, with the first and last rows and a repeat. */
function makeIds(tokens: number, rows: number, seed: number): Uint32Array {
  const r = rng(seed);
  const ids = Uint32Array.from({ length: tokens }, () => Math.floor(r() * rows));
  ids[0] = rows - 1;
  if (tokens > 2) {
    ids[1] = 0;
    ids[tokens - 1] = ids[2]!;
  }
  return ids;
}

// [rows, cols]; q8_0 rows are whole blocks of 32.
const shapes: Record<WeightType, [number, number][]> = {
  f32: [
    [1000, 315],
    [2179, 64],
  ],
  f16: [
    [1000, 315],
    [2179, 64],
  ],
  q8_0: [
    [1000, 96],
    [300, 2176],
  ],
};

// Dequantization is exact in f32 (an f16, or an f16 scale times an int8), so the GPU must match the reference exactly.
for (const type of ['f32', 'f16', 'q8_0'] as const) {
  for (const [rows, cols] of shapes[type]) {
    for (const tokens of [1, 7, 130]) {
      test(`embedding ${type} tokens=${tokens} rows=${rows} cols=${cols}`, async () => {
        const ctx = await testGpu();
        const raw = makeTable(type, rows, cols, rows + cols);
        const table = uploadWeight(ctx, type, raw, rows, cols, 'table');
        const ids = makeIds(tokens, rows, tokens);
        const out = sentinelBuffer(ctx, tokens * cols);
        const b = ctx.batch();
        embedding(b, ctx.upload(ids, 'ids'), table, out, { tokens });
        b.submit();
        const expected = embeddingRef(ids, dequantize(type, raw, rows * cols), cols);
        assertClose(await readChecked(ctx, out, tokens * cols), expected, 0, `embedding ${type}`);
      });
    }
  }
}

// A table larger than one storage binding is bound in aligned row ranges (forced here with a small fake limit): each
// token is written by the one dispatch whose range holds its id.
test('embedding over row chunks (f16 rows=1000 cols=67 in 20000-byte bindings, q8_0 rows=1000 cols=96 in 8 KiB bindings)', async () => {
  const ctx = await testGpu();
  for (const [type, rows, cols, limit] of [
    ['f16', 1000, 67, 20000],
    ['q8_0', 1000, 96, 8192],
  ] as const) {
    const raw = makeTable(type, rows, cols, 5);
    const table = uploadWeight(ctx, type, raw, rows, cols, 'table');
    const chunks = weightRowChunks(ctx, table, limit);
    assert.ok(chunks.length > 2, 'expected several chunks');
    const tokens = 33;
    const ids = makeIds(tokens, rows, 9);
    const out = sentinelBuffer(ctx, tokens * cols);
    const b = ctx.batch();
    embeddingChunks(b, ctx.upload(ids, 'ids'), table, out, { tokens }, chunks);
    b.submit();
    const expected = embeddingRef(ids, dequantize(type, raw, rows * cols), cols);
    assertClose(await readChecked(ctx, out, tokens * cols), expected, 0, `embedding ${type} in ${chunks.length} chunks`);
  }
});
