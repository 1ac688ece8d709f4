// Workspace context from VS Code: feeds a ContextTracker (src/context/tracker.ts) with what the user does in other files
// of the workspace, and before each completion sends the engine the chunks the tracker picks for that document
// (`context`: replaces the document's previous context; sent only when it differs from what was last sent).
//
// Sources: edits (the changed line; noted after a short pause, not on every key), cursor jumps (more than JUMP_LINES
// lines, or into another file), saves, the visible ranges of visible editors, the clipboard (read when a completion is
// asked, used from the next one on; not in a browser, where reading it would ask the user for permission), and the
// definitions of identifiers near the cursor (VS Code's definition providers, when the cursor's line changes,
// debounced, each lookup capped at DEFINITION_TIMEOUT_MS; never awaited by a completion).
//
// Privacy, always: nothing while the workspace is untrusted or pie.context.tokens is 0; only `file` and `vscode-remote`
// documents inside a workspace folder; never a file matched by files.exclude or pie.context.exclude (checked when a
// file is noted and again on every chunk sent); never a file over MAX_FILE_CHARS. The current document is the
// engine's own; the tracker never offers its chunks as context.
//
// Gathering is synchronous and cheap (the tracker holds chunks, not files); nothing here waits on VS Code before a
// completion. When the user pauses (IDLE_SYNC_MS after the last thing noted), the active document's context is sent
// ahead of its next completion if the engine holds the document, so that the engine encodes it in idle time.
import * as vscode from 'vscode';
import { makeExcluder } from '../context/exclude.js';
import { ContextTracker, type LocatedRange } from '../context/tracker.js';
import type { ContextChunk } from '../context/types.js';
import type { EngineMessage } from '../protocol/messages.js';
import { type Config, languageEnabled } from './config.js';
import type { DocumentStream } from './documents.js';
import type { Engine } from './engine.js';

/** Files larger than this (in characters, ~1 MiB) are never context. */
export const MAX_FILE_CHARS = 1 << 20;
/** A cursor move of more than this many lines counts as a jump (a visit). */
export const JUMP_LINES = 8;
const SCHEMES = new Set(['file', 'vscode-remote']);
const EDIT_FLUSH_MS = 300;
const VISIBLE_DEBOUNCE_MS = 150;
const DEFINITION_DEBOUNCE_MS = 250;
export const DEFINITION_TIMEOUT_MS = 1_000;
/** Identifiers of the lines around the cursor looked up, and files whose definitions are kept, per line. */
const DEFINITION_LOOKUPS = 4;
const DEFINITION_FILES = 4;
/** Lines of a definition taken when its provider gives only the name's range. */
const DEFINITION_LINES = 24;
const CLIPBOARD_INTERVAL_MS = 1_000;
const IDLE_SYNC_MS = 500;
/** No context is sent in idle time this soon after a completion was asked: its rest may still be decoding in the
 *  background, continuing the same prompt (another context would make the engine start over). */
const IDLE_AFTER_REQUEST_MS = 3_000;
const CLIPBOARD_MAX_CHARS = 16_384;
/** Words never looked up: too common to name a definition in another file. */
const KEYWORDS = new Set(
  ('if else elif for while do return def class function const let var import from export default new this self true false ' +
    'none null undefined and or not in is as with try except catch finally raise throw pass break continue async await ' +
    'yield lambda public private protected static void int str float bool string number boolean any type interface ' +
    'extends implements super print len range list dict set tuple of').split(' '),
);

/** A ContextChunk as the log names it: path:lines (1-based), or the clipboard. */
export function chunkName(c: { path: string; startLine: number; endLine: number }): string {
  return c.path ? `${c.path}:${c.startLine + 1}-${c.endLine}` : 'clipboard';
}

