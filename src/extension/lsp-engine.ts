// The engine in the language server (dist/server.mjs: src/lsp/server.ts on Dawn in Node), reached through
// vscode-languageclient: for VS Code builds whose webviews have no WebGPU (pie.engineHost). The client syncs the
// documents itself (LSP didOpen / incremental didChange / didClose); completions and re-syncs go as requests, their
// answers carrying the engine's own figures (the `pie` fields), so the provider, the status bar and the panel see the
// same messages as from the webview. A server that stops is restarted (with a message), MAX_RESTARTS times within
// RESTART_WINDOW_MS at most; the editor keeps working meanwhile, without completions.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { CloseAction, ErrorAction, LanguageClient, type LanguageClientOptions, State, TransportKind } from 'vscode-languageclient/node';
import type { PieAnswer, PieRequestFields, PieState } from '../lsp/server.js';
import type { CacheView, EngineMessage, EngineSettings, HostMessage } from '../protocol/messages.js';
import type { Engine, EngineState } from './engine.js';

export const MAX_RESTARTS = 4;
export const RESTART_WINDOW_MS = 3 * 60_000;

/** Where the packaged Node host is, or why there is none (a package without this platform's Dawn binary). */
export function nodeHost(extensionPath: string): { server: string } | { missing: string } {
  const server = join(extensionPath, 'dist', 'server.mjs');
  const platform = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
  const dawn = join(extensionPath, 'dist', 'webgpu', 'dist', platform, 'dawn.node');
  if (!existsSync(server)) return { missing: `this package has no language server (${server})` };
  if (!existsSync(dawn)) return { missing: `this package has no WebGPU for Node on ${platform} (Dawn's dawn.node); install the PIE package built for ${process.platform}-${process.arch}` };
  return { server };
}

export class LspEngine implements Engine {
  private client: LanguageClient | null = null;
  private nextId = 1;
  /** Our request ids -> the engine's, for the latest completions (pie/accepted). */
  private readonly serverIds = new Map<number, number>();
  private readonly restarts: number[] = [];
  private readonly stateEmitter = new vscode.EventEmitter<EngineState>();
  private readonly messageEmitter = new vscode.EventEmitter<EngineMessage>();
  readonly onState = this.stateEmitter.event;
  readonly onMessage = this.messageEmitter.event;
  state: EngineState = { kind: 'starting', detail: 'starting the language server' };
  /** The editor's active document (the panel draws its cache). */
  focused: string | null = null;

  constructor(
    private readonly extensionPath: string,
    private settings: EngineSettings,
  ) {}

