// Every engine error is of one kind, which hosts act on: the classes and failureOf() agree, and nothing else is needed
// than the class (no message text is read).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError, FAILURE_KINDS, failureOf } from '../../src/engine/errors.js';
import { NoGpuError } from '../../src/engine/gpu/acquire.js';
import { GpuDeviceError, GpuMemoryError } from '../../src/engine/gpu/context.js';
import { ModelFormatError } from '../../src/engine/model/config.js';
import { GGUFError } from '../../src/engine/model/gguf.js';
import { TokenizerError } from '../../src/engine/model/tokenizer.js';
import { LoadCancelled } from '../../src/webview/model-source.js';

test('each engine error class has its kind; anything else is internal', () => {
  const cases: [unknown, string][] = [
    [new NoGpuError('no adapter'), 'no-adapter'],
    [new GpuMemoryError('a KV cache of 9 rows needs 2 GiB'), 'out-of-memory'],
    [new GpuDeviceError('device-lost', 'the GPU device was lost (destroyed: )'), 'device-lost'],
    [new GpuDeviceError('out-of-memory', 'the GPU reported 1 error(s): GPUOutOfMemoryError: ...'), 'out-of-memory'],
    [new GpuDeviceError('internal', 'the GPU reported 1 error(s): GPUValidationError: ...'), 'internal'],
    [new GGUFError('truncated'), 'model-unreadable'],
    [new ModelFormatError('unsupported architecture "gpt2"'), 'model-unsupported'],
    [new TokenizerError('unknown tokenizer model'), 'model-unsupported'],
    [new LoadCancelled('another model'), 'cancelled'],
    [new EngineError('context-too-long', 'the document needs more than the cache has'), 'context-too-long'],
    // a message that mentions memory decides nothing
    [new Error('out of memory'), 'internal'],
    ['a string', 'internal'],
  ];
  for (const [e, kind] of cases) {
    assert.equal(failureOf(e).kind, kind, String(e));
    assert.ok(FAILURE_KINDS.includes(failureOf(e).kind));
  }
  assert.equal(failureOf(new GGUFError('truncated at 12')).message, 'truncated at 12');
  assert.ok(new GGUFError('x') instanceof Error && new GGUFError('x').name === 'GGUFError');
});
