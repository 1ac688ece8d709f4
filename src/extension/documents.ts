// The stream of document events to the engine, LSP style: a document is opened in the engine with its full text the
// first time a completion needs it, then every change goes as incremental contentChanges with the version it applies
// to; the engine answers a gap with `needOpen`, and the document is sent whole again. Closing it frees its cache.
import * as vscode from 'vscode';
import type { Engine } from './engine.js';

export class DocumentStream implements vscode.Disposable {
  /** Documents the engine holds, and the version it holds. */
  private readonly sent = new Map<string, number>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly engine: Engine) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.workspace.onDidCloseTextDocument((d) => this.closed(d)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.cursor(e)),
      vscode.window.onDidChangeActiveTextEditor((e) => this.engine.post({ type: 'focus', uri: e ? e.document.uri.toString() : null })),
      engine.onMessage((m) => {
        if (m.type === 'needOpen') this.sent.delete(m.uri); // re-sent whole with the next request
        if (m.type !== 'ready') return;
        // a (re)started engine holds no documents, but those it re-opened itself (a new device after a loss: with
        // the events that came meanwhile, it holds what was sent)
        const restored = new Set((m.restored ?? []).map((d) => d.uri));
        for (const uri of [...this.sent.keys()]) if (!restored.has(uri)) this.sent.delete(uri);
        const active = vscode.window.activeTextEditor;
        this.engine.post({ type: 'focus', uri: active ? active.document.uri.toString() : null });
      }),
    );
  }

  /** Makes sure the engine holds this version of the document (sends it whole if not). */
  ensureOpen(doc: vscode.TextDocument, cursor: number): void {
    const uri = doc.uri.toString();
    if (this.sent.get(uri) === doc.version) return;
    this.sent.set(uri, doc.version);
    this.engine.post({ type: 'open', uri, version: doc.version, text: doc.getText(), cursor });
  }

  /** Whether the engine holds the document's current version. */
  isOpen(doc: vscode.TextDocument): boolean {
    return this.sent.get(doc.uri.toString()) === doc.version;
  }

  /** Forgets what the engine holds for the document, so that the next request sends it whole. */
  forget(doc: vscode.TextDocument): void {
    this.sent.delete(doc.uri.toString());
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private changed(e: vscode.TextDocumentChangeEvent): void {
    const uri = e.document.uri.toString();
    const prev = this.sent.get(uri);
    if (prev === undefined || e.contentChanges.length === 0) return;
    this.sent.set(uri, e.document.version);
    this.engine.post({
      type: 'change',
      uri,
      version: e.document.version,
      prevVersion: prev,
      changes: e.contentChanges.map((c) => ({ rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text })),
    });
  }

  private closed(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    if (!this.sent.delete(uri)) return;
    this.engine.post({ type: 'close', uri });
  }

  private cursor(e: vscode.TextEditorSelectionChangeEvent): void {
    const doc = e.textEditor.document;
    const uri = doc.uri.toString();
    if (this.sent.get(uri) !== doc.version || !e.selections[0]) return;
    this.engine.post({ type: 'cursor', uri, version: doc.version, offset: doc.offsetAt(e.selections[0].active) });
  }
}
