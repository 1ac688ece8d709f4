// Fidelity of the cache-reuse methods against full recomputation on the traces in bench/traces: runs
// `pie replay --method M --compare full --json` per trace and method, then pools the steps of all traces.
// Prints a table and a JSON line. Usage: node bench/fidelity.mjs [--set story|code] [--model FILE] [--methods pie,pie:0,cfe,prefix]
// --set story (default): the story traces with stories260K.gguf from ../shared/fixtures; --set code: the `code-*` traces
// (Python and TypeScript edits) with our code model, models/pie-code-tiny.gguf. --model overrides the set's model.
// (`pie:N`: pie with a refresh window of N tokens; plain `pie` uses the session's default).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { model: { type: 'string' }, methods: { type: 'string' }, set: { type: 'string', default: 'story' } } });
if (!['story', 'code'].includes(values.set)) throw new Error(`--set ${values.set}: story or code`);
const methods = (values.methods ?? 'pie,pie:0,cfe,prefix').split(',');
const model = values.model ?? (values.set === 'code' ? join(root, 'models', 'pie-code-tiny.gguf') : join(root, '..', 'shared', 'fixtures', 'models', 'stories260K.gguf'));
const traces = readdirSync(join(root, 'bench', 'traces'))
  .filter((f) => f.endsWith('-edits.jsonl'))
  .map((f) => f.slice(0, -'-edits.jsonl'.length))
  .filter((t) => t.startsWith('code-') === (values.set === 'code'))
  .sort();

const rows = [];
let device = '';
for (const label of methods) {
  const [method, refresh] = label.split(':');
  const pooled = { steps: 0, klSum: 0, maxKL: 0, top1: 0, exact: 0 };
  for (const t of traces) {
    const args = [join(root, 'dist', 'cli.js'), 'replay', '--document', join(root, 'bench', 'traces', `${t}.txt`), '--edits', join(root, 'bench', 'traces', `${t}-edits.jsonl`), '--method', method, '--compare', 'full', '--json'];
    args.push('--model', model);
    if (refresh !== undefined) args.push('--refresh-window', refresh);
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const s = JSON.parse(out.trim().split('\n').at(-1));
    device = s.device;
    pooled.steps += s.completions;
    pooled.klSum += s.meanKL * s.completions;
    pooled.maxKL = Math.max(pooled.maxKL, s.maxKL);
    pooled.top1 += Math.round(s.top1Agreement * s.completions);
    pooled.exact += Math.round(s.completionExactMatch * s.completions);
  }
  rows.push({ method: label, traces: traces.length, steps: pooled.steps, meanKL: pooled.klSum / pooled.steps, maxKL: pooled.maxKL, top1Agreement: pooled.top1 / pooled.steps, completionExactMatch: pooled.exact / pooled.steps });
}

console.log(`device: ${device}; model ${model.split('/').at(-1)}; ${traces.length} traces (${traces.join(', ')}), each method against full recomputation`);
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const table = [['method', 'steps', 'mean KL', 'max KL', 'top-1', 'exact 16-token completion'], ...rows.map((r) => [r.method, String(r.steps), r.meanKL.toExponential(2), r.maxKL.toExponential(2), pct(r.top1Agreement), pct(r.completionExactMatch)])];
const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
for (const r of table) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
console.log(JSON.stringify({ device, model: model.split('/').at(-1), traces, results: rows }));
