// embedding against its CPU reference (rows of the dequantized table) for every tensor format of the registry, odd row
// lengths for element formats (f16 rows with an odd length are padded to a word), repeated ids and both ends of the
// table, the table bound whole and in row ranges; outputs pre-filled with a sentinel to catch out-of-bounds writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FORMATS } from '../../src/engine/formats/index.js';
import { uploadWeight, weightRowChunks } from '../../src/engine/gpu/weight.js';
import { embedding, embeddingChunks, embeddingRef } from '../../src/engine/kernels/embedding.js';
import { makeWeights, smallCols } from '../helpers/formats.js';
import { assertClose, readChecked, rng, sentinelBuffer, testGpu } from '../helpers/gpu.js';

after(async () => (await testGpu()).destroy());

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

// Dequantization is exact in f32 for every format (the decoders and the CPU reference do the same f32 operations), so
// the GPU must match the reference exactly.
for (const format of FORMATS) {
  const shapes: [number, number][] = format.blockElems === 1 ? [[1000, 315], [2179, 64]] : [[1000, smallCols(format)], [300, 9 * format.blockElems]];
  for (const [rows, cols] of shapes) {
    for (const tokens of [1, 7, 130]) {
      test(`embedding ${format.name} tokens=${tokens} rows=${rows} cols=${cols}`, async () => {
        const ctx = await testGpu();
        const { raw, ref } = makeWeights(format, rows, cols, rows + cols, 1);
        const table = uploadWeight(ctx, format, raw, rows, cols, 'table');
        const ids = makeIds(tokens, rows, tokens);
        const out = sentinelBuffer(ctx, tokens * cols);
        const b = ctx.batch();
        embedding(b, ctx.upload(ids, 'ids'), table, out, { tokens });
        b.submit();
        assertClose(await readChecked(ctx, out, tokens * cols), embeddingRef(ids, ref, cols), 0, `embedding ${format.name}`);
        table.data.destroy();
      });
    }
  }
}

// A table larger than one storage binding is bound in aligned row ranges (forced here with a small fake limit): each
// token is written by the one dispatch whose range holds its id.
test('embedding over row chunks (every format, rows=1000, cols=67 or 2 blocks, in bindings of a fifth of the table)', async () => {
  const ctx = await testGpu();
  for (const format of FORMATS) {
    const [rows, cols] = [1000, format.blockElems === 1 ? 67 : smallCols(format)];
    const { raw, ref } = makeWeights(format, rows, cols, 5, 1);
    const table = uploadWeight(ctx, format, raw, rows, cols, 'table');
    const chunks = weightRowChunks(ctx, table, Math.ceil(table.bytes / 5));
    assert.ok(chunks.length > 2, 'expected several chunks');
    const tokens = 33;
    const ids = makeIds(tokens, rows, 9);
    const out = sentinelBuffer(ctx, tokens * cols);
    const b = ctx.batch();
    embeddingChunks(b, ctx.upload(ids, 'ids'), table, out, { tokens }, chunks);
    b.submit();
    assertClose(await readChecked(ctx, out, tokens * cols), embeddingRef(ids, ref, cols), 0, `embedding ${format.name} in ${chunks.length} chunks`);
    table.data.destroy();
  }
});
