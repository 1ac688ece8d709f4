// The provider's rule against repeating the text after the cursor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutRestOfLine } from '../../src/extension/text.js';

test('a completion that ends with the rest of the line loses that tail', () => {
  assert.equal(withoutRestOfLine('a, b)', ')'), 'a, b');
  assert.equal(withoutRestOfLine('x + 1);', ');  '), 'x + 1');
});

test('at the end of a line the completion is kept whole, several lines included', () => {
  assert.equal(withoutRestOfLine('foo()\nbar()', ''), 'foo()\nbar()');
  assert.equal(withoutRestOfLine('foo()\nbar()', '   '), 'foo()\nbar()');
});

test('in the middle of a line only the first line is offered', () => {
  assert.equal(withoutRestOfLine('value\nnext line', ' + 2'), 'value');
  assert.equal(withoutRestOfLine('f(a))\nmore', ')'), 'f(a)');
});
