// The engine as a language server (`pie serve --stdio`): Dawn in Node instead of a webview's navigator.gpu, for VS Code
// builds whose webviews have no WebGPU and for other editors. It is a transport around the same EngineHost and
// EngineServer the webview runs (src/engine/host.ts), so the two hosts cannot drift: LSP's document notifications
// become the engine's open / change / close, `textDocument/inlineCompletion` its `complete`, `$/cancelRequest` its
// `cancel`. docs/lsp.md has the protocol.
//
// - Documents: full text on didOpen, incremental didChange with UTF-16 positions (LSP's default encoding, and the
//   engine's offsets), each change turned into an offset in the text the previous one left.
// - textDocument/inlineCompletion (LSP 3.18): one item inserted at the position, or none. Our own VS Code client asks
//   with a `pie` field (its limits, its clock) and reads the engine's figures from the `pie` field of the answer; other
//   clients ignore both.
// - pie/resync {textDocument}: re-encodes the document's cache -> {ms, tokensEncoded}.
// - pie/state {textDocument?}: the engine's state (the status bar's figures), its documents, and a document's cache as
//   the engine panel draws it.
// - pie/engine (server -> client notification): the engine's booting / ready / unavailable / notice messages.
// - Workspace context (docs/lsp.md): a ContextTracker fed by the documents of the client's workspace folders (a visit
//   at the top of each opened document, the line of each edit), gathered for each completion and sent to the engine as
//   `context` before `complete` when it differs from what was last sent for that document. pie/context {textDocument,
//   path, chunks} from the client replaces that gathering for its document (until it sends again or closes it).
// - Loading is reported with window/workDoneProgress; unavailability and notices with window/showMessage too.
// - initializationOptions: {model?, maxTokens?, maxLines?, maxPredictMs?, fim?, maxContext?, cacheBudgetMiB?,
//   resyncThreshold?, idleMs?, refreshWindow?, contextTokens?, contextExclude?, clientContext?, inlineCompletionProvider?,
//   showMessages?}; workspace/didChangeConfiguration's `settings.pie` takes the same keys (but the model and
//   clientContext).
import { createConnection, type Connection, FileChangeType, type InitializeResult, LSPErrorCodes, MessageType, ResponseError, ShowMessageNotification, TextDocumentSyncKind, type WorkDoneProgressServerReporter } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { makeExcluder } from '../context/exclude.js';
import { ContextTracker } from '../context/tracker.js';
import type { ContextChunk, ContextSource } from '../context/types.js';
import { acquireNodeGpu } from '../engine/gpu/node.js';
import { EngineHost } from '../engine/host.js';
import { fileSource } from '../engine/model/node-source.js';
import { DEFAULT_SETTINGS } from '../engine/server.js';
import { SETTING_DEFAULTS } from '../protocol/settings.js';
import { fimFor, FIM_SETTINGS, type FimSetting } from '../models/known.js';
import type { CacheView, CompletionStats, EngineMessage, EngineSettings, HostMessage, WireChange } from '../protocol/messages.js';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The settings a client may give (initializationOptions, or didChangeConfiguration's settings.pie). */
export interface ServerSettings extends Omit<EngineSettings, 'fim'> {
  maxTokens: number;
  maxLines: number;
  /** The first answer's time budget from the engine taking the request (0: none); see the pie.maxPredictMs setting. */
  maxPredictMs: number;
  fim: FimSetting;
}

export const DEFAULT_SERVER_SETTINGS: ServerSettings = { ...DEFAULT_SETTINGS, fim: SETTING_DEFAULTS.fillInTheMiddle, maxTokens: SETTING_DEFAULTS.maxTokens, maxLines: SETTING_DEFAULTS.maxLines, maxPredictMs: 0 };

/** Files longer than this (UTF-16 units, ~1 MiB) never become context; also the most text one pie/context may carry. */
export const MAX_CONTEXT_FILE_CHARS = 1 << 20;
/** The most chunks one pie/context may carry. */
export const MAX_CLIENT_CHUNKS = 256;
/** An edit this many lines away from the pending one of the same document notes that one first. */
const EDIT_JUMP_LINES = 32;
const SOURCES: ReadonlySet<string> = new Set<ContextSource>(['edit', 'visit', 'visible', 'clipboard', 'definition', 'open']);

/** The pie/context notification's params: the client's chunks for one document, best first. */
export interface PieContextParams {
  textDocument: { uri: string };
  /** The document's workspace-relative path (the prompt names it). */
  path: string;
  chunks: ContextChunk[];
}

/** The context sent to the engine for a document: the client's (pie/context) or the server's own gathering. */
export interface SentContext {
  from: 'client' | 'server';
  path: string;
  chunks: ContextChunk[];
}

/** A URI's scheme, authority and decoded path (a Windows drive letter in lower case, no trailing '/'); null if it is
 *  not a URI. */
function uriParts(uri: string): { scheme: string; authority: string; path: string } | null {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)/.exec(uri);
  if (!m) return null;
  let path: string;
  try {
    path = decodeURIComponent(m[3]!);
  } catch {
    return null;
  }
  path = path.replace(/^\/([A-Za-z]):/, (_, d: string) => `/${d.toLowerCase()}:`).replace(/\/+$/, '');
  return { scheme: m[1]!.toLowerCase(), authority: (m[2] ?? '').toLowerCase(), path };
}

