// Which prompts a model gets: the "fim" setting (pie.fillInTheMiddle, pie complete --fim) resolved against the known
// models, by file name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fimFor, KNOWN_MODELS } from '../../src/cli/known-models.js';

test('fimFor: on and off are what they say; auto follows the known model, else FIM', () => {
  for (const file of ['/x/pie-code-tiny.gguf', 'stories260K.gguf', '/models/qwen2.5-coder-1.5b-q8_0.gguf']) {
    assert.equal(fimFor('on', file), true);
    assert.equal(fimFor('off', file), false);
  }
  assert.equal(KNOWN_MODELS['pie-code-tiny.gguf']!.fim, false);
  assert.equal(fimFor('auto', '/home/u/.vscode/extensions/pie/models/pie-code-tiny.gguf'), false);
  assert.equal(fimFor('auto', 'pie-code-tiny.gguf'), false);
  assert.equal(fimFor('auto', '/models/qwen2.5-coder-1.5b-q8_0.gguf'), true);
  assert.equal(fimFor('auto', 'stories260K.gguf'), true, 'a known model without an entry for it: FIM when it has the tokens');
});
