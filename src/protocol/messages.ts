// Messages between the extension host and the engine: one discriminated union per direction, keyed by `type`.
// Kept close to LSP: didOpen / didChange (incremental changes with versions) / didClose, plus completion requests with
// ids and explicit cancel. The transport (webview postMessage today) is not part of the protocol, so the same engine
// server can later sit behind a language-server connection.

import type { ContextChunk } from '../context/types.js';
import type { FailureKind } from './failures.js';
import type { FimMode } from './settings.js';

export type { ContextChunk, FailureKind };
/** Why the engine is not running: a failure's kind ('no-adapter' includes a window without navigator.gpu). */
export type UnavailableReason = FailureKind;

/** A change as VS Code reports it: offsets in UTF-16 code units, each in the text the previous change left. */
export interface WireChange {
  rangeOffset: number;
  rangeLength: number;
  text: string;
}

/** Engine settings the host passes on (from the user's configuration). */
export interface EngineSettings {
  /** GPU memory for the KV caches of all open documents, in MiB; the least recently used are dropped past it. */
  cacheBudgetMiB: number;
  /** Re-encode a document in idle time once this many of its rows are stale. */
  resyncThreshold: number;
  /** How long the engine waits without requests before idle work (re-sync), in ms. */
  idleMs: number;
  /** Stale rows just before the cursor re-encoded before each completion (0: PIE exactly as the paper has it). */
  refreshWindow: number;
  /** Fill-in-the-middle prompts in this order for a model with FIM tokens; 'off': left to right from the prefix. */
  fim: FimMode;
  /** Most tokens of one document a cache holds (the model's context length caps it); a longer document is windowed. */
  maxContext: number;
  /** Tokens of workspace context (chunks of other files) a completion may see ahead of the file; 0: none. At most half
   *  of a document's cache. */
  contextTokens: number;
}

/** What the engine knows of a completion's cost, for the status bar. */
export interface CompletionStats {
  /** Request received to first token sampled (the latency the user waits for, less debounce and messaging). */
  firstTokenMs: number;
  totalMs: number;
  /** Wall clock (Date.now(), shared by the host and the engine on one machine): the engine received the request, and
   *  posted this answer. With the host's own times they give the messaging each way. */
  receivedAt: number;
  sentAt: number;
  /** Received to started (the engine's queue: earlier events and requests). */
  queuedMs: number;
  /** First token to the last (decoding the rest). */
  decodeMs: number;
  applyMs: number;
  encodeMs: number;
  rowsMoved: number;
  rowsDropped: number;
  tokensEncoded: number;
  tokensGenerated: number;
  tokensPerS: number;
  /** Rows of the document's cache now (tokens held), its capacity, and how many are stale. */
  cacheRows: number;
  cacheCapacity: number;
  staleRows: number;
  /** The session was (re)built for this request: a first completion, a re-sync after a version gap, or an eviction. */
  rebuilt: boolean;
  /** The document was larger than the context: the cache holds a window around the cursor. */
  windowed: boolean;
  /** The workspace context the prompt held: its chunks in cache order (file, lines, tokens) and their tokens in all. */
  context: { chunks: ContextView[]; tokens: number };
  /** This document since its cache was built (that build not counted): completions, rows re-rotated, tokens encoded, full re-encodes. */
  document: { completions: number; rowsMoved: number; tokensEncoded: number; resyncs: number };
}

/** One cache row in document order, for the engine panel. */
export type RowState = 'fresh' | 'rotated' | 'inserted' | 'stale';

/** A chunk of workspace context in a document's cache. */
export interface ContextView {
  id: string;
  path: string;
  startLine: number;
  endLine: number;
  tokens: number;
  /** Tokens whose rows the last flush kept (re-rotated or in place) instead of encoding them. */
  reused: number;
}

/** A document's cache as the engine panel draws it: each row's state in document order, and the last edit plan. */
export interface CacheView {
  rows: RowState[];
  /** The workspace-context chunks ahead of the file, in cache order, and where the file's own rows start. */
  context: ContextView[];
  fileStart: number;
  capacity: number;
  stale: number;
  plan: { rowsMoved: number; rowsDropped: number; tokensEncoded: number; applyMs: number; encodeMs: number };
}

