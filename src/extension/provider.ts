// Inline completions: after a short debounce, ask the engine to complete the document at the cursor; drop answers for
// an old version or a cancelled request; never repeat the text that follows the cursor on its line.
import * as vscode from 'vscode';
import type { CompletionStats, EngineMessage } from '../protocol/messages.js';
import { type Config, languageEnabled } from './config.js';
import type { DocumentStream } from './documents.js';
import type { EngineClient } from './engine.js';
import { withoutRestOfLine } from './text.js';

const REQUEST_TIMEOUT_MS = 30_000;

export class CompletionProvider implements vscode.InlineCompletionItemProvider {
  /** The last completion's figures, for the status bar: edit (request) to ghost text, and the engine's breakdown. */
  onCompleted: ((stats: CompletionStats, endToEndMs: number) => void) | null = null;
  /** The engine could not complete (an error it reported, e.g. out of GPU memory for this document's cache). */
  onFailed: ((message: string) => void) | null = null;

  constructor(
    private readonly engine: EngineClient,
    private readonly docs: DocumentStream,
    private readonly config: () => Config,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    _context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const cfg = this.config();
    if (!cfg.enabled || !languageEnabled(cfg, document.languageId) || this.engine.state.kind !== 'ready') return undefined;
    const t0 = performance.now();
    if (cfg.debounceMs > 0 && !(await sleep(cfg.debounceMs, token))) return undefined;
    const offset = document.offsetAt(position);
    const version = document.version;
    this.docs.ensureOpen(document, offset);
    const r = await this.engine.request<EngineMessage>(
      (id) => ({ type: 'complete', id, uri: document.uri.toString(), version, offset, maxTokens: cfg.maxTokens, maxLines: cfg.maxLines }),
      REQUEST_TIMEOUT_MS,
      token,
    );
    if (r?.type === 'noCompletion' && r.reason === 'stale') this.docs.forget(document);
    if (r?.type === 'noCompletion' && r.reason === 'error') this.onFailed?.(r.message ?? 'unknown error');
    if (r?.type !== 'completion' || token.isCancellationRequested || document.version !== r.version) return undefined;
    const rest = document.lineAt(position.line).text.slice(position.character);
    const text = withoutRestOfLine(r.text, rest);
    this.onCompleted?.(r.stats, performance.now() - t0);
    if (text.trim() === '') return undefined;
    return [new vscode.InlineCompletionItem(text, new vscode.Range(position, position))];
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
