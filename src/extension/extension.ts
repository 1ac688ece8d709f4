// The extension host entry: the only code that imports 'vscode'. activate() wires a few objects; every registration
// goes into context.subscriptions so that deactivation disposes it.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_MODEL, fetchVerified, KNOWN_MODELS } from '../models/known.js';
import { readConfig } from './config.js';
import { ContextFeed } from './context.js';
import { DocumentStream } from './documents.js';
import { EngineClient, VIEW_ID } from './engine.js';
import { EngineSwitch } from './engine-switch.js';
import { localModelPath, selectModel } from './models.js';
import { CompletionProvider } from './provider.js';
import { breakdown, StatusBar } from './status.js';

export function activate(context: vscode.ExtensionContext): void {
  let config = readConfig();
  const view = new EngineClient(context.extensionUri, config.engine);
  const engine = new EngineSwitch(view, context.extensionPath, config.engine, config.engineHost);
  const status = new StatusBar();
  const docs = new DocumentStream(engine);
  // the extension's log ("PIE" in the Output view): the workspace context sent and what each completion saw of it
  const log = vscode.window.createOutputChannel('PIE', { log: true });
  const workspaceContext = new ContextFeed(engine, docs, () => config, log);
  const provider = new CompletionProvider(engine, docs, () => config, workspaceContext);
  provider.onShown = (shown) => {
    status.completed(shown, provider.counts);
    engine.post({ type: 'shown', source: shown.source, endToEndMs: shown.endToEndMs, breakdown: shown.stats ? breakdown(shown, shown.stats) : '' });
  };
  provider.onFailed = (message, kind) => status.failed(message, kind);

  // Each change of pie.modelPath starts a load; one that a later change overtook (a download still running) is dropped.
  let loads = 0;
  const loadModel = async () => {
    const n = ++loads;
    const spec = config.modelPath;
    try {
      const path = spec ? await localModelPath(spec, config) : await defaultModel(context.extensionPath, context.globalStorageUri.fsPath);
      if (n !== loads) return;
      await engine.setModel(path, basename(path));
    } catch (e) {
      if (n !== loads) return;
      const message = (e as Error).message;
      // a model already running keeps running: only the first load leaves the engine without one
      if (engine.state.kind === 'ready') {
        void vscode.window.showErrorMessage(`PIE: ${spec} was not loaded, ${engine.state.model.name} stays in use: ${message}`, 'Select model').then((pick) => pick && vscode.commands.executeCommand('pie.selectModel'));
      } else status.state({ kind: 'unavailable', reason: 'model-unreadable', message });
    }
  };

  context.subscriptions.push(
    engine,
    view,
    provider,
    status,
    docs,
    workspaceContext,
    log,
    vscode.window.registerWebviewViewProvider(VIEW_ID, view, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    engine.onState((s) => {
      status.fallback = engine.fellBackBecause;
      status.state(s);
      if (s.kind === 'unavailable' && s.reason !== 'cancelled') {
        // by kind: another model helps where this one is the problem; the engine panel says more about the GPU
        const modelProblem = ['out-of-memory', 'model-unreadable', 'model-unsupported', 'context-too-long'].includes(s.reason);
        const actions = modelProblem ? ['Select model', 'Show engine'] : ['Show engine'];
        const show = s.reason === 'device-lost' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
        void show(`PIE: ${s.message}`, ...actions).then((pick) => {
          if (pick === 'Select model') void vscode.commands.executeCommand('pie.selectModel');
          if (pick === 'Show engine') void view.reveal(false);
        });
      }
    }),
    engine.onMessage((m) => {
      if (m.type === 'notice') void vscode.window.showInformationMessage(`PIE: ${m.message}`);
    }),
    vscode.commands.registerCommand('pie.showEngine', () => view.reveal(false)),
    vscode.commands.registerCommand('pie.resync', async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) return void vscode.window.showWarningMessage('PIE: open a file to re-sync its cache.');
      if (engine.state.kind !== 'ready') return void vscode.window.showWarningMessage(`PIE: the engine is not ready (${engine.state.kind}).`);
      const doc = editor.document;
      docs.ensureOpen(doc, doc.offsetAt(editor.selection.active));
      const r = await engine.request((id) => ({ type: 'resync', id, uri: doc.uri.toString() }), 120_000);
      if (r?.type !== 'resynced') return void vscode.window.showWarningMessage(`PIE: the re-sync did not complete${r?.type === 'noCompletion' && r.message ? `: ${r.message}` : '.'}`);
      status.resynced(r.tokensEncoded, r.ms);
      void vscode.window.showInformationMessage(`PIE: re-encoded ${r.tokensEncoded} tokens in ${r.ms.toFixed(0)} ms.`);
    }),
    vscode.commands.registerCommand('pie.selectModel', async () => {
      try {
        const value = await selectModel(config, engine.state);
        if (value !== undefined) await vscode.workspace.getConfiguration('pie').update('modelPath', value, vscode.ConfigurationTarget.Global);
      } catch (e) {
        void vscode.window.showErrorMessage(`PIE: ${(e as Error).message}`);
      }
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('pie')) return;
      const before = config;
      config = readConfig();
      engine.updateSettings(config.engine);
      if (config.engineHost !== before.engineHost) void engine.setHost(config.engineHost);
      if (config.modelPath !== before.modelPath) void loadModel();
    }),
  );

  // The view is revealed at once (its webview must exist for the engine to run), while the model is still being found:
  // the focus returns to the editor before the user can have opened anything (a later reveal would close an open
  // quick pick). The webview asks for init when it has loaded; setModel reloads it if the model comes later.
  // A test hook: the engine's GPU device destroyed as a driver reset would (the engine must recover by itself).
  if (process.env.PIE_TEST_HOOKS === '1') {
    context.subscriptions.push(vscode.commands.registerCommand('pie.test.loseDevice', () => engine.loseDevice()));
    void vscode.commands.executeCommand('setContext', 'pie.testHooks', true);
  }

  void view.reveal(true);
  void loadModel();
}

export function deactivate(): void {}

/** The default model: the file shipped inside the extension when it is bundled, else in the extension's storage,
 *  downloaded once with its sha256 checked. */
async function defaultModel(extensionDir: string, storage: string): Promise<string> {
  const m = KNOWN_MODELS[DEFAULT_MODEL]!;
  if (m.bundled) return join(extensionDir, m.bundled);
  const path = join(storage, 'models', m.file);
  if (existsSync(path)) return path;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `PIE: downloading ${m.file}` }, () => fetchVerified(m, path));
  return path;
}
