// Inline completions. What the user waits for is edit to ghost text, so the provider:
// - answers from its cache of recent completions at once, without the debounce or the engine, when the same context
//   comes back or the user types the ghost text's own characters (type-through; completion-cache.ts);
// - asks the engine for the first line only, within a time budget (pie.maxPredictMs), shows it, and asks for the rest
//   (the rest of the line, the other lines) in the background, offering it (a re-trigger that the cache answers) when it
//   is ready and still applies; the engine continues its last completion, so the rest costs only its own tokens;
// - after an accepted completion, asks for the next one at once (no debounce): the accepted rows are already cached;
// - drops answers for an old version or a cancelled request, and never repeats the text that follows the cursor on
//   its line. VS Code's cancellation reaches the engine as `cancel`, which its decode loop checks token by token.
import * as vscode from 'vscode';
import type { CompletionStats, EngineMessage, FailureKind } from '../protocol/messages.js';
import { CompletionCache } from './completion-cache.js';
import { type Config, languageEnabled } from './config.js';
import type { ContextFeed } from './context.js';
import type { DocumentStream } from './documents.js';
import type { Engine } from './engine.js';
import { withoutRestOfLine } from './text.js';

const REQUEST_TIMEOUT_MS = 30_000;
/** The time budget of the rest of a completion, decoded in the background after its start was shown. */
const REST_BUDGET_MS = 5_000;
export const ACCEPTED_COMMAND = 'pie.accepted';

/** How a completion reached the screen, for the status bar and the e2e latency table. */
export interface Shown {
  source: 'engine' | 'cache' | 'type-through';
  /** Request (VS Code asking) to the items returned. */
  endToEndMs: number;
  debounceMs: number;
  stats: CompletionStats | null;
  /** Only the first line was asked for; the rest follows in the background. */
  firstLineOnly: boolean;
  /** Messaging, host to engine and back (wall clock; 0 for an answer from the cache). */
  toEngineMs: number;
  toHostMs: number;
}

