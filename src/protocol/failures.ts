// The kinds of failure every host acts on, carried by the protocol (`unavailable.reason`, `noCompletion.kind`): the
// engine's errors (src/engine/errors.ts) each have one, and hosts decide on the kind, never on a message's text.

export type FailureKind =
  /** No WebGPU adapter (WebGPU off, a blocklisted GPU, no driver). */
  | 'no-adapter'
  /** The GPU device was lost (driver reset, GPU removed, destroyed). */
  | 'device-lost'
  /** An allocation the device refused, or one over its limits. */
  | 'out-of-memory'
  /** The model file cannot be read as a GGUF file (truncated, corrupted, unreadable). */
  | 'model-unreadable'
  /** A well-formed file the engine does not run (an architecture, tensor type or tokenizer it does not support). */
  | 'model-unsupported'
  /** A document that needs more rows than its cache has. */
  | 'context-too-long'
  /** Stopped on purpose (another model chosen, a request cancelled). */
  | 'cancelled'
  /** Anything else: a bug. */
  | 'internal';

export const FAILURE_KINDS: readonly FailureKind[] = ['no-adapter', 'device-lost', 'out-of-memory', 'model-unreadable', 'model-unsupported', 'context-too-long', 'cancelled', 'internal'];
