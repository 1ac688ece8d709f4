// The built CLI (dist/cli.js, made by `npm run build`, which `npm test` runs first), as a user runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL, KNOWN_MODELS, projectRoot } from '../../src/cli/models.js';
import { fixture, fixtureModel, skipOrFail } from '../helpers/fixtures.js';

const cli = join(projectRoot(), 'dist', 'cli.js');

function pie(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

test('dist/cli.js exists (npm run build)', () => {
  assert.ok(existsSync(cli), `${cli} is missing: run npm run build`);
});

test('pie generate --json: the documented greedy story continuation, with timings and device', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const r = pie(['generate', '--model', path, '--prompt', 'Once upon a time', '--max-tokens', '24', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout);
  assert.equal((out.promptTokens as number[])[0], 1, 'BOS first, as the model metadata asks');
  assert.equal((out.tokens as number[]).length, 24);
  // The fixture README records llama.cpp's greedy output for this prompt.
  assert.ok((out.text as string).startsWith(', there was a little girl named Lily.'), String(out.text));
  assert.equal(typeof out.device, 'string');
  assert.ok((out.prefillMs as number) > 0 && (out.decodeMsPerToken as number) > 0);
});

test('without --model: the default model, our code model shipped in models/, completes code (left to right by default, --fim psm|spm as asked)', (t) => {
  const bundled = join(projectRoot(), KNOWN_MODELS[DEFAULT_MODEL]!.bundled ?? '');
  if (!existsSync(bundled)) return skipOrFail(t, `${bundled} is absent (train and export it with tools/train-model)`);
  assert.equal(DEFAULT_MODEL, 'pie-code-tiny.gguf');
  const dir = mkdtempSync(join(tmpdir(), 'pie-cli-default-'));
  const file = join(dir, 'area.py');
  const before = 'def area(width, height):\n    return ';
  writeFileSync(file, `${before}\n\n\nprint(area(3, 4))\n`);
  const complete = (...extra: string[]) => lastJson(pie(['complete', ...extra, '--file', file, '--offset', String(before.length), '--max-tokens', '12', '--json']).stdout);
  const out = complete();
  assert.equal(out.model, 'pie-code-tiny.gguf');
  assert.deepEqual(out.tokens, complete('--model', bundled).tokens);
  // auto: this model's known entry says left to right: greedy generation from the prefix (up to complete's stops)
  assert.equal(KNOWN_MODELS[DEFAULT_MODEL]!.fim, 'off');
  assert.ok((out.tokens as number[]).length > 0);
  const l2r = complete('--fim', 'off');
  assert.deepEqual(out.tokens, l2r.tokens);
  const plain = lastJson(pie(['generate', '--prompt', before, '--max-tokens', '12', '--json']).stdout);
  assert.equal(plain.model, 'pie-code-tiny.gguf');
  assert.ok((l2r.tokens as number[]).length > 0);
  assert.deepEqual((plain.tokens as number[]).slice(0, (l2r.tokens as number[]).length), l2r.tokens);
  // on: FIM in the default order (psm) for a model that auto keeps left to right
  const psm = complete('--fim', 'psm');
  assert.deepEqual(complete('--fim', 'on').tokens, psm.tokens);
  const spm = complete('--fim', 'spm');
  assert.ok((psm.tokens as number[]).length > 0 && (spm.tokens as number[]).length > 0);
  assert.notDeepEqual(psm.tokens, spm.tokens, 'the two FIM orders give this prompt different completions');
  t.diagnostic(`left to right: ${JSON.stringify(l2r.text)}; psm: ${JSON.stringify(psm.text)}; spm: ${JSON.stringify(spm.text)}`);
  const bad = pie(['complete', '--file', file, '--fim', 'maybe']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--fim must be one of auto, on, off, psm, spm/);
});

test('pie generate with a seed is reproducible and differs from another seed', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const run = (seed: string) => lastJson(pie(['generate', '--model', path, '--prompt', 'The cat', '--max-tokens', '30', '--temperature', '1', '--seed', seed, '--json']).stdout).tokens;
  assert.deepEqual(run('1'), run('1'));
  assert.notDeepEqual(run('1'), run('2'));
});

