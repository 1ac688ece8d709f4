// Which prompts a model gets: the "fim" setting (pie.fillInTheMiddle, pie complete --fim) resolved against the known
// models, by file name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fimFor, KNOWN_MODELS } from '../../src/models/known.js';

test('fimFor: psm, spm and off are what they say; auto follows the known model, else psm; on is auto kept to FIM', () => {
  for (const file of ['/x/pie-code-tiny.gguf', 'stories260K.gguf', '/models/qwen2.5-coder-1.5b-q8_0.gguf']) {
    assert.equal(fimFor('psm', file), 'psm');
    assert.equal(fimFor('spm', file), 'spm');
    assert.equal(fimFor('off', file), 'off');
  }
  assert.equal(KNOWN_MODELS['pie-code-tiny.gguf']!.fim, 'off');
  assert.equal(fimFor('auto', '/home/u/.vscode/extensions/pie/models/pie-code-tiny.gguf'), 'off');
  assert.equal(fimFor('auto', 'pie-code-tiny.gguf'), 'off');
  assert.equal(fimFor('on', 'pie-code-tiny.gguf'), 'psm', "on: FIM, in the default order for a model that auto keeps left to right");
  assert.equal(fimFor('auto', '/models/qwen2.5-coder-1.5b-q8_0.gguf'), 'psm');
  assert.equal(fimFor('on', '/models/qwen2.5-coder-1.5b-q8_0.gguf'), 'psm');
  assert.equal(fimFor('auto', 'stories260K.gguf'), 'psm', 'a known model without an entry for it: psm when it has the tokens');
});

test("fimFor: 'on' keeps a known model's own FIM order", () => {
  const m = KNOWN_MODELS['stories260K.gguf']!;
  const saved = m.fim;
  m.fim = 'spm';
  try {
    assert.equal(fimFor('auto', 'stories260K.gguf'), 'spm');
    assert.equal(fimFor('on', 'stories260K.gguf'), 'spm');
    assert.equal(fimFor('psm', 'stories260K.gguf'), 'psm');
  } finally {
    if (saved === undefined) delete m.fim;
    else m.fim = saved;
  }
});
