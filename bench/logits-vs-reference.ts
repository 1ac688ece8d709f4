// Our logits against the f64 reference model (test/helpers/reference-model.ts) and llama.cpp's, at every position of a
// short token sequence, on one model file (a large one too: the reference holds every weight in f32, 2 GB at 0.5B):
//   node --max-old-space-size=16000 --import ./scripts/register.mjs bench/logits-vs-reference.ts MODEL.gguf [ID,ID,...]
// Used for docs/models.md on the Qwen2.5-Coder-0.5B-shaped files.
import { readFileSync } from 'node:fs';
import { openLlamaCpp } from '../src/cli/llama.js';
import { acquireNodeGpu } from '../src/engine/gpu/node.js';
import { TransformerModel } from '../src/engine/model/model.js';
import { fileSource } from '../src/engine/model/node-source.js';
import { compareLogits, rowsOf } from '../test/helpers/logits.js';
import { referenceModel } from '../test/helpers/reference-model.js';
const am = (r: ArrayLike<number>) => { let b = 0; for (let i = 1; i < r.length; i++) if (r[i]! > r[b]!) b = i; return b; };
const path = process.argv[2]!;
const seq = (process.argv[3] ?? '750,75698,1445,1648').split(',').map(Number); // 'def fibonacci(n):' in the qwen2 vocabulary
const ctx = await acquireNodeGpu();
const src = await fileSource(path);
const model = await TransformerModel.load(ctx, src);
const cache = model.createCache(16);
const idx = seq.map((_, i) => i);
const ours = (await model.forward(cache, seq, idx, idx, 'all')).logits!;
const V = model.config.vocabSize;
console.log('ours argmax per position', rowsOf(ours, V).map(am));
const lc = await openLlamaCpp(path, 32, 2);
const theirs = await lc.logitsAt(seq);
console.log('llama.cpp argmax', theirs.map(am));
const t0 = performance.now();
const ref = await referenceModel(new Uint8Array(readFileSync(path)));
const rl = ref.logits(seq);
console.log(`reference in ${((performance.now() - t0) / 1000).toFixed(0)} s; argmax`, rowsOf(rl, V).map(am));
console.log('ours vs ref', compareLogits(ours, rowsOf(rl, V), V));
console.log('ours vs llama.cpp', compareLogits(ours, theirs, V));
console.log('llama.cpp vs ref', compareLogits(new Float32Array(theirs.flatMap((r) => [...r])), rowsOf(rl, V), V));
await lc.dispose();
process.exit(0);
