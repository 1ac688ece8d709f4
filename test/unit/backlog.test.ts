// The backlog that holds the editor's messages while the engine boots (src/engine/backlog.ts): bounded by the number of
// documents, not of keystrokes, and equal in effect to the messages it replaced.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChanges, Backlog, MAX_CHANGES } from '../../src/engine/backlog.js';
import type { HostMessage } from '../../src/protocol/messages.js';

const typing = (uri: string, from: number, n: number, at: (v: number) => number): HostMessage[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'change', uri, version: from + i + 1, prevVersion: from + i, changes: [{ rangeOffset: at(from + i), rangeLength: 0, text: 'x' }] }));

test('10,000 keystrokes after an open stay one message: the open, with the text, version and cursor they made', () => {
  const b = new Backlog();
  b.push({ type: 'open', uri: 'a', version: 1, text: 'ab', cursor: 1 });
  for (const m of typing('a', 1, 10_000, (v) => v)) b.push(m);
  b.push({ type: 'cursor', uri: 'a', version: 10_001, offset: 3 });
  assert.equal(b.size, 1);
  const [open] = b.take();
  assert.deepEqual(open, { type: 'open', uri: 'a', version: 10_001, text: `a${'x'.repeat(10_000)}b`, cursor: 3 });
  assert.equal(b.size, 0);
});

test('changes to a document opened before the boot: kept up to MAX_CHANGES, then dropped for the server to ask for the text', () => {
  const b = new Backlog();
  for (const m of typing('a', 1, MAX_CHANGES, () => 0)) b.push(m);
  assert.equal(b.size, MAX_CHANGES);
  for (const m of typing('a', 1 + MAX_CHANGES, 5000, () => 0)) b.push(m);
  assert.ok(b.size <= MAX_CHANGES, `size ${b.size}`);
});

test('cursor, context, settings and focus keep the latest; close of a document opened in the backlog leaves nothing', () => {
  const b = new Backlog();
  const ctx = (n: number): HostMessage => ({ type: 'context', uri: 'a', path: 'a.py', chunks: [{ id: `b.py:${n}`, path: 'b.py', startLine: n, endLine: n + 1, text: 'x', source: 'visible', score: 1 }] });
  for (let i = 0; i < 100; i++) {
    b.push({ type: 'cursor', uri: 'old', version: 3, offset: i });
    b.push(ctx(i));
    b.push({ type: 'focus', uri: `u${i}` });
  }
  b.push({ type: 'open', uri: 'n', version: 1, text: 'hi', cursor: 0 });
  b.push({ type: 'close', uri: 'n' });
  b.push({ type: 'close', uri: 'old' });
  const all = b.take();
  assert.deepEqual(all.map((m) => m.type).sort(), ['close', 'context', 'focus']);
  assert.deepEqual(all.find((m) => m.type === 'context'), ctx(99));
});

test('requests wait in order, one completion per document (the older answered cancelled), cancel takes one out', () => {
  const b = new Backlog();
  const complete = (id: number, uri: string): HostMessage => ({ type: 'complete', id, uri, version: 1, offset: 0, maxTokens: 4, maxLines: 1 });
  assert.deepEqual(b.push(complete(1, 'a')), []);
  assert.deepEqual(b.push(complete(2, 'b')), []);
  assert.deepEqual(b.push(complete(3, 'a')), [{ type: 'noCompletion', id: 1, reason: 'cancelled' }]);
  b.push({ type: 'resync', id: 4, uri: 'a' });
  assert.equal(b.cancel(2), true);
  assert.equal(b.cancel(2), false);
  assert.deepEqual(b.takeRequests().map((r) => r.id), [3, 4]);
  assert.equal(b.size, 0);
});

test('a gap in the versions drops the queued open (the server asks for the text); applyChanges moves the cursor as the editor does', () => {
  const b = new Backlog();
  b.push({ type: 'open', uri: 'a', version: 1, text: 'abc', cursor: 0 });
  b.push({ type: 'change', uri: 'a', version: 5, prevVersion: 4, changes: [] });
  assert.equal(b.size, 0);
  assert.deepEqual(applyChanges('hello', 5, [{ rangeOffset: 0, rangeLength: 1, text: 'J' }, { rangeOffset: 5, rangeLength: 0, text: '!' }]), { text: 'Jello!', cursor: 6 });
  assert.deepEqual(applyChanges('hello', 3, [{ rangeOffset: 1, rangeLength: 3, text: 'EY' }]), { text: 'hEYo', cursor: 3 });
  assert.throws(() => applyChanges('hi', 0, [{ rangeOffset: 3, rangeLength: 0, text: 'x' }]), RangeError);
});
