// Messages between the extension host and the engine in the webview: one discriminated union per direction, keyed by
// `type`. Issue 4 extends these with the document stream (open/change/cursor/close/complete/cancel/resync).

/** Engine (webview) -> extension host. */
export type EngineMessage =
  | { type: 'ready'; device: string; features: string[] }
  | { type: 'unavailable'; message: string };

/** Extension host -> engine (webview). */
export type HostMessage = { type: 'hello' };