/**
 * Where a document sits in the workspace: `rel`, its path relative to the innermost folder holding it, and `path`, the
 * path the prompt and the chunks name (with several folders, the folder's name first, as VS Code's asRelativePath
 * writes it). Null outside every folder (another scheme or authority, or a path not under the folder's).
 */
export function workspacePlace(uri: string, folders: readonly { uri: string; name: string }[]): { path: string; rel: string } | null {
  const u = uriParts(uri);
  if (!u) return null;
  let best: { name: string; rel: string; depth: number } | null = null;
  for (const f of folders) {
    const p = uriParts(f.uri);
    if (!p || p.scheme !== u.scheme || p.authority !== u.authority || !u.path.startsWith(`${p.path}/`)) continue;
    if (!best || p.path.length > best.depth) best = { name: f.name, rel: u.path.slice(p.path.length + 1), depth: p.path.length };
  }
  if (!best || !best.rel) return null;
  return { path: folders.length > 1 ? `${best.name}/${best.rel}` : best.rel, rel: best.rel };
}

/** pie/context's params checked (only the known fields kept), or why they were refused. */
export function parseContextParams(p: unknown): PieContextParams | string {
  if (!p || typeof p !== 'object' || Array.isArray(p)) return 'the params are not an object';
  const { textDocument, path, chunks } = p as Record<string, unknown>;
  const uri = textDocument && typeof textDocument === 'object' ? (textDocument as { uri?: unknown }).uri : undefined;
  if (typeof uri !== 'string' || !uri) return 'textDocument.uri is not a string';
  if (typeof path !== 'string') return 'path is not a string';
  if (!Array.isArray(chunks)) return 'chunks is not an array';
  if (chunks.length > MAX_CLIENT_CHUNKS) return `${chunks.length} chunks (at most ${MAX_CLIENT_CHUNKS})`;
  const out: ContextChunk[] = [];
  let chars = 0;
  const line = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as Record<string, unknown> | null;
    const bad = (why: string) => `chunks[${i}]: ${why}`;
    if (!c || typeof c !== 'object' || Array.isArray(c)) return bad('not an object');
    if (typeof c.id !== 'string' || !c.id) return bad('id is not a non-empty string');
    if (typeof c.path !== 'string') return bad('path is not a string');
    if (!line(c.startLine) || !line(c.endLine) || (c.endLine as number) < (c.startLine as number)) return bad('startLine and endLine are not lines (integers, 0 <= startLine <= endLine)');
    if (typeof c.text !== 'string') return bad('text is not a string');
    if (typeof c.source !== 'string' || !SOURCES.has(c.source)) return bad(`source is not one of ${[...SOURCES].join(', ')}`);
    if (typeof c.score !== 'number' || !Number.isFinite(c.score)) return bad('score is not a finite number');
    chars += c.text.length;
    if (chars > MAX_CONTEXT_FILE_CHARS) return `the chunks' texts are longer than ${MAX_CONTEXT_FILE_CHARS} characters`;
    out.push({ id: c.id, path: c.path, startLine: c.startLine as number, endLine: c.endLine as number, text: c.text, source: c.source as ContextSource, score: c.score });
  }
  return { textDocument: { uri }, path, chunks: out };
}

