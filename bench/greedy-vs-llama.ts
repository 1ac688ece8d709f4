// `pie generate` against llama.cpp's greedy decoding on one model file, with llama.cpp's top-2 margin at each step (a
// split where that margin is small is a near-tie, not an error):
//   node --import ./scripts/register.mjs bench/greedy-vs-llama.ts MODEL.gguf [PROMPT] [TOKENS]
// (npm run build first: it runs dist/cli.js). Used for docs/models.md on the Qwen2.5-Coder-0.5B-shaped files.
import { execFileSync } from 'node:child_process';
import { openLlamaCpp } from '../src/cli/llama.js';
const path = process.argv[2]!;
const promptText = process.argv[3] ?? 'def fibonacci(n):';
const n = Number(process.argv[4] ?? 24);
const out = execFileSync('node', ['dist/cli.js', 'generate', '--model', path, '--prompt', promptText, '--max-tokens', String(n), '--json'], { encoding: 'utf8' });
const ours = JSON.parse(out.trim().split('\n').at(-1)!);
console.log('pie:', JSON.stringify(ours.tokens), JSON.stringify(ours.text));
const lc = await openLlamaCpp(path, 128, 2);
const start: number[] = ours.promptTokens; // the same prompt ids (ours, BOS included where the model adds it)
console.log('llama.cpp tokenizes the prompt as', JSON.stringify([...lc.model.tokenize(promptText)]), 'ours', JSON.stringify(start));
const theirs = await lc.greedy(start, n);
console.log('llama.cpp:', JSON.stringify(theirs));
const logits = await lc.logitsAt([...start, ...theirs]);
let same = 0;
while (same < theirs.length && ours.tokens[same] === theirs[same]) same++;
const margins = logits.slice(start.length - 1).map((l) => { const s = [...l].sort((a, b) => b - a); return s[0]! - s[1]!; });
console.log(`equal for ${same} of ${theirs.length} tokens; llama.cpp top-2 margins: ${margins.map((m) => m.toFixed(2)).join(' ')}`);
await lc.dispose();