/** Extension host -> engine. */
export type HostMessage =
  | { type: 'init'; modelName: string; modelSize: number; settings: EngineSettings; load?: ModelLoadOptions }
  | { type: 'settings'; settings: EngineSettings }
  /** A completion the host showed (for the panel): where it came from, request to ghost text, and where that time went. */
  | { type: 'shown'; source: 'engine' | 'cache' | 'type-through'; endToEndMs: number; breakdown: string }
  /** Bytes of the model file the engine asked for with `read` (exactly `length`, shorter only at the end of the file). */
  | { type: 'bytes'; id: number; data: Uint8Array }
  | { type: 'bytesError'; id: number; message: string }
  | { type: 'open'; uri: string; version: number; text: string; cursor: number }
  | { type: 'change'; uri: string; version: number; prevVersion: number; changes: WireChange[] }
  | { type: 'cursor'; uri: string; version: number; offset: number }
  | { type: 'close'; uri: string }
  /** The workspace context for completions in `uri` (src/context: chunks of other files, best first); `path` is the
   *  document's workspace-relative path, which the prompt names. Replaces the document's previous context. */
  | { type: 'context'; uri: string; path: string; chunks: ContextChunk[] }
  /** sentAt: the host's clock (Date.now()) when it posted the request; maxMs: stop decoding that long after the engine
   *  began (the first token always comes). */
  | { type: 'complete'; id: number; uri: string; version: number; offset: number; maxTokens: number; maxLines: number; sentAt?: number; maxMs?: number }
  | { type: 'cancel'; id: number }
  | { type: 'resync'; id: number; uri: string }
  /** The editor's active document, for the engine panel. */
  | { type: 'focus'; uri: string | null }
  /** The user accepted completion `id` (the item's command; after the insertion's `change`, whole or in part). */
  | { type: 'accepted'; uri: string; id: number }
  /** The engine runs elsewhere (the language server: `host` names it): the page does not boot one, it draws what the
   *  extension host forwards, the engine's messages (`mirror`) and the active document's cache (`cacheView`). */
  | { type: 'remote'; host: string }
  | { type: 'mirror'; message: EngineMessage }
  | { type: 'cacheView'; view: CacheView | null }
  /** Test hook ("PIE: Simulate GPU device loss"): destroy the engine's device; it recovers as from a real loss. */
  | { type: 'loseDevice' };

/** Engine -> extension host. */
export type EngineMessage =
  /** fraction: of the model loaded (0-1), while it loads. */
  | { type: 'booting'; stage: string; fraction?: number }
  /** Engine asks for a slice of the model file (the model is streamed, never copied whole into the webview); several
   *  may be in flight (ModelLoadOptions), each answered by its id. */
  | { type: 'read'; id: number; offset: number; length: number }
  /** loadMs: the model streamed in and uploaded; warmupMs: the kernels compiled by a scratch completion after that. */
  /** cpu: the adapter is a CPU driver (GpuContext.info.cpu). */
  /** restored: the documents the engine re-opened itself, at these versions (a new device after a loss). */
  | { type: 'ready'; device: string; cpu: boolean; features: string[]; limits: DeviceLimits; model: ModelInfo; loadMs: number; warmupMs: number; restored?: { uri: string; version: number }[] }
  /** No WebGPU, no adapter, a model that will not load, a lost device that could not be recovered. */
  | { type: 'unavailable'; reason: UnavailableReason; message: string }
  | { type: 'completion'; id: number; uri: string; version: number; text: string; stopReason: string; stats: CompletionStats }
  /** A request that produced nothing: cancelled, superseded, a stale version, or an error (the message says). */
  | { type: 'noCompletion'; id: number; reason: 'cancelled' | 'stale' | 'unknown-document' | 'error'; kind?: FailureKind; message?: string }
  /** The engine's copy of a document is out of step (a version gap): the host must send `open` with the full text. */
  | { type: 'needOpen'; uri: string; reason: string }
  | { type: 'resynced'; id: number; uri: string; ms: number; tokensEncoded: number }
  /** Something the user should know about a document (e.g. windowed), shown once by the host. */
  | { type: 'notice'; uri: string; message: string }
  | { type: 'log'; message: string };

/** How the engine reads the model's bytes from the host (src/webview/model-source.ts). */
export interface ModelLoadOptions {
  /** 'http': fetch with Range requests from `url` (the host's ModelFileServer), in chunks with read-ahead, falling back
   *  to 'pipelined' when the first request fails; 'pipelined': host messages in fixed chunks with read-ahead, several
   *  requests in flight; 'serial': one host message per loader read, one at a time (the transport before issue 14,
   *  kept for measurements). */
  transport: 'http' | 'pipelined' | 'serial';
  /** The model file over HTTP, as the webview reaches it (vscode.env.asExternalUri). */
  url?: string;
  chunkBytes: number;
  aheadBytes: number;
  /** Read every byte once through the same source before loading, timed, without uploading (bench/webview-load.ts). */
  readPass: boolean;
}

/** Every engine message as posted by a webview: `gen` is the generation of the page that sent it (the host writes it
 *  into each page it loads, and drops the messages of an older page: a model load that was replaced). */
export type StampedEngineMessage = EngineMessage & { gen: number };

export interface ModelInfo {
  name: string;
  /** general.architecture: llama, qwen2, starcoder2. */
  architecture: string;
  /** GPU bytes of the weights, and of one document's KV cache at the context the engine serves (`contextLength`). */
  weightBytes: number;
  kvCacheBytes: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Tokens of one document's cache: the model's context length, capped by the maxContext setting. */
  contextLength: number;
  vocab: number;
  /** The prompts completions use: the "fim" setting (as it was at load), or 'off' for a model without FIM tokens. */
  fim: FimMode;
  /** Measured when the engine booted (absent when a measurement failed): the device's copy bandwidth in bytes per second
   *  (src/engine/gpu/bandwidth.ts) and this model's decode speed in the warm-up, tokens per second. The model picker's
   *  expected speeds come from them (src/models/catalog.ts, deviceSpeed). */
  copyBytesPerS?: number;
  decodeTokPerS?: number;
}

/** The device's limits that decide which models fit (the catalog's fit check in the extension host). */
export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}