export class ContextFeed implements vscode.Disposable {
  private tracker = new ContextTracker();
  /** What was last sent for each document (ids and texts), so that the same context is not sent again. */
  private readonly sent = new Map<string, string>();
  /** Edits not yet noted: the document and its last changed line, noted EDIT_FLUSH_MS after the last change. */
  private readonly pendingEdits = new Map<string, { doc: vscode.TextDocument; line: number }>();
  private editTimer: ReturnType<typeof setTimeout> | null = null;
  private visibleTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly visiblePaths = new Set<string>();
  /** Where the cursor was (a jump is a visit). */
  private place: { uri: string; line: number } | null = null;
  private definitionTimer: ReturnType<typeof setTimeout> | null = null;
  private definitionPlace: { uri: string; line: number } | null = null;
  private definitionRun = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the provider last synced before a request (performance.now()). */
  private lastAsked = -Infinity;
  private clipboard = '';
  private clipboardAt = 0;
  private clipboardBusy = false;
  /** files.exclude per workspace folder, and pie.context.exclude, as tests of folder-relative paths. */
  private readonly folderExcluders = new Map<string, (rel: string) => boolean>();
  private ownExcluder: (rel: string) => boolean;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly docs: DocumentStream,
    private readonly config: () => Config,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.ownExcluder = makeExcluder(config().contextExclude);
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.workspace.onDidSaveTextDocument((d) => this.saved(d)),
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.sent.delete(d.uri.toString());
        this.pendingEdits.delete(d.uri.toString());
      }),
      vscode.workspace.onDidDeleteFiles((e) => e.files.forEach((u) => this.forgetUri(u))),
      vscode.workspace.onDidRenameFiles((e) => e.files.forEach((f) => this.forgetUri(f.oldUri))),
      vscode.window.onDidChangeTextEditorSelection((e) => this.selected(e.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((e) => e && this.selected(e)),
      vscode.window.onDidChangeVisibleTextEditors(() => this.visibleSoon()),
      vscode.window.onDidChangeTextEditorVisibleRanges(() => this.visibleSoon()),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.visibleSoon()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        const exclude = e.affectsConfiguration('files.exclude') || e.affectsConfiguration('pie.context.exclude');
        const tokens = e.affectsConfiguration('pie.context.tokens');
        if (!exclude && !tokens) return;
        // after every listener of this event: activate()'s re-reads the settings that config() returns
        queueMicrotask(() => {
          // what is excluded now must not stay in the tracker, nor anything noted before the context was turned off
          if (exclude || !this.on) this.reset();
          else this.visibleSoon();
        });
      }),
      engine.onMessage((m) => this.engineMessage(m)),
    );
    // the editor open at activation counts as visited
    if (vscode.window.activeTextEditor) this.selected(vscode.window.activeTextEditor);
    this.visibleSoon();
  }

  /** Whether context is taken at all: a trusted workspace, and a budget. */
  get on(): boolean {
    return vscode.workspace.isTrusted && this.config().engine.contextTokens > 0;
  }

  /** A completion is being asked for: the clipboard is read (in the background; the next completion sees it). */
  prepare(): void {
    if (this.on) this.readClipboard();
  }

  /**
   * Sends the engine the context for `doc` with the cursor on `line`, when it differs from what was last sent for it.
   * Call after the document is open in the engine and before the completion request.
   */
  sync(doc: vscode.TextDocument, line: number): void {
    this.lastAsked = performance.now();
    this.send(doc, line, this.lastAsked);
  }

  private send(doc: vscode.TextDocument, line: number, t0 = performance.now()): void {
    const uri = doc.uri.toString();
    const path = this.currentPath(doc);
    const chunks = this.gather(doc, path, line);
    // the same chunks in another order are not sent again: the engine keeps the chunks it holds where they are
    const key = chunks.map((c) => `${c.id}\u0000${c.path}\u0000${c.text}`).sort().join('\u0001');
    if ((this.sent.get(uri) ?? '') === key) return;
    this.sent.set(uri, key);
    this.engine.post({ type: 'context', uri, path, chunks });
    const what = chunks.length ? `${chunks.length} chunks: ${chunks.map((c) => `${chunkName(c)} (${c.source})`).join(', ')}` : 'none';
    this.log.info(`context for ${path}: ${what} (gathered and sent in ${(performance.now() - t0).toFixed(2)} ms)`);
  }

  /** The chunks for `doc` (best first), every one checked against the privacy rules again. */
  gather(doc: vscode.TextDocument, path: string, line: number): ContextChunk[] {
    if (!this.on) return [];
    const uri = doc.uri.toString();
    // other documents' edits are noted now; this document's own wait (its chunks are not context for itself)
    for (const [u, p] of [...this.pendingEdits]) if (u !== uri) this.noteEdit(u, p);
    const chunks = this.tracker.gather({ path, text: doc.getText(), line }, this.config().engine.contextTokens);
    return chunks.filter((c) => c.path === '' || (c.path !== path && !this.excludedPath(c.path)));
  }

  /** Sends the active document's context once the user pauses, when the engine holds the document (see the header). */
  private idleSoon(delay = IDLE_SYNC_MS): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const wait = this.lastAsked + IDLE_AFTER_REQUEST_MS - performance.now();
      if (wait > 0) return this.idleSoon(wait);
      const editor = vscode.window.activeTextEditor;
      const cfg = this.config();
      if (!editor || this.engine.state.kind !== 'ready' || !cfg.enabled || !languageEnabled(cfg, editor.document.languageId)) return;
      if (this.docs.isOpen(editor.document)) this.send(editor.document, editor.selection.active.line);
    }, delay);
  }

  dispose(): void {
    for (const t of [this.editTimer, this.visibleTimer, this.definitionTimer, this.idleTimer]) if (t) clearTimeout(t);
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  // ---- what may be context ----

  /** The workspace-relative path of a document that may be context, or null (see the header's privacy rules). */
  private sourcePath(doc: vscode.TextDocument): string | null {
    if (!this.on || doc.isClosed || doc.lineCount === 0) return null;
    if (doc.offsetAt(new vscode.Position(doc.lineCount, 0)) > MAX_FILE_CHARS) return null;
    return this.uriPath(doc.uri);
  }

  private uriPath(uri: vscode.Uri): string | null {
    if (!SCHEMES.has(uri.scheme)) return null;
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    if (!folder) return null;
    if (this.excluded(vscode.workspace.asRelativePath(uri, false), folder)) return null;
    return vscode.workspace.asRelativePath(uri);
  }

  /** The document's path as the prompt names it: workspace-relative, else its file name. */
  private currentPath(doc: vscode.TextDocument): string {
    if (vscode.workspace.getWorkspaceFolder(doc.uri)) return vscode.workspace.asRelativePath(doc.uri);
    return doc.uri.path.slice(doc.uri.path.lastIndexOf('/') + 1);
  }

  private excluded(rel: string, folder: vscode.WorkspaceFolder): boolean {
    const key = folder.uri.toString();
    let files = this.folderExcluders.get(key);
    if (!files) {
      files = makeExcluder(vscode.workspace.getConfiguration('files', folder.uri).get<Record<string, unknown>>('exclude', {}) ?? {});
      this.folderExcluders.set(key, files);
    }
    return files(rel) || this.ownExcluder(rel);
  }

  /** A chunk's path (as uriPath gave it) checked again: in a multi-root workspace it starts with its folder's name. */
  private excludedPath(path: string): boolean {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 1) return this.excluded(path, folders[0]!);
    const f = folders.find((x) => path.startsWith(`${x.name}/`));
    // a path of no folder of this workspace: not sent
    return !f || this.excluded(path.slice(f.name.length + 1), f);
  }

  /** Settings changed: excluded files and everything noted go (a file excluded now must not stay in the tracker). */
  private reset(): void {
    this.folderExcluders.clear();
    this.ownExcluder = makeExcluder(this.config().contextExclude);
    this.tracker = new ContextTracker();
    this.pendingEdits.clear();
    this.visiblePaths.clear();
    this.clipboard = '';
    this.visibleSoon();
  }

  private forgetUri(uri: vscode.Uri): void {
    this.pendingEdits.delete(uri.toString());
    if (vscode.workspace.getWorkspaceFolder(uri)) this.tracker.forget(vscode.workspace.asRelativePath(uri));
  }

  // ---- the sources ----

  private changed(e: vscode.TextDocumentChangeEvent): void {
    const first = e.contentChanges[0];
    if (!first || !this.on || !SCHEMES.has(e.document.uri.scheme)) return;
    this.pendingEdits.set(e.document.uri.toString(), { doc: e.document, line: first.range.start.line });
    if (this.editTimer) clearTimeout(this.editTimer);
    this.editTimer = setTimeout(() => {
      this.editTimer = null;
      for (const [u, p] of [...this.pendingEdits]) this.noteEdit(u, p);
      this.idleSoon();
    }, EDIT_FLUSH_MS);
  }

  private noteEdit(uri: string, p: { doc: vscode.TextDocument; line: number }): void {
    this.pendingEdits.delete(uri);
    const path = this.sourcePath(p.doc);
    if (path) this.tracker.noteEdit(path, p.doc.getText(), Math.min(p.line, p.doc.lineCount - 1));
  }

  private saved(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    const pending = this.pendingEdits.get(uri);
    this.pendingEdits.delete(uri);
    const path = this.sourcePath(doc);
    if (!path) return;
    const editor = vscode.window.activeTextEditor;
    const line = pending?.line ?? (editor?.document === doc ? editor.selection.active.line : 0);
    this.tracker.noteSave(path, doc.getText(), Math.min(line, doc.lineCount - 1));
    this.idleSoon();
  }

  /** The cursor moved: a jump (or another file) is a visit; a new line of the active editor looks up definitions. */
  private selected(editor: vscode.TextEditor): void {
    if (!this.on) return;
    const doc = editor.document;
    const uri = doc.uri.toString();
    const line = editor.selection.active.line;
    const prev = this.place;
    this.place = { uri, line };
    if (!prev || prev.uri !== uri || Math.abs(prev.line - line) > JUMP_LINES) {
      const path = this.sourcePath(doc);
      if (path) this.tracker.noteVisit(path, doc.getText(), line);
    }
    this.idleSoon();
    if (editor === vscode.window.activeTextEditor && (this.definitionPlace?.uri !== uri || this.definitionPlace.line !== line)) {
      this.definitionPlace = { uri, line };
      if (this.definitionTimer) clearTimeout(this.definitionTimer);
      this.definitionTimer = setTimeout(() => {
        this.definitionTimer = null;
        void this.lookUpDefinitions(editor);
      }, DEFINITION_DEBOUNCE_MS);
    }
  }

  private visibleSoon(): void {
    if (this.visibleTimer) clearTimeout(this.visibleTimer);
    this.visibleTimer = setTimeout(() => {
      this.visibleTimer = null;
      this.noteVisible();
    }, VISIBLE_DEBOUNCE_MS);
  }

  /** The visible ranges of every visible editor of a file that may be context; those no longer visible go. */
  private noteVisible(): void {
    const now = new Set<string>();
    if (this.on) {
      for (const editor of vscode.window.visibleTextEditors) {
        const path = this.sourcePath(editor.document);
        if (!path || now.has(path) || !editor.visibleRanges.length) continue;
        now.add(path);
        this.tracker.setVisible(path, editor.document.getText(), editor.visibleRanges.map((r) => ({ startLine: r.start.line, endLine: r.end.line + 1 })));
      }
    }
    for (const p of this.visiblePaths) if (!now.has(p)) this.tracker.clearVisible(p);
    this.visiblePaths.clear();
    for (const p of now) this.visiblePaths.add(p);
    this.idleSoon();
  }

  /** Read at most once a second, in the background; the next completion sees it. */
  private readClipboard(): void {
    // In a browser (code-server, vscode.dev) reading the clipboard without a user gesture asks for a permission: not
    // while the user types.
    if (vscode.env.uiKind === vscode.UIKind.Web || this.clipboardBusy || Date.now() - this.clipboardAt < CLIPBOARD_INTERVAL_MS) return;
    this.clipboardBusy = true;
    this.clipboardAt = Date.now();
    void Promise.resolve(vscode.env.clipboard.readText())
      .then((text) => {
        const capped = text.slice(0, CLIPBOARD_MAX_CHARS);
        if (capped === this.clipboard || !this.on) return;
        this.clipboard = capped;
        this.tracker.noteClipboard(capped);
        this.idleSoon();
      })
      .catch(() => undefined)
      .finally(() => (this.clipboardBusy = false));
  }

  /** The definitions of a few identifiers of the lines around the cursor, from VS Code's definition providers, each
   *  lookup given DEFINITION_TIMEOUT_MS; the lookups of a line the cursor has left are dropped. */
  private async lookUpDefinitions(editor: vscode.TextEditor): Promise<void> {
    if (!this.on || editor !== vscode.window.activeTextEditor) return;
    const run = ++this.definitionRun;
    const doc = editor.document;
    const line = editor.selection.active.line;
    const names = identifiersNear(doc, editor.selection.active, DEFINITION_LOOKUPS);
    const deadline = new Promise<null>((resolve) => setTimeout(() => resolve(null), DEFINITION_TIMEOUT_MS));
    const found = await Promise.all(
      names.map((pos) =>
        Promise.race([Promise.resolve(vscode.commands.executeCommand<(vscode.Location | vscode.LocationLink)[] | undefined>('vscode.executeDefinitionProvider', doc.uri, pos)).catch(() => undefined), deadline]),
      ),
    );
    if (run !== this.definitionRun || !this.on) return;
    const self = doc.uri.toString();
    const ranges: LocatedRange[] = [];
    const files = new Map<string, string | null>();
    for (const locs of found) {
      for (const loc of locs ?? []) {
        const target = 'targetUri' in loc ? loc.targetUri : loc.uri;
        const range = 'targetUri' in loc ? loc.targetRange : loc.range;
        const key = target.toString();
        if (key === self) continue;
        if (!files.has(key)) {
          if (files.size >= DEFINITION_FILES) continue;
          files.set(key, await this.fileText(target));
          if (run !== this.definitionRun) return;
        }
        const text = files.get(key);
        const path = text != null ? this.uriPath(target) : null;
        if (text == null || !path) continue;
        const end = Math.max(range.end.line + 1, range.start.line + ('targetUri' in loc ? 1 : DEFINITION_LINES));
        ranges.push({ path, text, startLine: range.start.line, endLine: end });
      }
    }
    if (run !== this.definitionRun || this.definitionPlace?.uri !== self || this.definitionPlace.line !== line) return;
    this.tracker.setDefinitions(ranges);
    this.idleSoon();
  }

  /** A file's text for a definition: its open document, else the file (null: not allowed, too large, unreadable). */
  private async fileText(uri: vscode.Uri): Promise<string | null> {
    if (!this.uriPath(uri)) return null;
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open) return this.sourcePath(open) ? open.getText() : null;
    try {
      const st = await vscode.workspace.fs.stat(uri);
      if (st.size > MAX_FILE_CHARS || st.type !== vscode.FileType.File) return null;
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch {
      return null;
    }
  }

  // ---- the engine ----

  private engineMessage(m: EngineMessage): void {
    // a (re)started engine holds no context; a document sent whole again gets its context again
    if (m.type === 'ready') this.sent.clear();
    if (m.type === 'needOpen') this.sent.delete(m.uri);
    if (m.type === 'completion' && m.stats.context?.chunks.length) {
      const c = m.stats.context;
      const where = vscode.workspace.asRelativePath(vscode.Uri.parse(m.uri));
      this.log.info(`completion in ${where} saw context: ${c.chunks.length} chunks, ${c.tokens} tokens: ${c.chunks.map((v) => `${chunkName(v)} (${v.tokens} tokens, ${v.reused} reused)`).join(', ')}`);
    }
  }
}

/** Up to `n` distinct identifiers worth looking up around `pos`: the cursor's line first (nearest the cursor first),
 *  then the line above, then the line below. */
function identifiersNear(doc: vscode.TextDocument, pos: vscode.Position, n: number): vscode.Position[] {
  const out: vscode.Position[] = [];
  const seen = new Set<string>();
  for (const l of [pos.line, pos.line - 1, pos.line + 1]) {
    if (l < 0 || l >= doc.lineCount) continue;
    const text = doc.lineAt(l).text;
    if (text.length > 1000) continue;
    const found: { name: string; at: number }[] = [];
    for (const m of text.matchAll(/[A-Za-z_$][A-Za-z0-9_$]*/g)) {
      const name = m[0];
      if (name.length < 3 || KEYWORDS.has(name.toLowerCase()) || seen.has(name)) continue;
      found.push({ name, at: m.index! });
    }
    if (l === pos.line) found.sort((a, b) => Math.abs(a.at - pos.character) - Math.abs(b.at - pos.character));
    for (const f of found) {
      if (seen.has(f.name)) continue;
      seen.add(f.name);
      out.push(new vscode.Position(l, f.at));
      if (out.length >= n) return out;
    }
  }
  return out;
}
