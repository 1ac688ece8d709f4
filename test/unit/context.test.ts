import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Candidate,
  chunkAround,
  chunkRange,
  estimateTokens,
  identifiers,
  jaccard,
  rank,
  select,
} from '../../src/context/chunks.js';
import { globToRegExp, makeExcluder } from '../../src/context/exclude.js';
import { ContextTracker } from '../../src/context/tracker.js';

/** A file of `n` lines, line i being `f(i)`. */
function file(n: number, f: (i: number) => string = (i) => `line_${i}`): string {
  return Array.from({ length: n }, (_, i) => f(i)).join('\n');
}

function candidate(id: string, text: string, seq = 0): Candidate {
  return { id, path: id, startLine: 0, endLine: text.split('\n').length, text, source: 'visit', seq };
}

/** Identifier lists as text, one name a line. */
const names = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

test('chunkAround: on the grid, at most 64 lines, holding the line, the same chunk for small cursor moves', () => {
  const text = file(1000);
  for (let line = 0; line < 1000; line++) {
    const c = chunkAround('a.ts', text, line);
    assert.ok(c.startLine <= line && line < c.endLine, `line ${line} outside [${c.startLine}, ${c.endLine})`);
    assert.ok(c.endLine - c.startLine <= 64);
    assert.equal(c.startLine % 32, 0);
    assert.equal(c.id, `a.ts:${c.startLine}`);
    assert.equal(c.text, text.split('\n').slice(c.startLine, c.endLine).join('\n'));
    if (c.startLine > 0 && c.endLine < 1000) assert.ok(line - c.startLine >= 16 && c.endLine - line > 16, `line ${line} not centred`);
  }
  for (let line = 48; line < 80; line++) assert.equal(chunkAround('a.ts', text, line).startLine, 32);
  assert.equal(chunkAround('a.ts', text, 47).startLine, 0);
  assert.equal(chunkAround('a.ts', text, 80).startLine, 64);
  // the end of a file, a line past it, and a short chunk size
  assert.deepEqual([chunkAround('a.ts', file(70), 69).startLine, chunkAround('a.ts', file(70), 69).endLine], [32, 70]);
  assert.equal(chunkAround('a.ts', file(10), 500).endLine, 10);
  const small = chunkAround('a.ts', text, 500, 8);
  assert.ok(small.startLine <= 500 && 500 < small.endLine && small.endLine - small.startLine === 8);
});

test('chunkRange: one grid chunk when it holds the range, else grid pieces of at most 64 lines covering it', () => {
  const text = file(1000);
  const one = chunkRange('b.ts', text, 40, 50);
  assert.equal(one.length, 1);
  assert.deepEqual(one[0], chunkAround('b.ts', text, 45));
  const many = chunkRange('b.ts', text, 10, 200);
  const covered = new Set<number>();
  for (const p of many) {
    assert.ok(p.endLine - p.startLine <= 64 && p.startLine % 32 === 0);
    for (let l = p.startLine; l < p.endLine; l++) covered.add(l);
  }
  for (let l = 10; l < 200; l++) assert.ok(covered.has(l), `line ${l} not covered`);
});

test('identifiers and jaccard', () => {
  assert.deepEqual(identifiers('const $el = get_user(x1) + 2 * fooBar;'), ['const', '$el', 'get_user', 'x1', 'fooBar']);
  assert.equal(jaccard(new Set(['a', 'b', 'c']), new Set(['b', 'c', 'd'])), 0.5);
  assert.equal(jaccard(new Set(), new Set()), 0);
});

test('rank: the chunk sharing identifiers with the cursor lines beats an unrelated one', () => {
  const related = candidate('invoice.ts', 'export function computeInvoiceTotal(lineItems: LineItem[]) {\n  return lineItems.reduce((s, i) => s + i.price, 0);\n}', 0);
  const unrelated = candidate('sidebar.ts', 'export function renderSidebar(panel: Panel) {\n  return panel.children.map((c) => c.el);\n}', 9);
  const query = 'const items: LineItem[] = order.lineItems;\nconst total = computeInvoiceTotal(';
  const ranked = rank([unrelated, related], query);
  assert.deepEqual(ranked.map((c) => c.id), ['invoice.ts', 'sidebar.ts']);
  assert.ok(ranked[0]!.score > ranked[1]!.score);
  assert.equal(ranked[1]!.score, 0);
  // a tie (no shared identifier) goes to the more recent, then the smaller id
  assert.deepEqual(rank([candidate('b', 'x'), candidate('a', 'y'), candidate('c', 'z', 1)], 'q').map((c) => c.id), ['c', 'a', 'b']);
});

