// What can go wrong in the engine, as kinds that every host acts on (the protocol carries them): no decision anywhere
// depends on the text of a message. Each engine error class is an EngineError of one kind; failureOf() names the kind
// of anything thrown (an error from elsewhere is 'internal').

import { FAILURE_KINDS, type FailureKind } from '../protocol/failures.js';

export { FAILURE_KINDS, type FailureKind };

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