/** What our own client adds to an inlineCompletion request. */
export interface PieRequestFields {
  maxTokens?: number;
  maxLines?: number;
  maxMs?: number;
  /** The client's clock when it sent the request (for the breakdown in its status bar). */
  sentAt?: number;
  /** The document version the client completes in: another version held here answers nothing ('stale'). */
  version?: number;
}

/** What the server adds to an inlineCompletion answer: the engine's own answer. */
export type PieAnswer =
  /** id: the engine's request id, for pie/accepted. */
  | { type: 'completion'; id: number; text: string; stopReason: string; version: number; stats: CompletionStats }
  | Extract<EngineMessage, { type: 'noCompletion' }>;

/** The pie/state answer. */
export interface PieState {
  host: 'node';
  /** The engine's latest booting / ready / unavailable message. */
  engine: Extract<EngineMessage, { type: 'booting' | 'ready' | 'unavailable' }>;
  /** length: of the text in UTF-16 code units, as the server holds it. */
  documents: { uri: string; version: number; length: number; cached: boolean }[];
  /** The document asked about, as the engine panel draws it (null: no cache yet). */
  cache: CacheView | null;
  last: CompletionStats | null;
  /** Accepts reported (pie/accepted, or the items' command): taken with their rows, or encoded as edits. */
  acceptances: { matched: number; unmatched: number };
  /** The document's workspace context as of its last completion or pie/context (what the engine was sent, or found
   *  to hold already; null: neither yet); the chunks its prompt holds (those that fit the engine's budget) are
   *  `cache.context`. */
  context: SentContext | null;
}

/** The command of an inline completion item: a client runs it when the user accepts the item. */
export const ACCEPT_COMMAND = 'pie.lsp.accepted';

export interface ServeOptions {
  /** The model from the command line (a path or hf:...); initializationOptions.model overrides it. */
  model?: string;
  /** A local path for a model given as a path, an hf: reference, or nothing (the default model). */
  resolveModel(spec: string | undefined): Promise<string>;
  /** Test hook requests (pie/loseDevice); also PIE_TEST_HOOKS=1. */
  testHooks?: boolean;
  connection?: Connection;
}

