// The provider's cache of recent completions: the same context again, type-through, what must not match, LRU order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompletionCache } from '../../src/extension/completion-cache.js';

const U = 'file:///a.py';

test('the same context again gives the same completion; another document, line rest or text before does not', () => {
  const c = new CompletionCache();
  c.put(U, 'def area(w, h):\n    return ', '', 'w * h');
  assert.deepEqual(c.get(U, 'def area(w, h):\n    return ', ''), { text: 'w * h', typed: 0 });
  assert.equal(c.get('file:///b.py', 'def area(w, h):\n    return ', ''), null);
  assert.equal(c.get(U, 'def area(w, h):\n    return ', ')'), null, 'another rest of the line');
  assert.equal(c.get(U, 'def area(x, h):\n    return ', ''), null);
});

test('type-through: characters typed that start the completion leave the rest; others, or all of it, do not', () => {
  const c = new CompletionCache();
  c.put(U, 'x = ', '', 'compute(1)\nprint(x)');
  assert.deepEqual(c.get(U, 'x = c', ''), { text: 'ompute(1)\nprint(x)', typed: 1 });
  assert.deepEqual(c.get(U, 'x = compute(1)\npr', ''), { text: 'int(x)', typed: 13 });
  assert.equal(c.get(U, 'x = d', ''), null, 'a character the completion does not have');
  assert.equal(c.get(U, 'x = compute(1)\nprint(x)', ''), null, 'all of it typed: nothing left to show');
});

test('only the last keyChars before the cursor are the key; lookBack bounds how far back a match may start', () => {
  const c = new CompletionCache(8, 16, 4);
  c.put(U, `${'a'.repeat(100)}0123456789abcdef`, '', 'XYZWV');
  assert.deepEqual(c.get(U, `${'b'.repeat(100)}0123456789abcdef`, ''), { text: 'XYZWV', typed: 0 }, 'older text is not compared');
  assert.deepEqual(c.get(U, '0123456789abcdefXYZW', ''), { text: 'V', typed: 4 });
  c.put(U, 'k', '', '123456789');
  assert.equal(c.get(U, 'k12345', ''), null, 'five characters typed: past lookBack');
});

test('least recently used entries go first past the capacity; a hit refreshes; drop forgets a document', () => {
  const c = new CompletionCache(2);
  c.put(U, 'a', '', '1');
  c.put(U, 'b', '', '2');
  assert.ok(c.get(U, 'a', ''));
  c.put(U, 'c', '', '3');
  assert.equal(c.get(U, 'b', ''), null, 'b was the least recently used');
  assert.ok(c.get(U, 'a', ''));
  assert.equal(c.size, 2);
  c.drop(U);
  assert.equal(c.size, 0);
});
