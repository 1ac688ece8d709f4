// What can go wrong in the engine, as kinds that every host acts on (the protocol carries them): no decision anywhere
// depends on the text of a message. Each engine error class is an EngineError of one kind; failureOf() names the kind
// of anything thrown (an error from elsewhere is 'internal').

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

export class EngineError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The kind and message of anything thrown. */
export function failureOf(e: unknown): { kind: FailureKind; message: string } {
  if (e instanceof EngineError) return { kind: e.kind, message: e.message };
  return { kind: 'internal', message: e instanceof Error ? e.message : String(e) };
}