export function serve(o: ServeOptions): Connection {
  const conn = o.connection ?? createConnection(process.stdin, process.stdout);
  const docs = new Map<string, TextDocument>();
  let settings: ServerSettings = { ...DEFAULT_SERVER_SETTINGS };
  let modelSpec = o.model;
  let modelPath = '';
  let host: EngineHost | null = null;
  /** Settles once the host exists (or the model could not be found): requests sent before that wait for it, and then
   *  wait in the host's backlog while it boots (an editor that asks right after `initialized` gets its completion). */
  let hostMade: () => void = () => undefined;
  const hostReady = new Promise<void>((r) => (hostMade = r));
  let engineState: PieState['engine'] = { type: 'booting', stage: 'waiting for initialize' };
  let last: CompletionStats | null = null;
  let nextId = 1;
  const waiting = new Map<number, (m: EngineMessage) => void>();
  let progress: WorkDoneProgressServerReporter | null = null;
  let advertise = true;
  /** The client sends workspace/didChangeWorkspaceFolders. */
  let foldersChange = false;
  /** initializationOptions.clientContext: the client gives every document's context (pie/context); none of our own. */
  let clientOnly = false;

  // ---- workspace context: the server's own record (a ContextTracker), or the client's chunks (pie/context) ----
  /** The client's workspace folders (initialize's workspaceFolders, else its rootUri or rootPath). */
  let folders: { uri: string; name: string }[] = [];
  let tracker = new ContextTracker();
  /** contextExclude: globs of folder-relative paths that never become context. */
  let excludeGlobs: string[] = [];
  let excluded = makeExcluder(excludeGlobs);
  /** Each document's latest edit line not yet noted (most recent last): noted when another document gathers. */
  const pendingEdits = new Map<string, number>();
  /** The chunks a client sent with pie/context, by document: they replace the server's own gathering for it. */
  const clientContext = new Map<string, { path: string; chunks: ContextChunk[] }>();
  /** What was last sent to the engine, by document: a key of its path and chunks ('' for none), and the context. */
  const sentContext = new Map<string, { key: string; context: SentContext }>();

  const engineSettings = (): EngineSettings => {
    const { maxTokens: _t, maxLines: _l, maxPredictMs: _p, fim, ...rest } = settings;
    return { ...rest, fim: fimFor(fim, modelPath || 'default') };
  };
  const merge = (given: unknown) => {
    if (!given || typeof given !== 'object') return;
    const g = given as Record<string, unknown>;
    const next: Record<string, unknown> = { ...settings };
    for (const [k, v] of Object.entries(DEFAULT_SERVER_SETTINGS)) {
      const x = g[k];
      if (k === 'fim' ? FIM_SETTINGS.includes(x as FimSetting) : typeof x === typeof v && Number.isFinite(x as number)) next[k] = x;
    }
    next.contextTokens = Math.max(0, Math.floor(next.contextTokens as number));
    const wasOn = settings.contextTokens > 0;
    settings = next as unknown as ServerSettings;
    let reset = wasOn !== settings.contextTokens > 0;
    if (Array.isArray(g.contextExclude)) {
      const globs = g.contextExclude.filter((x): x is string => typeof x === 'string' && x.trim() !== '');
      if (globs.join('\n') !== excludeGlobs.join('\n')) {
        excludeGlobs = globs;
        excluded = makeExcluder(globs);
        reset = true;
      }
    }
    if (reset) resetContext();
  };

  /** The workspace-relative path of a document that may become context, or null: context on, inside a workspace
   *  folder, not excluded, not too long. */
  const sourcePath = (d: TextDocument): string | null => {
    if (settings.contextTokens <= 0 || clientOnly) return null;
    const place = workspacePlace(d.uri, folders);
    if (!place || excluded(place.rel) || d.getText().length > MAX_CONTEXT_FILE_CHARS) return null;
    return place.path;
  };
  /** The path the prompt names a document by: workspace-relative, else its file name. */
  const currentPath = (d: TextDocument): string => workspacePlace(d.uri, folders)?.path ?? basename(uriParts(d.uri)?.path ?? d.uri);
  /** Everything noted goes (folders, exclusions or the switch changed); the open documents count as visited again. */
  const resetContext = () => {
    tracker = new ContextTracker();
    pendingEdits.clear();
    for (const d of docs.values()) noteOpen(d);
  };
  /** An opened document: a visit at its top (LSP tells no cursor). */
  const noteOpen = (d: TextDocument) => {
    const path = sourcePath(d);
    if (path) tracker.noteVisit(path, d.getText(), 0);
  };
  /** The pending edits of every document but `except`, noted now with their texts. */
  const noteEdits = (except?: string) => {
    for (const [uri, line] of [...pendingEdits]) {
      if (uri === except) continue;
      pendingEdits.delete(uri);
      const d = docs.get(uri);
      const path = d && sourcePath(d);
      if (path) tracker.noteEdit(path, d.getText(), Math.min(line, d.lineCount - 1));
    }
  };
  /** The context for a completion in `d` on `line`: the client's chunks when it sent some, else the tracker's. */
  const contextFor = (d: TextDocument, line: number): SentContext => {
    const own = clientContext.get(d.uri);
    if (settings.contextTokens <= 0) return { from: own ? 'client' : 'server', path: own?.path ?? currentPath(d), chunks: [] };
    if (own) return { from: 'client', path: own.path, chunks: own.chunks };
    if (clientOnly) return { from: 'client', path: currentPath(d), chunks: [] };
    noteEdits(d.uri); // this document's own edits wait: its chunks are never context for itself
    const path = currentPath(d);
    return { from: 'server', path, chunks: tracker.gather({ path, text: d.getText(), line }, settings.contextTokens) };
  };
  /** Sends the engine a document's context when it differs from what was last sent for it (nothing sent = none). */
  const sendContext = (uri: string, c: SentContext) => {
    if (!host) return;
    const key = c.chunks.length ? JSON.stringify([c.path, c.chunks.map((x) => [x.id, x.path, x.startLine, x.endLine, x.text])]) : '';
    const had = sentContext.get(uri)?.key ?? '';
    sentContext.set(uri, { key, context: c });
    if (key !== had) void host.handle({ type: 'context', uri, path: c.path, chunks: c.chunks });
  };

  /** window/showMessage, for clients that show nothing of their own (ours does: initializationOptions.showMessages). */
  let showMessages = true;
  const show = (type: MessageType, message: string) => {
    if (showMessages) conn.sendNotification(ShowMessageNotification.type, { type, message: `PIE: ${message}` }).catch(() => undefined);
  };

  const send = (m: EngineMessage) => {
    switch (m.type) {
      case 'completion':
      case 'noCompletion':
      case 'resynced':
        waiting.get(m.id)?.(m);
        return;
      case 'needOpen': {
        // this server's copy is the editor's (LSP orders every notification): send it whole again
        const d = docs.get(m.uri);
        if (d) void host?.handle({ type: 'open', uri: m.uri, version: d.version, text: d.getText(), cursor: 0 });
        return;
      }
      case 'log':
        conn.console.log(m.message);
        return;
      case 'read':
        return;
      case 'booting':
        engineState = m;
        if (m.fraction !== undefined) progress?.report(Math.round(m.fraction * 100), m.stage);
        else progress?.report(m.stage);
        break;
      case 'ready':
      case 'unavailable':
        // a new engine (after a lost device) holds no context: each document's is sent again with its next completion
        if (m.type === 'ready') sentContext.clear();
        engineState = m;
        progress?.done();
        progress = null;
        if (m.type === 'unavailable') show(MessageType.Error, m.message);
        break;
      case 'notice':
        show(MessageType.Info, m.message);
        break;
    }
    conn.sendNotification('pie/engine', m).catch(() => undefined);
  };

  /** Sends a request to the engine and resolves with its answer (cancelled with the LSP request). */
  const ask = <T extends EngineMessage>(make: (id: number) => HostMessage, token?: { isCancellationRequested?: boolean; onCancellationRequested(f: () => void): unknown }): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve) => {
      waiting.set(id, (m) => {
        waiting.delete(id);
        resolve(m as T);
      });
      let cancelled = false;
      token?.onCancellationRequested(() => {
        cancelled = true;
        void host?.handle({ type: 'cancel', id });
      });
      void (host ? Promise.resolve() : hostReady).then(() => {
        if (!host) return resolve({ type: 'noCompletion', id, reason: 'error', message: engineState.type === 'unavailable' ? engineState.message : 'the engine is not ready' } as T);
        if (cancelled || (token && 'isCancellationRequested' in token && token.isCancellationRequested)) return resolve({ type: 'noCompletion', id, reason: 'cancelled' } as T);
        void host.handle(make(id));
      });
    });
  };

  conn.onInitialize((params): InitializeResult => {
    const init = (params.initializationOptions ?? {}) as Record<string, unknown>;
    if (typeof init.model === 'string' && init.model) modelSpec = init.model;
    if (init.inlineCompletionProvider === false) advertise = false;
    if (init.showMessages === false) showMessages = false;
    if (init.clientContext === true) clientOnly = true;
    if (params.workspaceFolders) folders = params.workspaceFolders.map(({ uri, name }) => ({ uri, name }));
    else {
      const root = params.rootUri ?? (params.rootPath ? pathToFileURL(params.rootPath).href : null);
      if (root) folders = [{ uri: root, name: basename(uriParts(root)?.path ?? root) }];
    }
    foldersChange = params.capabilities.workspace?.workspaceFolders === true;
    merge(init);
    return {
      capabilities: {
        positionEncoding: 'utf-16',
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
        ...(advertise ? { inlineCompletionProvider: true, executeCommandProvider: { commands: [ACCEPT_COMMAND] } } : {}),
      },
      serverInfo: { name: 'pie-complete' },
    };
  });

  conn.onInitialized(async () => {
    if (foldersChange) {
      conn.workspace.onDidChangeWorkspaceFolders(({ added, removed }) => {
        const gone = new Set([...removed, ...added].map((f) => f.uri));
        folders = [...folders.filter((f) => !gone.has(f.uri)), ...added.map(({ uri, name }) => ({ uri, name }))];
        resetContext(); // paths change with the folders (and with their number: a folder's name leads in several)
      });
    }
    if (conn.window) progress = await conn.window.createWorkDoneProgress().catch(() => null);
    progress?.begin('PIE', 0, 'finding the model', false);
    try {
      modelPath = await o.resolveModel(modelSpec);
    } catch (e) {
      send({ type: 'unavailable', reason: 'model-unreadable', message: (e as Error).message });
      return hostMade();
    }
    const name = basename(modelPath);
    host = new EngineHost(
      {
        send,
        acquire: () => acquireNodeGpu(),
        openModel: async () => {
          const source = await fileSource(modelPath);
          conn.console.log(`model bytes: read from ${modelPath}`);
          return { source, close: () => source.close() };
        },
      },
      name,
      engineSettings(),
    );
    // what arrived before the host existed (documents opened right after initialized)
    for (const d of docs.values()) void host.handle({ type: 'open', uri: d.uri, version: d.version, text: d.getText(), cursor: 0 });
    const started = host.start();
    hostMade();
    await started;
  });

  conn.onDidChangeConfiguration((p) => {
    const s = (p.settings as { pie?: unknown } | null)?.pie;
    if (!s) return;
    merge(s);
    void host?.handle({ type: 'settings', settings: engineSettings() });
  });

  conn.onDidOpenTextDocument(({ textDocument: t }) => {
    const d = TextDocument.create(t.uri, t.languageId, t.version, t.text);
    docs.set(t.uri, d);
    noteOpen(d);
    void host?.handle({ type: 'open', uri: t.uri, version: t.version, text: t.text, cursor: 0 });
  });

  conn.onDidChangeTextDocument(({ textDocument: t, contentChanges }) => {
    const d = docs.get(t.uri);
    if (!d) return;
    const prevVersion = d.version;
    const changes: WireChange[] = [];
    let line: number | null = null;
    let whole = false;
    for (const c of contentChanges) {
      if ('range' in c) {
        const start = d.offsetAt(c.range.start);
        changes.push({ rangeOffset: start, rangeLength: d.offsetAt(c.range.end) - start, text: c.text });
        line = c.range.start.line; // the last change's start is a line of the final text too
      } else {
        changes.push({ rangeOffset: 0, rangeLength: d.getText().length, text: c.text });
        whole = true;
      }
      TextDocument.update(d, [c], t.version); // in place: the next change's positions are in this text
    }
    void host?.handle({ type: 'change', uri: t.uri, version: t.version, prevVersion, changes });
    // the workspace context: the edit is noted when another document next gathers (one edit per place, not per key)
    const path = sourcePath(d);
    if (path && whole) tracker.updateText(path, d.getText());
    if (path && line !== null) {
      const pending = pendingEdits.get(t.uri);
      if (pending !== undefined && Math.abs(pending - line) > EDIT_JUMP_LINES) tracker.noteEdit(path, d.getText(), Math.min(pending, d.lineCount - 1));
      pendingEdits.delete(t.uri);
      pendingEdits.set(t.uri, line);
    }
  });

  conn.onDidCloseTextDocument(({ textDocument: t }) => {
    // a closed file's chunks stay in the tracker (its recent edits are likely what the next completion uses) until newer
    // notes push them out, its pending edit noted now; what the client or the server sent for it goes
    const d = docs.get(t.uri);
    const line = pendingEdits.get(t.uri);
    const path = d && sourcePath(d);
    if (path && line !== undefined) tracker.noteEdit(path, d.getText(), Math.min(line, d.lineCount - 1));
    pendingEdits.delete(t.uri);
    clientContext.delete(t.uri);
    sentContext.delete(t.uri);
    docs.delete(t.uri);
    void host?.handle({ type: 'close', uri: t.uri });
  });

  /** Deleted files are forgotten (clients that watch files send these). */
  conn.onDidChangeWatchedFiles(({ changes }) => {
    for (const c of changes) {
      const place = c.type === FileChangeType.Deleted ? workspacePlace(c.uri, folders) : null;
      if (place) tracker.forget(place.path);
    }
  });

  conn.onNotification('pie/context', (params: unknown) => {
    const p = parseContextParams(params);
    if (typeof p === 'string') return conn.console.warn(`pie/context ignored: ${p}`);
    clientContext.set(p.textDocument.uri, { path: p.path, chunks: p.chunks });
    // sent at once, so that the engine may encode it before the completion asks
    const d = docs.get(p.textDocument.uri);
    if (d) sendContext(d.uri, contextFor(d, 0));
  });

  conn.languages.inlineCompletion.on(async (params, token) => {
    const d = docs.get(params.textDocument.uri);
    if (!d) return { items: [] };
    const p = ((params as { pie?: PieRequestFields }).pie ?? {}) as PieRequestFields;
    const ours = (params as { pie?: unknown }).pie !== undefined;
    if (p.version !== undefined && p.version !== d.version) {
      return { items: [], pie: { type: 'noCompletion', id: 0, reason: 'stale', message: `version ${p.version} is not the server's ${d.version}` } };
    }
    const offset = d.offsetAt(params.position);
    // the position as asked: a didChange that arrives while the engine works moves the text under it
    const [version, at] = [d.version, d.positionAt(offset)];
    sendContext(d.uri, contextFor(d, at.line));
    const m = await ask<Extract<EngineMessage, { type: 'completion' | 'noCompletion' }>>(
      (id) => ({
        type: 'complete',
        id,
        uri: d.uri,
        version: d.version,
        offset,
        maxTokens: p.maxTokens ?? settings.maxTokens,
        maxLines: p.maxLines ?? settings.maxLines,
        ...(p.sentAt !== undefined ? { sentAt: p.sentAt } : {}),
        ...((p.maxMs ?? settings.maxPredictMs) > 0 ? { maxMs: p.maxMs ?? settings.maxPredictMs } : {}),
      }),
      token,
    );
    if (m.type === 'noCompletion') {
      if (m.reason === 'cancelled' && !ours) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
      return { items: [], ...(ours ? { pie: m } : {}) };
    }
    last = m.stats;
    if (docs.get(d.uri)?.version !== version) {
      // the document moved on while the engine worked: the text was completed where it no longer is
      return { items: [], ...(ours ? { pie: { type: 'noCompletion', id: m.id, reason: 'stale', message: `the document changed (version ${docs.get(d.uri)?.version ?? 'closed'}) while version ${version} was completed` } } : {}) };
    }
    // an accepted item runs its command: the engine hears of it (our own client sends pie/accepted itself)
    const command = { title: 'PIE: completion accepted', command: ACCEPT_COMMAND, arguments: [{ uri: d.uri, id: m.id }] };
    const items = m.text ? [{ insertText: m.text, range: { start: at, end: at }, ...(ours ? {} : { command }) }] : [];
    const answer: PieAnswer = { type: 'completion', id: m.id, text: m.text, stopReason: m.stopReason, version: m.version, stats: m.stats };
    return { items, ...(ours ? { pie: answer } : {}) };
  });

  const accepted = (a: { uri?: unknown; id?: unknown } | undefined) => {
    if (typeof a?.uri === 'string' && typeof a.id === 'number') void host?.handle({ type: 'accepted', uri: a.uri, id: a.id });
  };
  conn.onNotification('pie/accepted', accepted);
  conn.onExecuteCommand((p) => {
    if (p.command === ACCEPT_COMMAND) accepted(p.arguments?.[0] as { uri?: unknown; id?: unknown } | undefined);
    return null;
  });

  conn.onRequest('pie/resync', async (params: { textDocument: { uri: string } }, token) => {
    const uri = params?.textDocument?.uri;
    if (!uri || !docs.has(uri)) throw new ResponseError(LSPErrorCodes.RequestFailed, `pie/resync: ${uri ?? 'no document'} is not open`);
    const m = await ask<Extract<EngineMessage, { type: 'resynced' | 'noCompletion' }>>((id) => ({ type: 'resync', id, uri }), token);
    if (m.type === 'noCompletion') throw new ResponseError(LSPErrorCodes.RequestFailed, `pie/resync: ${m.message ?? m.reason}`);
    return { ms: m.ms, tokensEncoded: m.tokensEncoded };
  });

  conn.onRequest('pie/state', (params: { textDocument?: { uri: string } } | null): PieState => {
    const server = host?.server ?? null;
    const uri = params?.textDocument?.uri ?? null;
    return {
      host: 'node',
      engine: engineState,
      documents: server ? server.documents().map(({ uri, version, text, cached }) => ({ uri, version, length: text.length, cached })) : [],
      cache: server ? server.cacheView(uri) : null,
      last,
      acceptances: server ? { ...server.acceptances } : { matched: 0, unmatched: 0 },
      context: (uri && sentContext.get(uri)?.context) || null,
    };
  });

  if (o.testHooks || process.env.PIE_TEST_HOOKS === '1') {
    conn.onRequest('pie/loseDevice', () => {
      host?.loseDevice();
      return null;
    });
  }

  conn.onShutdown(() => {
    host?.dispose();
    host = null;
  });
  conn.listen();
  return conn;
}