test('pie tokenize --batch reproduces llama.cpp test vectors (deepseek-coder vocabulary)', (t) => {
  const vocab = fixture('vocab/ggml-vocab-deepseek-coder.gguf');
  if (!vocab) return skipOrFail(t, 'missing ../shared/fixtures/vocab/ggml-vocab-deepseek-coder.gguf');
  const texts = ['Hello world', ' Hello World!', 'int main() {\n    return 0;\n}', '3333333'];
  const r = pie(['tokenize', '--model', vocab, '--batch'], JSON.stringify(texts));
  assert.equal(r.code, 0, r.stderr);
  const ids = lastJson(r.stdout).ids as number[][];
  assert.equal(ids.length, texts.length);
  // from ggml-vocab-deepseek-coder.gguf.out ("Hello world" and " Hello World!" lines)
  const inp = readFileSync(`${vocab}.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
  const out = readFileSync(`${vocab}.out`, 'utf8').split('\n');
  for (const [i, text] of texts.entries()) {
    const k = inp.indexOf(text);
    if (k >= 0) assert.deepEqual(ids[i], out[k]!.trim().split(/\s+/).map(Number), `"${text}"`);
  }
  const single = pie(['tokenize', '--model', vocab, '--json'], 'Hello world');
  assert.deepEqual(lastJson(single.stdout).ids, ids[0]);
});

test('a truncated model file gives a clear error naming the problem, exit code 1, no stack trace', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const dir = mkdtempSync(join(tmpdir(), 'pie-cli-'));
  const bad = join(dir, 'truncated.gguf');
  const bytes = readFileSync(path);
  writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const r = pie(['generate', '--model', bad, '--prompt', 'x', '--max-tokens', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^pie: .*truncated/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const missing = pie(['generate', '--model', join(dir, 'nope.gguf'), '--prompt', 'x']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.gguf/);
});

test('usage errors exit 2 with the usage text', () => {
  const r = pie(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  assert.match(r.stderr, /pie generate --model FILE/);
  const g = pie(['generate']);
  assert.equal(g.code, 2);
  assert.match(g.stderr, /--prompt/);
});

test('pie replay --compare: per-step lines and a summary; the final text is the document with every edit applied', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const doc = join(projectRoot(), 'bench', 'traces', 'story.txt');
  const edits = join(projectRoot(), 'bench', 'traces', 'story-edits.jsonl');
  let expected = readFileSync(doc, 'utf8');
  const steps = readFileSync(edits, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { changes: { rangeOffset: number; rangeLength: number; text: string }[] });
  for (const s of steps) for (const c of s.changes) expected = expected.slice(0, c.rangeOffset) + c.text + expected.slice(c.rangeOffset + c.rangeLength);

  const pieRun = pie(['replay', '--model', path, '--document', doc, '--edits', edits, '--method', 'pie', '--compare', 'cfe', '--json']);
  assert.equal(pieRun.code, 0, pieRun.stderr);
  const lines = pieRun.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const summary = lines[lines.length - 1]!;
  assert.equal(summary.method, 'pie');
  assert.equal(summary.compare, 'cfe');
  assert.equal(summary.steps, steps.length);
  assert.equal(summary.finalText, expected);
  assert.equal(lines.length - 1, steps.length, 'one line per completion step');
  for (const l of lines.slice(0, -1)) assert.equal((l.top5 as unknown[]).length, 5);
  assert.ok((summary.meanKL as number) > 0, 'cfe (no re-rotation) must differ from pie');

  // prefix reuse is exact: it must agree with full recomputation everywhere
  const prefixRun = pie(['replay', '--model', path, '--document', doc, '--edits', edits, '--method', 'prefix', '--compare', 'full', '--json']);
  assert.equal(prefixRun.code, 0, prefixRun.stderr);
  const p = lastJson(prefixRun.stdout);
  assert.ok((p.maxKL as number) < 1e-5, `prefix vs full max KL ${p.maxKL}`);
  assert.equal(p.top1Agreement, 1);
  assert.equal(p.completionExactMatch, 1);
});

test('pie replay: a malformed edits file names the line, exit code 1', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const dir = mkdtempSync(join(tmpdir(), 'pie-replay-'));
  writeFileSync(join(dir, 'doc.txt'), 'Once upon a time');
  writeFileSync(join(dir, 'edits.jsonl'), '{"changes": []}\n{"changes": [{"rangeOffset": "x"}]}\n');
  const r = pie(['replay', '--model', path, '--document', join(dir, 'doc.txt'), '--edits', join(dir, 'edits.jsonl'), '--method', 'pie']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^pie: edits line 2/m);
});

test('pie bench edit --json: every method and edit measured; pie encodes the new tokens only, full everything', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const r = pie(['bench', 'edit', '--model', path, '--context', '96', '--runs', '1', '--methods', 'pie,pie:0,full', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout) as { device: string; results: { context: number; edit: string; method: string; medianMs: number; tokensEncoded: number; rowsMoved: number }[]; rekey: { rowsMoved: number; gbPerS: number }[] };
  assert.equal(typeof out.device, 'string');
  assert.equal(out.results.length, 3 * 4);
  const cell = (method: string, edit: string) => out.results.find((x) => x.method === method && x.edit === edit)!;
  // inserting one token in the middle, cursor at the end: the inserted token and the cursor's token; pie:16 also the
  // stale rows before the cursor; full all 97 (BOS + 96)
  assert.equal(cell('pie:0', 'insert 1 token').tokensEncoded, 2);
  assert.ok(cell('pie', 'insert 1 token').tokensEncoded <= 2 + 16);
  assert.ok(cell('full', 'insert 1 token').tokensEncoded >= 96);
  assert.ok(cell('pie:0', 'insert 1 token').rowsMoved > 20, 'the rows after the edit move');
  assert.equal(cell('full', 'insert 1 token').rowsMoved, 0);
  for (const x of out.results) assert.ok(x.medianMs > 0);
  assert.deepEqual(out.rekey.map((x) => x.rowsMoved), [1, 16, 48, 96]);
});

test('pie complete: at the end of a story it continues as generate does; in the middle it completes at the offset', async (t) => {
  const { path, why } = await fixtureModel('stories260K.gguf');
  if (!path) return skipOrFail(t, why);
  const dir = mkdtempSync(join(tmpdir(), 'pie-complete-'));
  const file = join(dir, 'story.txt');
  writeFileSync(file, 'Once upon a time');
  const c = pie(['complete', '--model', path, '--file', file, '--max-tokens', '24', '--max-lines', '3', '--json']);
  assert.equal(c.code, 0, c.stderr);
  const out = lastJson(c.stdout);
  assert.equal(out.offset, 'Once upon a time'.length);
  assert.ok((out.text as string).startsWith(', there was a little girl named Lily.'), String(out.text));
  const mid = pie(['complete', '--model', path, '--file', file, '--offset', '4', '--max-tokens', '5', '--json']);
  assert.equal(mid.code, 0, mid.stderr);
  assert.equal((lastJson(mid.stdout).tokens as number[]).length <= 5, true);
  const bad = pie(['complete', '--model', path, '--file', file, '--offset', '99']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--offset/);
});