test('select: a near-duplicate (> 0.9) of a better chunk is dropped, a 0.8-similar one kept', () => {
  const base = candidate('base', names('a', 1, 20).join('\n'));
  const dup = candidate('dup', [...names('a', 1, 19), 'b1'].join('\n')); // 19/21 = 0.905 of base
  const similar = candidate('similar', names('a', 1, 16).join('\n')); // 16/20 = 0.8 of base and of dup
  assert.ok(jaccard(new Set(identifiers(dup.text)), new Set(identifiers(base.text))) > 0.9);
  const out = select([dup, similar, base], names('a', 1, 20).join(' '), 10_000);
  assert.deepEqual(out.map((c) => c.id).sort(), ['base', 'similar']);
  assert.equal(out[0]!.id, 'base');
});

test('select: within the token budget, best first; budget 0 gives nothing', () => {
  const cands = ['alpha', 'beta', 'gamma'].map((w, i) => candidate(w, `${w} `.repeat(100) + ` shared${i}`));
  const cost = (c: Candidate): number => estimateTokens(`${c.path}\n${c.text}`);
  const budget = cost(cands[0]!) + cost(cands[1]!) + 1;
  const out = select(cands, 'alpha beta gamma', budget);
  assert.equal(out.length, 2);
  assert.ok(out.reduce((s, c) => s + estimateTokens(`${c.path}\n${c.text}`), 0) <= budget);
  assert.deepEqual(select(cands, 'alpha', 0), []);
  assert.deepEqual(select(cands, 'alpha', 1), []);
  // an exact counter may be passed; a chunk that does not fit is skipped, a smaller one after it still taken
  const sized = [candidate('big', 'shared ' + 'x'.repeat(90)), candidate('small', 'y')];
  assert.deepEqual(select(sized, 'shared', 10, (t) => t.length).map((c) => c.id), ['small']);
  assert.equal(estimateTokens('€€€'), 3); // 9 UTF-8 bytes
});

test('gather never returns the current file, in any source, nor a clipboard copied from it', () => {
  const t = new ContextTracker();
  const current = file(300, (i) => `const value${i} = compute(value${i - 1});`);
  const other = file(100, (i) => `export const value${i} = ${i};`);
  t.noteEdit('cur.ts', current, 150);
  t.noteVisit('cur.ts', current, 10);
  t.noteSave('cur.ts', current);
  t.setVisible('cur.ts', current, [{ startLine: 100, endLine: 160 }]);
  t.setDefinitions([{ path: 'cur.ts', text: current, startLine: 200, endLine: 210 }, { path: 'other.ts', text: other, startLine: 40, endLine: 45 }]);
  t.noteClipboard(current.split('\n').slice(20, 25).join('\n'));
  const out = t.gather({ path: 'cur.ts', text: current, line: 150 }, 100_000);
  assert.deepEqual(out.map((c) => [c.id, c.source]), [['other.ts:0', 'definition']]);
  t.noteClipboard('copied elsewhere');
  assert.deepEqual(t.gather({ path: 'cur.ts', text: current, line: 150 }, 100_000).map((c) => c.source).sort(), ['clipboard', 'definition']);
});

test('the ring keeps the most recent chunks, evicts the least recent first, and a re-noted chunk is refreshed', () => {
  const t = new ContextTracker({ ringSize: 3 });
  const text = (name: string): string => file(20, (i) => `${name}_${i}`);
  const order = (): string[] => t.gather({ path: 'cur.ts', text: 'unrelated', line: 0 }, 100_000).map((c) => c.path);
  for (const f of ['f1', 'f2', 'f3', 'f4']) t.noteVisit(f, text(f), 0);
  assert.deepEqual(order(), ['f4', 'f3', 'f2']);
  t.noteEdit('f2', text('f2'), 5);
  assert.deepEqual(order(), ['f2', 'f4', 'f3']);
  t.noteVisit('f5', text('f5'), 0);
  assert.deepEqual(order(), ['f5', 'f2', 'f4']);
  assert.equal(t.gather({ path: 'cur.ts', text: 'unrelated', line: 0 }, 100_000)[0]!.source, 'visit');
  t.forget('f2');
  assert.deepEqual(order(), ['f5', 'f4']);
});

test('one file holds at most maxChunksPerFile ring places', () => {
  const t = new ContextTracker({ maxChunksPerFile: 2 });
  const big = file(400);
  for (const line of [10, 100, 200]) t.noteVisit('big.ts', big, line);
  t.noteVisit('small.ts', 'small_thing', 0);
  const ids = t.gather({ path: 'cur.ts', text: '', line: 0 }, 100_000).map((c) => c.id);
  assert.deepEqual(ids, ['small.ts:0', 'big.ts:160', 'big.ts:64']);
});

