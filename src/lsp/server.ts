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
// - Loading is reported with window/workDoneProgress; unavailability and notices with window/showMessage too.
// - initializationOptions: {model?, maxTokens?, maxLines?, maxPredictMs?, fim?, maxContext?, cacheBudgetMiB?,
//   resyncThreshold?, idleMs?, refreshWindow?, inlineCompletionProvider?, showMessages?}; workspace/didChangeConfiguration's
//   `settings.pie` takes the same keys (but the model).
import { createConnection, type Connection, type InitializeResult, LSPErrorCodes, MessageType, ResponseError, ShowMessageNotification, TextDocumentSyncKind, type WorkDoneProgressServerReporter } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { acquireNodeGpu } from '../engine/gpu/node.js';
import { EngineHost } from '../engine/host.js';
import { fileSource } from '../engine/model/node-source.js';
import { DEFAULT_SETTINGS } from '../engine/server.js';
import { fimFor, FIM_SETTINGS, type FimSetting } from '../models/known.js';
import type { CacheView, CompletionStats, EngineMessage, EngineSettings, HostMessage, WireChange } from '../protocol/messages.js';
import { basename } from 'node:path';

/** The settings a client may give (initializationOptions, or didChangeConfiguration's settings.pie). */
export interface ServerSettings extends Omit<EngineSettings, 'fim'> {
  maxTokens: number;
  maxLines: number;
  /** The first answer's time budget from the engine taking the request (0: none); see the pie.maxPredictMs setting. */
  maxPredictMs: number;
  fim: FimSetting;
}

export const DEFAULT_SERVER_SETTINGS: ServerSettings = { ...DEFAULT_SETTINGS, fim: 'auto', maxTokens: 32, maxLines: 4, maxPredictMs: 0 };

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
  let engineState: PieState['engine'] = { type: 'booting', stage: 'waiting for initialize' };
  let last: CompletionStats | null = null;
  let nextId = 1;
  const waiting = new Map<number, (m: EngineMessage) => void>();
  let progress: WorkDoneProgressServerReporter | null = null;
  let advertise = true;

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
    settings = next as unknown as ServerSettings;
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
      token?.onCancellationRequested(() => void host?.handle({ type: 'cancel', id }));
      if (!host) return resolve({ type: 'noCompletion', id, reason: 'error', message: 'the engine is not ready' } as T);
      void host.handle(make(id));
      if (token && 'isCancellationRequested' in token && token.isCancellationRequested) void host.handle({ type: 'cancel', id });
    });
  };

  conn.onInitialize((params): InitializeResult => {
    const init = (params.initializationOptions ?? {}) as Record<string, unknown>;
    if (typeof init.model === 'string' && init.model) modelSpec = init.model;
    if (init.inlineCompletionProvider === false) advertise = false;
    if (init.showMessages === false) showMessages = false;
    merge(init);
    return {
      capabilities: {
        positionEncoding: 'utf-16',
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        ...(advertise ? { inlineCompletionProvider: true, executeCommandProvider: { commands: [ACCEPT_COMMAND] } } : {}),
      },
      serverInfo: { name: 'pie-complete' },
    };
  });

  conn.onInitialized(async () => {
    if (conn.window) progress = await conn.window.createWorkDoneProgress().catch(() => null);
    progress?.begin('PIE', 0, 'finding the model', false);
    try {
      modelPath = await o.resolveModel(modelSpec);
    } catch (e) {
      return send({ type: 'unavailable', reason: 'model-unreadable', message: (e as Error).message });
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
    await host.start();
  });

  conn.onDidChangeConfiguration((p) => {
    const s = (p.settings as { pie?: unknown } | null)?.pie;
    if (!s) return;
    merge(s);
    void host?.handle({ type: 'settings', settings: engineSettings() });
  });

  conn.onDidOpenTextDocument(({ textDocument: t }) => {
    docs.set(t.uri, TextDocument.create(t.uri, t.languageId, t.version, t.text));
    void host?.handle({ type: 'open', uri: t.uri, version: t.version, text: t.text, cursor: 0 });
  });

  conn.onDidChangeTextDocument(({ textDocument: t, contentChanges }) => {
    const d = docs.get(t.uri);
    if (!d) return;
    const prevVersion = d.version;
    const changes: WireChange[] = [];
    for (const c of contentChanges) {
      if ('range' in c) {
        const start = d.offsetAt(c.range.start);
        changes.push({ rangeOffset: start, rangeLength: d.offsetAt(c.range.end) - start, text: c.text });
      } else {
        changes.push({ rangeOffset: 0, rangeLength: d.getText().length, text: c.text });
      }
      TextDocument.update(d, [c], t.version); // in place: the next change's positions are in this text
    }
    void host?.handle({ type: 'change', uri: t.uri, version: t.version, prevVersion, changes });
  });

  conn.onDidCloseTextDocument(({ textDocument: t }) => {
    docs.delete(t.uri);
    void host?.handle({ type: 'close', uri: t.uri });
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
    const at = d.positionAt(offset);
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