export class CompletionProvider implements vscode.InlineCompletionItemProvider, vscode.Disposable {
  /** Every completion shown, with how it got there. */
  onShown: ((s: Shown) => void) | null = null;
  /** The engine could not complete (an error it reported, e.g. out of GPU memory for this document's cache). */
  onFailed: ((message: string, kind: FailureKind) => void) | null = null;
  readonly counts = { engine: 0, cache: 0, typeThrough: 0, continuations: 0 };
  private readonly cache = new CompletionCache();
  /** A document whose next request skips the debounce (a completion was just accepted in it). */
  private eager: string | null = null;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly docs: DocumentStream,
    private readonly config: () => Config,
    /** Workspace context: sent for the document before its first request of each completion (null: none). */
    private readonly context: ContextFeed | null = null,
  ) {
    this.disposables.push(
      vscode.commands.registerCommand(ACCEPTED_COMMAND, (uri: string, id?: number) => {
        this.eager = uri;
        if (id !== undefined) this.engine.post({ type: 'accepted', uri, id });
        void vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.cache.drop(d.uri.toString())),
      // another model (or a restarted engine) completes differently
      engine.onState((s) => s.kind === 'ready' && this.cache.clear()),
    );
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const cfg = this.config();
    if (!cfg.enabled || !languageEnabled(cfg, document.languageId) || this.engine.state.kind !== 'ready') return undefined;
    const t0 = performance.now();
    this.context?.prepare();
    const uri = document.uri.toString();
    const offset = document.offsetAt(position);
    const before = document.getText(new vscode.Range(document.positionAt(Math.max(0, offset - 2 * this.cache.keyChars)), position));
    const rest = document.lineAt(position.line).text.slice(position.character);
    const hit = this.cache.get(uri, before, rest);
    if (hit) {
      if (hit.typed > 0) this.counts.typeThrough++;
      else this.counts.cache++;
      this.onShown?.({ source: hit.typed > 0 ? 'type-through' : 'cache', endToEndMs: performance.now() - t0, debounceMs: 0, stats: null, firstLineOnly: false, toEngineMs: 0, toHostMs: 0 });
      return [this.item(hit.text, position, uri)];
    }
    const debounce = this.eager === uri ? 0 : cfg.debounceMs;
    this.eager = null;
    if (debounce > 0 && !(await sleep(debounce, token))) return undefined;
    const version = document.version;
    // Several lines only fit at the end of a line; then the first line is asked for alone, shown, and the rest follows.
    const multiLine = cfg.maxLines > 1 && rest.trim() === '';
    const allLines = multiLine ? cfg.maxLines : 1;
    let sentAt = 0;
    // the context goes with the first request only: the background ones continue it, which another context would stop
    let contextSent = false;
    // The engine continues its last completion when asked again at the same place with no edit since: asking for more
    // costs only the tokens after those already decoded.
    const ask = (maxLines: number, maxMs: number | undefined, t?: vscode.CancellationToken) => {
      this.docs.ensureOpen(document, offset);
      if (!contextSent) {
        contextSent = true;
        this.context?.sync(document, position.line);
      }
      sentAt = Date.now();
      return this.engine.request<EngineMessage>(
        (id) => ({ type: 'complete', id, uri, version, offset, maxTokens: cfg.maxTokens, maxLines, sentAt, ...(maxMs !== undefined ? { maxMs } : {}) }),
        REQUEST_TIMEOUT_MS,
        t,
      );
    };
    /** Whether more may follow what was shown: the time budget cut it, or the first line ended where lines may follow. */
    const partial = (m: EngineMessage | null) => m?.type === 'completion' && (m.stopReason === 'time' || (multiLine && m.stopReason === 'maxLines'));
    let r = await ask(1, cfg.maxPredictMs > 0 ? cfg.maxPredictMs : undefined, token);
    // nothing to show yet (the completion starts on the next line, or the budget ran out in white space): the rest
    if (partial(r) && r?.type === 'completion' && r.text.trim() === '' && !token.isCancellationRequested) r = await ask(allLines, REST_BUDGET_MS, token);
    const answeredAt = Date.now();
    const firstLineOnly = partial(r);
    if (r?.type === 'noCompletion' && r.reason === 'stale') this.docs.forget(document);
    if (r?.type === 'noCompletion' && r.reason === 'error') this.onFailed?.(r.message ?? 'unknown error', r.kind ?? 'internal');
    if (r?.type !== 'completion' || token.isCancellationRequested || document.version !== r.version) return undefined;
    const text = withoutRestOfLine(r.text, rest);
    this.counts.engine++;
    this.onShown?.({ source: 'engine', endToEndMs: performance.now() - t0, debounceMs: debounce, stats: r.stats, firstLineOnly, toEngineMs: r.stats.receivedAt - sentAt, toHostMs: answeredAt - r.stats.sentAt });
    if (text.trim() === '') return undefined;
    this.cache.put(uri, before, rest, text);
    if (firstLineOnly) {
      // the rest of the line when the budget cut it, then the other lines: each step continues the last in the engine
      const steps = [...(r.stopReason === 'time' ? [1] : []), ...(allLines > 1 ? [allLines] : [])];
      void this.continueRest(document, version, offset, before, rest, text, steps, (lines) => ask(lines, REST_BUDGET_MS));
    }
    return [this.item(text, position, uri, r.id)];
  }

  /**
   * Asks for more after the start of a completion was shown, up to `steps` lines in turn, and offers each longer text
   * (the cache holds it, and a re-trigger shows it) while the document has not changed and the cursor has not moved.
   */
  private async continueRest(
    document: vscode.TextDocument,
    version: number,
    offset: number,
    before: string,
    rest: string,
    shown: string,
    steps: number[],
    ask: (maxLines: number) => Promise<EngineMessage | null>,
  ): Promise<void> {
    let text = shown;
    let offers = 0;
    for (const lines of steps) {
      const r = await ask(lines);
      if (r?.type !== 'completion' || document.version !== version) return;
      const more = withoutRestOfLine(r.text, rest);
      if (more.startsWith(text) && more.length > text.length) {
        text = more;
        this.cache.put(document.uri.toString(), before, rest, text);
        this.counts.continuations++;
        const editor = vscode.window.activeTextEditor;
        if (editor?.document !== document || document.offsetAt(editor.selection.active) !== offset) return;
        // VS Code takes an explicit trigger at the same text and cursor as one already answered (its request
        // "satisfies" the new one) unless the suggestion is hidden first: the second offer hides it for a frame
        if (offers++ > 0) await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
        await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
      }
      // nothing follows an end of generation, a repeated line or a full cache
      if (r.stopReason !== 'maxLines' && r.stopReason !== 'time') return;
    }
  }

  /** id: the engine's request, for an answer from the engine (its command reports the accept to the engine). */
  private item(text: string, position: vscode.Position, uri: string, id?: number): vscode.InlineCompletionItem {
    const item = new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
    item.command = { command: ACCEPTED_COMMAND, title: 'PIE: completion accepted', arguments: id === undefined ? [uri] : [uri, id] };
    return item;
  }
}

/** Resolves true after `ms`, or false as soon as the token is cancelled. */
function sleep(ms: number, token: vscode.CancellationToken): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.dispose();
      resolve(true);
    }, ms);
    const sub = token.onCancellationRequested(() => {
      clearTimeout(timer);
      sub.dispose();
      resolve(false);
    });
  });
}
