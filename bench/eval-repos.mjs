// Does workspace context help? `pie eval repo` on pinned npm packages that no model here was trained on (none of them
// is in tools/train-model/results/manifest.tsv, the bundled model's training and held-out packages): each tarball is
// fetched with `npm pack NAME@VERSION` into .cache/eval-repos/, its sha512 checked against the integrity pinned below
// (the registry's `npm view NAME@VERSION dist.integrity`, read when they were chosen), and unpacked; then the eval runs
// on the package's source folder and the results are printed as a table and a JSON line, and written to
// bench/results/context-quality.txt and .json.
// Usage: node bench/eval-repos.mjs [--model FILE] [--cases N] [--seed S] [--context-tokens N]   (after npm run build)
//
// The packages: small libraries of several modules that import each other, shipped as readable source.
//   smol-toml 1.9.1 (BSD-3-Clause)             dist/*.js: the TOML parser's ES modules (parse, struct, primitive,
//                                              extract, date, error, util, stringify); dist/index.cjs, the same code
//                                              bundled into one file, is left out (a copy of every other file)
//   fast-xml-parser 5.12.1 (MIT)               src/: the XML parser, validator and the v6 parser's modules
//   postcss-value-parser 4.2.0 (MIT)           lib/: parse, stringify, unit, walk and the index that ties them
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const REPOS = [
  {
    name: 'smol-toml',
    version: '1.9.1',
    integrity: 'sha512-j7WyPdf0CJoutMzMoPLF/bVXHtKZIT9Rb4eGeEbWw8X2t5oirjPgpL+OpaENZrILYaXqYwnVH+qgUwVbl+pUJQ==',
    dir: 'package/dist',
    exclude: ['index.cjs'],
  },
  {
    name: 'fast-xml-parser',
    version: '5.12.1',
    integrity: 'sha512-wR8dO/fx+z8C5exuem1e7BKOWvjsuzvjS/tvA/Xu3Z1zQqJGcXrPzXbcAiaMgp2KjreEROcTkmnnisrcmJ2hYQ==',
    dir: 'package/src',
    exclude: [],
  },
  {
    name: 'postcss-value-parser',
    version: '4.2.0',
    integrity: 'sha512-1NNCs6uurfkVbeXG4S8JFT9t19m45ICnif8zWLd5oPSZ50QnwMfK+H3jv408d4jw/7Bttv5axS5IiHoLaVNHeQ==',
    dir: 'package/lib',
    exclude: [],
  },
];

/** Fetches (when absent), verifies and unpacks every pinned package; returns each with the folder to evaluate. */
export function fetchRepos(log = (s) => process.stderr.write(`${s}\n`)) {
  const cache = join(root, '.cache', 'eval-repos');
  mkdirSync(cache, { recursive: true });
  return REPOS.map((r) => {
    const tgz = join(cache, `${r.name}-${r.version}.tgz`);
    if (!existsSync(tgz)) {
      log(`npm pack ${r.name}@${r.version}`);
      execFileSync('npm', ['pack', `${r.name}@${r.version}`, '--pack-destination', cache, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    }
    const got = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
    if (got !== r.integrity) throw new Error(`${tgz}: sha512 ${got}, expected ${r.integrity} (delete it to fetch it again)`);
    const out = join(cache, `${r.name}-${r.version}`);
    if (!existsSync(join(out, r.dir))) {
      mkdirSync(out, { recursive: true });
      execFileSync('tar', ['xzf', tgz, '-C', out]);
    }
    return { ...r, path: join(out, r.dir) };
  });
}

function main() {
  const { values } = parseArgs({ options: { model: { type: 'string' }, cases: { type: 'string', default: '40' }, seed: { type: 'string', default: '1' }, 'context-tokens': { type: 'string' } } });
  const repos = fetchRepos();
  const rows = [];
  let about = '';
  for (const r of repos) {
    const args = [join(root, 'dist', 'cli.js'), 'eval', 'repo', '--repo', r.path, '--cases', values.cases, '--seed', values.seed, '--json'];
    if (r.exclude.length) args.push('--exclude', r.exclude.join(','));
    if (values.model) args.push('--model', values.model);
    if (values['context-tokens']) args.push('--context-tokens', values['context-tokens']);
    process.stderr.write(`${r.name}@${r.version}: pie ${args.slice(1).join(' ')}\n`);
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).trim().split('\n');
    const s = JSON.parse(out.at(-1));
    about = out.find((l) => l.startsWith('# device:')) ?? about;
    rows.push({ package: `${r.name}@${r.version}`, folder: r.dir.replace(/^package\//, ''), ...s });
  }
  const pooled = { cases: 0, w: { em: 0, es: 0 }, wo: { em: 0, es: 0 }, tokens: 0 };
  for (const r of rows) {
    pooled.cases += r.cases;
    pooled.w.em += r.withContext.em * r.cases;
    pooled.w.es += r.withContext.es * r.cases;
    pooled.wo.em += r.withoutContext.em * r.cases;
    pooled.wo.es += r.withoutContext.es * r.cases;
    pooled.tokens += r.contextTokens.mean * r.cases;
  }
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  const lines = [];
  lines.push(`${about.replace(/^# /, '').split(';')[0]}; model ${values.model ?? 'pie-code-tiny.gguf'}; seed ${values.seed}; next line, greedy, with and without context`);
  const table = [
    ['package', 'cases', 'EM without', 'EM with', 'ES without', 'ES with', 'context tokens (mean / median)'],
    ...rows.map((r) => [`${r.package} (${r.folder})`, String(r.cases), pct(r.withoutContext.em), pct(r.withContext.em), r.withoutContext.es.toFixed(3), r.withContext.es.toFixed(3), `${r.contextTokens.mean.toFixed(0)} / ${r.contextTokens.median}`]),
    ['all', String(pooled.cases), pct(pooled.wo.em / pooled.cases), pct(pooled.w.em / pooled.cases), (pooled.wo.es / pooled.cases).toFixed(3), (pooled.w.es / pooled.cases).toFixed(3), `${(pooled.tokens / pooled.cases).toFixed(0)} / -`],
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const r of table) lines.push(r.map((c, i) => c.padEnd(widths[i])).join('  '));
  const json = JSON.stringify({ device: about.replace(/^# device: /, '').split(';')[0], seed: Number(values.seed), cases: Number(values.cases), results: rows });
  console.log(lines.join('\n'));
  console.log(json);
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(join(root, 'bench', 'results', 'context-quality.txt'), `$ node bench/eval-repos.mjs ${process.argv.slice(2).join(' ')}\n${lines.join('\n')}\n`);
  writeFileSync(join(root, 'bench', 'results', 'context-quality.json'), `${json}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
