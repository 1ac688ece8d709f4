// Fidelity of PIE after workspace-context changes, against a full recomputation: `pie bench context --fidelity` on
// traces built from real multi-file packages: the three pinned npm packages of bench/eval-repos.mjs (fetched and
// sha512-checked there) and vscode-languageserver 11.0.0's lib/common from node_modules (pinned by package-lock.json).
// Writes bench/results/context-fidelity.txt (the table) and .json (the JSON line), and prints both.
// Usage: node bench/context-fidelity.mjs [--model FILE] [--methods pie,pie:0,cfe] [--traces N] [--rounds N] [--seed S]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fetchRepos } from './eval-repos.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    methods: { type: 'string', default: 'pie,pie:0,cfe' },
    traces: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
  },
});
const repos = fetchRepos();
const sources = [...repos.map((r) => r.path), join(root, 'node_modules', 'vscode-languageserver', 'lib', 'common')];
const exclude = [...new Set(repos.flatMap((r) => r.exclude))];
const args = [join(root, 'dist', 'cli.js'), 'bench', 'context', '--fidelity', '--source', sources.join(','), '--methods', values.methods, '--traces', values.traces, '--rounds', values.rounds, '--seed', values.seed, '--json'];
if (exclude.length) args.push('--exclude', exclude.join(','));
if (values.model) args.push('--model', values.model);
process.stderr.write(`pie ${args.slice(1).join(' ')}\n`);
const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 }).trim().split('\n');
const json = out.at(-1);
const table = out.slice(0, -1).join('\n');
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(join(root, 'bench', 'results', 'context-fidelity.txt'), `$ node bench/context-fidelity.mjs ${process.argv.slice(2).join(' ')}\n${table}\n`);
writeFileSync(join(root, 'bench', 'results', 'context-fidelity.json'), `${json}\n`);
console.log(table);
console.log(json);