  async setModel(path: string, _name: string): Promise<void> {
    await this.stop();
    const host = nodeHost(this.extensionPath);
    if ('missing' in host) return this.setState({ kind: 'unavailable', reason: 'no-adapter', message: `The Node host cannot run: ${host.missing}.` });
    this.setState({ kind: 'starting', detail: 'starting the language server' });
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-remote' }, { scheme: 'vscode-vfs' }],
      // our own provider asks (src/extension/provider.ts): the client must not register a second one; and the
      // extension shows the engine's state itself
      // clientContext: the extension gathers the workspace context itself (src/extension/context.ts: trust, files.exclude,
      // pie.context.exclude) and sends it as pie/context; the server adds none of its own
      initializationOptions: { model: path, ...this.settings, inlineCompletionProvider: false, showMessages: false, clientContext: true },
      outputChannelName: 'PIE language server',
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => this.closed(),
      },
    };
    const client = new LanguageClient('pie', 'PIE engine (Node)', { module: host.server, transport: TransportKind.stdio, options: { env: { ...process.env } } }, clientOptions);
    this.client = client;
    client.onNotification('pie/engine', (m: EngineMessage) => this.engineMessage(m));
    try {
      await client.start();
    } catch (e) {
      if (this.client !== client) return;
      this.setState({ kind: 'unavailable', reason: 'internal', message: `The PIE language server did not start: ${(e as Error).message}` });
    }
  }

  updateSettings(settings: EngineSettings): void {
    this.settings = settings;
    if (this.client?.state === State.Running) void this.client.sendNotification('workspace/didChangeConfiguration', { settings: { pie: settings } });
  }

  /** Document events go through the client's own sync; the focus is kept for the panel; accepts go to the server
   *  under its own request id; a document's workspace context goes as `pie/context` (src/lsp/server.ts). */
  post(m: HostMessage): void {
    if (m.type === 'focus') this.focused = m.uri;
    if (m.type === 'context' && this.client?.state === State.Running) {
      void this.client.sendNotification('pie/context', { textDocument: { uri: m.uri }, path: m.path, chunks: m.chunks }).catch(() => undefined);
    }
    const id = m.type === 'accepted' ? this.serverIds.get(m.id) : undefined;
    if (m.type === 'accepted' && id !== undefined) void this.client?.sendNotification('pie/accepted', { uri: m.uri, id });
  }

  async request<T extends EngineMessage>(make: (id: number) => HostMessage, timeoutMs: number, token?: vscode.CancellationToken): Promise<T | null> {
    const client = this.client;
    if (this.state.kind !== 'ready' || !client) return null;
    const m = make(this.nextId++);
    const cts = new vscode.CancellationTokenSource();
    const timer = setTimeout(() => cts.cancel(), timeoutMs);
    const sub = token?.onCancellationRequested(() => cts.cancel());
    try {
      if (m.type === 'complete') {
        const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === m.uri);
        if (!doc || doc.version !== m.version) return { type: 'noCompletion', id: m.id, reason: 'stale' } as T;
        const pie: PieRequestFields = { maxTokens: m.maxTokens, maxLines: m.maxLines, version: m.version, ...(m.maxMs !== undefined ? { maxMs: m.maxMs } : {}), ...(m.sentAt !== undefined ? { sentAt: m.sentAt } : {}) };
        const params = { textDocument: { uri: m.uri }, position: doc.positionAt(m.offset), context: { triggerKind: 2 }, pie };
        const r = (await client.sendRequest('textDocument/inlineCompletion', params, cts.token)) as { pie?: PieAnswer } | null;
        const a = r?.pie;
        if (!a) return null;
        if (a.type === 'completion') {
          this.serverIds.set(m.id, a.id);
          if (this.serverIds.size > 64) this.serverIds.delete(this.serverIds.keys().next().value!);
        }
        const answer: EngineMessage = a.type === 'completion' ? { type: 'completion', id: m.id, uri: m.uri, version: a.version, text: a.text, stopReason: a.stopReason, stats: a.stats } : { ...a, id: m.id };
        this.messageEmitter.fire(answer);
        return answer as T;
      }
      if (m.type === 'resync') {
        const r = (await client.sendRequest('pie/resync', { textDocument: { uri: m.uri } }, cts.token)) as { ms: number; tokensEncoded: number };
        const answer: EngineMessage = { type: 'resynced', id: m.id, uri: m.uri, ms: r.ms, tokensEncoded: r.tokensEncoded };
        this.messageEmitter.fire(answer);
        return answer as T;
      }
      return null;
    } catch {
      return null; // cancelled, timed out, or the server went away
    } finally {
      clearTimeout(timer);
      sub?.dispose();
      cts.dispose();
    }
  }

  /** The engine's state in the server, with a document's cache as the panel draws it. */
  async cacheView(uri: string | null): Promise<CacheView | null> {
    if (!this.client || this.client.state !== State.Running) return null;
    try {
      return ((await this.client.sendRequest('pie/state', uri ? { textDocument: { uri } } : {})) as PieState).cache;
    } catch {
      return null;
    }
  }

  /** Test hook (PIE_TEST_HOOKS=1 in the server's environment): destroys the server's GPU device. */
  async loseDevice(): Promise<void> {
    await this.client?.sendRequest('pie/loseDevice');
  }

  /** Stops the server for good (another model, another host, or the extension going away). */
  async stop(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) await c.stop(5_000).catch(() => c.dispose(1_000).catch(() => undefined));
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
    this.messageEmitter.dispose();
  }

  private engineMessage(m: EngineMessage): void {
    if (m.type === 'booting') this.setState({ kind: 'starting', detail: m.stage, ...(m.fraction !== undefined ? { fraction: m.fraction } : {}) });
    else if (m.type === 'ready') this.setState({ kind: 'ready', host: 'node', device: m.device, cpu: m.cpu, limits: m.limits, model: m.model, loadMs: m.loadMs });
    else if (m.type === 'unavailable') this.setState({ kind: 'unavailable', reason: m.reason, message: m.message });
    this.messageEmitter.fire(m);
  }

  /** The server's process ended on its own (a crash, killed): restarted unless that keeps happening. */
  private closed(): { action: CloseAction; handled: boolean } {
    const now = Date.now();
    this.restarts.push(now);
    while (this.restarts.length && this.restarts[0]! < now - RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length > MAX_RESTARTS) {
      this.setState({ kind: 'unavailable', reason: 'internal', message: `The PIE language server stopped ${this.restarts.length} times within ${RESTART_WINDOW_MS / 60_000} minutes and is not restarted again; "PIE: Select model" or a reload starts it.` });
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    void vscode.window.showWarningMessage('PIE: the engine\'s language server stopped; restarting it.');
    this.setState({ kind: 'starting', detail: 'restarting the language server' });
    return { action: CloseAction.Restart, handled: true };
  }

  private setState(s: EngineState): void {
    this.state = s;
    this.stateEmitter.fire(s);
  }
}
