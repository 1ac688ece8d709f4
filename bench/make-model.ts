// Writes a random-weight model of a named shape to a GGUF file, streamed a tensor (and a chunk of rows) at a time, for
// benchmarks at real sizes. The vocabulary is the qwen2 vocab fixture's (151936 tokens, as Qwen2.5-Coder's embedding).
// Usage: node --import ./scripts/register.mjs bench/make-model.ts --shape qwen2.5-coder-0.5b|qwen2.5-coder-1.5b|tiny
//          --format f16|q8_0|q4_k_m --out FILE [--seed N] [--vocab VOCAB.gguf]
import { parseArgs } from 'node:util';
import { fixture } from '../test/helpers/fixtures.js';
import { F16, Q4_K_M_STYLE, Q8_0, randomModelWriter, type Formats, type RandomModelSpec } from '../test/helpers/random-model.js';

type Shape = Omit<RandomModelSpec, 'vocab' | 'formats' | 'seed'>;

const SHAPES: Record<string, Shape> = {
  // Qwen2.5-Coder-0.5B: 24 layers, dim 896, 14 query heads of 64, 2 KV heads, FFN 4864, tied output.
  'qwen2.5-coder-0.5b': { arch: 'qwen2', nLayers: 24, dim: 896, nHeads: 14, nKvHeads: 2, headDim: 64, ffnDim: 4864, contextLength: 32768, ropeBase: 1e6, tied: true },
  // Qwen2.5-Coder-1.5B: 28 layers, dim 1536, 12 query heads of 128, 2 KV heads, FFN 8960, tied output.
  'qwen2.5-coder-1.5b': { arch: 'qwen2', nLayers: 28, dim: 1536, nHeads: 12, nKvHeads: 2, headDim: 128, ffnDim: 8960, contextLength: 32768, ropeBase: 1e6, tied: true },
  // The shape of test/gpu/random-models.test.ts.
  tiny: { arch: 'qwen2', nLayers: 2, dim: 256, nHeads: 4, nKvHeads: 2, ffnDim: 640, contextLength: 4096, ropeBase: 1e6, tied: true },
};

const FORMATS: Record<string, Formats> = { f16: F16, q8_0: Q8_0, q4_k_m: Q4_K_M_STYLE };

const { values } = parseArgs({
  options: {
    shape: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    vocab: { type: 'string' },
  },
});
const shape = SHAPES[values.shape ?? ''];
const formats = FORMATS[values.format ?? ''];
if (!shape || !formats || !values.out) {
  console.error(`usage: bench/make-model.ts --shape ${Object.keys(SHAPES).join('|')} --format ${Object.keys(FORMATS).join('|')} --out FILE [--seed N] [--vocab VOCAB.gguf]`);
  process.exit(2);
}
const vocab = values.vocab ?? fixture('vocab/ggml-vocab-qwen2.gguf');
if (!vocab) {
  console.error('missing fixture ../shared/fixtures/vocab/ggml-vocab-qwen2.gguf (or pass --vocab)');
  process.exit(1);
}
const seed = Number(values.seed);
if (!Number.isInteger(seed)) {
  console.error(`--seed ${values.seed}: an integer`);
  process.exit(2);
}

const t0 = performance.now();
const size = await randomModelWriter({ ...shape, vocab, formats, seed }).writeFile(values.out);
const s = (performance.now() - t0) / 1000;
console.log(`${values.out}: ${values.shape} ${values.format}, ${size} bytes (${(size / 2 ** 20).toFixed(1)} MiB) in ${s.toFixed(1)} s`);