test('an edit inside a chunk\'s source updates its text under the same id; a chunk past the new end goes', () => {
  const t = new ContextTracker();
  const lines = file(200).split('\n');
  t.noteVisit('a.ts', lines.join('\n'), 40);
  t.noteVisit('a.ts', lines.join('\n'), 150);
  const before = t.gather({ path: 'cur.ts', text: '', line: 0 }, 100_000);
  assert.deepEqual(before.map((c) => c.id).sort(), ['a.ts:0', 'a.ts:128']);
  lines[10] = 'renamedIdentifier';
  t.updateText('a.ts', lines.join('\n'));
  const after = t.gather({ path: 'cur.ts', text: '', line: 0 }, 100_000).find((c) => c.id === 'a.ts:0')!;
  assert.equal(after.text, lines.slice(0, 64).join('\n'));
  assert.ok(after.text.includes('renamedIdentifier'));
  t.updateText('a.ts', lines.slice(0, 100).join('\n'));
  assert.deepEqual(t.gather({ path: 'cur.ts', text: '', line: 0 }, 100_000).map((c) => c.id), ['a.ts:0']);
});

test('gather ranks by the cursor lines and is deterministic', () => {
  const t = new ContextTracker();
  t.noteVisit('invoice.ts', 'export function computeInvoiceTotal(lineItems) {\n  return sum(lineItems);\n}', 1);
  t.noteVisit('sidebar.ts', 'export function renderSidebar(panel) {\n  return panel;\n}', 1);
  const current = { path: 'cur.ts', text: 'const a = 1;\nconst total = computeInvoiceTotal(order.lineItems);\nlog(total);', line: 1 };
  const out = t.gather(current, 100_000);
  assert.deepEqual(out.map((c) => c.path), ['invoice.ts', 'sidebar.ts']);
  assert.deepEqual(t.gather(current, 100_000), out);
  assert.deepEqual(t.gather(current, 0), []);
});

test('the clipboard is capped at 64 lines and 4 KB, never inside a character', () => {
  const t = new ContextTracker();
  const clip = (): string => t.gather({ path: 'cur.ts', text: '', line: 0 }, 100_000)[0]!.text;
  t.noteClipboard(file(100));
  assert.equal(clip(), file(64));
  t.noteClipboard('€'.repeat(5000));
  assert.equal(clip(), '€'.repeat(1365)); // 4,095 bytes: a 1,366th would pass 4,096
  t.noteClipboard('x'.repeat(10_000));
  assert.equal(clip().length, 4096);
  t.noteClipboard('  \n ');
  assert.deepEqual(t.gather({ path: 'cur.ts', text: '', line: 0 }, 100_000), []);
});

test('excluder: VS Code files.exclude globs', () => {
  const ex = makeExcluder(['**/node_modules', '*.min.js', 'src/{gen,out}/**', 'data/file[0-9].?sv', '**/.{git,svn}']);
  assert.ok(ex('node_modules/x/y.ts'));
  assert.ok(ex('packages/a/node_modules/lib/index.js'));
  assert.ok(!ex('src/node_modules_helper.ts') && !ex('my_node_modules/a.ts'));
  assert.ok(ex('app.min.js'));
  assert.ok(!ex('lib/app.min.js')); // `*` stays in the root's segment
  assert.ok(makeExcluder(['**/*.min.js'])('lib/app.min.js'));
  assert.ok(ex('src/gen/a.ts') && ex('src/out/deep/b.ts'));
  assert.ok(!ex('src/main.ts'));
  assert.ok(ex('data/file3.csv') && ex('data/file7.tsv'));
  assert.ok(!ex('data/fileX.csv') && !ex('data/file3.json'));
  assert.ok(ex('.git/config') && ex('sub/.svn/entries'));
  assert.ok(ex('node_modules\\x\\y.ts')); // Windows separators
  // a files.exclude record: only `true` entries count
  const rec = makeExcluder({ '**/.git': true, '**/dist': false, '**/*.js': { when: '$(basename).ts' }, 'build/': true });
  assert.ok(rec('.git/HEAD') && rec('build/x.o'));
  assert.ok(!rec('dist/app.js') && !rec('src/a.js'));
  // malformed globs are skipped, never thrown
  for (const bad of ['src/{a,b', 'x[abc', '[z-a]']) assert.equal(globToRegExp(bad), undefined, bad);
  const mixed = makeExcluder(['src/{a,b', '[z-a]', '**/*.log']);
  assert.ok(mixed('logs/x.log') && !mixed('src/a'));
  assert.ok(makeExcluder(['a?c', '[!x]y'])('abc') && makeExcluder(['[!x]y'])('zy') && !makeExcluder(['[!x]y'])('xy'));
});
