// Workspace context from the command line: `pie eval repo` (quality with and without context) and `pie bench context`
// (latency of context changes, the ordering policies), as a user runs them (dist/cli.js, made by npm run build).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CHANGE_KINDS, changesFor, chunkPool, editLine, policySequence } from '../../src/cli/bench-context.js';
import { capPrefix, contextCandidates, pickCases, repoFiles, scoreLine } from '../../src/cli/eval-repo.js';
import { DEFAULT_MODEL, KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import { skipOrFail } from '../helpers/fixtures.js';

const cli = join(projectRoot(), 'dist', 'cli.js');
const bundled = join(projectRoot(), KNOWN_MODELS[DEFAULT_MODEL]!.bundled ?? '');

function pie(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Three modules that use each other's names, as a small package has them. */
const FILES: Record<string, string> = {
  'src/money.js': [
    "import { roundCents } from './round.js';",
    '',
    'export function addMoney(a, b) {',
    '  const total = roundCents(a.amount + b.amount);',
    '  return { amount: total, currency: a.currency };',
    '}',
    '',
    'export function scaleMoney(m, factor) {',
    '  return { amount: roundCents(m.amount * factor), currency: m.currency };',
    '}',
    '',
  ].join('\n'),
  'src/round.js': [
    '// rounding helpers',
    'const CENTS = 100;',
    '',
    'export function roundCents(value) {',
    '  return Math.round(value * CENTS) / CENTS;',
    '}',
    '',
    'export function formatCents(value) {',
    '  return roundCents(value).toFixed(2);',
    '}',
    '',
  ].join('\n'),
  'src/invoice.js': [
    "import { addMoney, scaleMoney } from './money.js';",
    "import { formatCents } from './round.js';",
    '',
    'export function invoiceTotal(lines) {',
    '  let total = { amount: 0, currency: lines[0].price.currency };',
    '  for (const line of lines) {',
    '    total = addMoney(total, scaleMoney(line.price, line.quantity));',
    '  }',
    '  return formatCents(total.amount) + " " + total.currency;',
    '}',
    '',
  ].join('\n'),
};

function writeRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pie-eval-repo-'));
  for (const [p, text] of Object.entries(FILES)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  // never taken: a test folder, a declaration file, node_modules
  mkdirSync(join(dir, 'test'));
  writeFileSync(join(dir, 'test', 'money.test.js'), FILES['src/money.js']!);
  writeFileSync(join(dir, 'src', 'money.d.ts'), 'export declare function addMoney(a: unknown, b: unknown): unknown;\n');
  mkdirSync(join(dir, 'node_modules', 'x'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'x', 'index.js'), FILES['src/round.js']!);
  return dir;
}

test('eval repo, the pure part: files, seeded cases, candidates never from the file itself or a copy of it, scores', () => {
  const dir = writeRepo();
  try {
    const files = repoFiles(dir);
    assert.deepEqual(
      files.map((f) => f.path),
      ['src/invoice.js', 'src/money.js', 'src/round.js'],
    );
    const cases = pickCases(files, 6, 7);
    assert.deepEqual(cases, pickCases(files, 6, 7), 'the same seed gives the same cases');
    assert.equal(new Set(cases.map((c) => `${c.path}:${c.line}`)).size, cases.length, 'no case twice');
    for (const c of cases) {
      const lines = FILES[c.path]!.split('\n');
      assert.equal(c.target, lines[c.line]);
      assert.equal(c.prefix, lines.slice(0, c.line).map((l) => `${l}\n`).join(''));
      const cands = contextCandidates(files, c, 4);
      assert.ok(cands.length > 0);
      assert.ok(cands.every((x) => x.path !== c.path), `${c.path} offered as its own context`);
    }
    // a bundle holding a copy of money.js is no context for money.js, but is for the others' parts it does not copy
    const withBundle = [...files, { path: 'dist/bundle.cjs', text: `${FILES['src/money.js']}\n// end of bundle\n` }];
    const forMoney = contextCandidates(withBundle, { path: 'src/money.js' }, 64);
    assert.ok(!forMoney.some((x) => x.path === 'dist/bundle.cjs'), 'a copy of the file is not context');
    assert.ok(contextCandidates(withBundle, { path: 'src/round.js' }, 64).some((x) => x.path === 'dist/bundle.cjs'));
    assert.deepEqual(scoreLine('  return x; ', 'return x;'), { em: 1, es: 1 });
    assert.equal(scoreLine('abcd', 'abXd').es, 0.75);
    assert.equal(capPrefix('a\nb\nc\n', 2, (s) => s.split('\n').length - 1), 'b\nc\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench context, the pure part: every change kind from one base, and the seeded policy sequence', () => {
  const text = Array.from({ length: 40 }, (_, i) => `const value${i} = compute${i}(input${i});`).join('\n');
  const pool = chunkPool([{ path: 'a.js', text }, { path: 'b.js', text: text.replace(/value/g, 'other') }], 4).map((c) => ({ ...c, tokens: 40 }));
  const { base, changes } = changesFor(pool, 200);
  assert.equal(base.length, 5);
  assert.deepEqual(Object.keys(changes).sort(), [...CHANGE_KINDS].sort());
  assert.equal(changes.added.length, base.length + 1);
  assert.deepEqual(changes.dropped, base.slice(1));
  assert.equal(changes.replaced.filter((c, i) => c.id !== base[i]!.id).length, 1);
  const edited = changes.edited.findIndex((c, i) => c.text !== base[i]!.text);
  assert.equal(changes.edited[edited]!.id, base[edited]!.id, 'an edit keeps the chunk id');
  assert.deepEqual(changes.reordered.map((c) => c.id).sort(), base.map((c) => c.id).sort());
  assert.match(editLine('x.py', 'a\nb\nc', 1), /^a\nb # edited\nc$/);
  const seq = policySequence(pool, 12, 3, 4);
  assert.deepEqual(seq, policySequence(pool, 12, 3, 4));
  assert.equal(seq.length, 12);
});

test('pie eval repo --json on three files that use each other: the summary shape, 4 cases, never the file itself as context', (t) => {
  if (!existsSync(bundled)) return skipOrFail(t, `${bundled} is absent`);
  const dir = writeRepo();
  try {
    const r = pie(['eval', 'repo', '--repo', dir, '--cases', '4', '--json', '--verbose']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary), ['cases', 'withContext', 'withoutContext', 'contextTokens']);
    assert.equal(summary.cases, 4);
    for (const k of ['withContext', 'withoutContext'] as const) {
      const s = summary[k] as { em: number; es: number };
      assert.deepEqual(Object.keys(s), ['em', 'es']);
      for (const v of [s.em, s.es]) assert.ok(typeof v === 'number' && v >= 0 && v <= 1, `${k}: ${v}`);
    }
    const ct = summary.contextTokens as { mean: number; median: number };
    assert.ok(ct.mean > 0 && ct.median > 0, 'the cases were given context');
    const perCase = lines.filter((l) => l.startsWith('{"case"')).map((l) => JSON.parse(l) as { path: string; chunkPaths: string[]; contextTokens: number });
    assert.equal(perCase.length, 4);
    for (const c of perCase) {
      assert.ok(c.chunkPaths.length > 0, `${c.path}: no context`);
      assert.ok(!c.chunkPaths.includes(c.path), `${c.path} was given its own text as context: ${c.chunkPaths.join(', ')}`);
      for (const p of c.chunkPaths) assert.ok(p in FILES, `${p} is not one of the package's source files`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pie bench context at tiny sizes: every change kind, pie encodes fewer tokens than full, both ordering policies', (t) => {
  if (!existsSync(bundled)) return skipOrFail(t, `${bundled} is absent`);
  const source = join(projectRoot(), 'node_modules', 'vscode-languageserver', 'lib', 'common');
  if (!existsSync(source)) return skipOrFail(t, `${source} is absent (npm install)`);
  const r = pie(['bench', 'context', '--context-tokens', '320', '--file-tokens', '96', '--chunk-lines', '6', '--runs', '1', '--cache-reuse', '16', '--policy-steps', '3', '--policy-context', '256', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    device: string;
    results: { contextTokens: number; change: string; method: string; medianMs: number; rowsMoved: number; tokensEncoded: number }[];
    policy: { order: string; steps: number }[];
  };
  assert.equal(typeof out.device, 'string');
  for (const kind of CHANGE_KINDS) {
    const cell = (m: string) => out.results.find((x) => x.change === kind && x.method === m);
    const p = cell('pie');
    const f = cell('full');
    const reuse = cell('reuse');
    assert.ok(p && f && reuse, `${kind}: a result for pie, reuse and full`);
    assert.ok(p.tokensEncoded < f.tokensEncoded, `${kind}: pie encoded ${p.tokensEncoded}, full ${f.tokensEncoded}`);
    assert.ok(p.medianMs > 0 && f.medianMs > 0);
  }
  // llama.cpp's reuse shifts what follows a dropped chunk (only the last token is encoded again, for its logits)
  assert.equal(out.results.find((x) => x.change === 'dropped' && x.method === 'reuse')!.tokensEncoded, 1);
  assert.deepEqual(
    out.policy.map((p) => [p.order, p.steps]),
    [
      ['stable', 3],
      ['ranked', 3],
    ],
  );
});
