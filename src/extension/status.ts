// The status-bar item: the latency of the last completion (request to ghost text), its breakdown in the tooltip, and
// plainly what is wrong when the engine is loading, unavailable or failed. Clicking it shows the engine panel.
import * as vscode from 'vscode';
import type { FailureKind } from '../protocol/messages.js';
import { slowAdapterNote } from '../models/adapter-note.js';
import type { EngineState } from './engine.js';
import type { CompletionProvider, Shown } from './provider.js';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('pie.status', vscode.StatusBarAlignment.Right, 100);
  private engine: EngineState = { kind: 'starting', detail: '' };
  /** The figures of the last completion the engine made (shown under an answer from the cache too). */
  private lastEngine: string[] = [];
  /** Why the engine runs in the Node host under "auto" (the webview's reason), when it does. */
  fallback: string | null = null;

  constructor() {
    this.item.name = 'PIE completion latency';
    this.item.command = 'pie.showEngine';
    this.item.show();
    this.state(this.engine);
  }

  state(s: EngineState): void {
    this.engine = s;
    this.item.backgroundColor = undefined;
    if (s.kind === 'starting') {
      this.item.text = s.fraction !== undefined ? `$(sync~spin) PIE ${Math.round(s.fraction * 100)}%` : '$(sync~spin) PIE';
      this.item.tooltip = `PIE engine starting: ${s.detail}`;
    } else if (s.kind === 'unavailable') {
      this.item.text = '$(error) PIE';
      this.item.tooltip = `PIE engine unavailable: ${s.message}`;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
    } else {
      this.item.text = `PIE ready${this.hostTag()}`;
      this.item.tooltip = this.deviceLines().join('\n');
    }
  }

  completed(shown: Shown, counts: CompletionProvider['counts']): void {
    this.item.backgroundColor = undefined;
    this.item.text = `PIE ${Math.round(shown.endToEndMs)} ms${this.hostTag()}`;
    const tally = `Shown so far: ${counts.engine} from the engine, ${counts.typeThrough} typed through, ${counts.cache} from recent completions, ${counts.continuations} continued past the first line`;
    const st = shown.stats;
    if (!st) {
      // the engine's figures of the last completion it made stay below
      const how = shown.source === 'type-through' ? 'the rest of the ghost text being typed' : 'a recent completion at this same place';
      this.item.tooltip = [`Edit to ghost text: ${shown.endToEndMs.toFixed(1)} ms: ${how}, without the engine`, tally, ...this.lastEngine.map((l) => `Last from the engine: ${l}`), ...this.deviceLines()].join('\n');
      return;
    }
    this.lastEngine = [
      `Edit to ghost text: ${shown.endToEndMs.toFixed(1)} ms (debounce ${shown.debounceMs} ms; engine ${st.firstTokenMs.toFixed(1)} ms to first token)${shown.firstLineOnly ? '; the first line, the rest follows' : ''}`,
      breakdown(shown, st),
      `Edits applied: ${st.applyMs.toFixed(1)} ms; rows re-rotated: ${st.rowsMoved}; rows dropped: ${st.rowsDropped}`,
      `Tokens encoded: ${st.tokensEncoded} in ${st.encodeMs.toFixed(1)} ms${st.rebuilt ? ' (cache built from scratch)' : ''}`,
      `Generated: ${st.tokensGenerated} tokens at ${st.tokensPerS.toFixed(0)} tokens/s, ${st.totalMs.toFixed(1)} ms in all`,
      `Cache: ${st.cacheRows} of ${st.cacheCapacity} rows, ${st.staleRows} stale${st.windowed ? ' (a window of a long file)' : ''}`,
      `This file since its cache was built: ${st.document.rowsMoved} rows re-rotated, ${st.document.tokensEncoded} tokens encoded over ${st.document.completions} completions; full re-encodes: ${st.document.resyncs}`,
      ...(st.context?.chunks.length ? [`Context: ${st.context.chunks.length} chunks, ${st.context.tokens} tokens (${st.context.chunks.reduce((n, c) => n + c.reused, 0)} reused)`] : []),
    ];
    this.item.tooltip = [...this.lastEngine, tally, ...this.deviceLines()].join('\n');
  }

  failed(message: string, kind: FailureKind): void {
    this.item.text = '$(warning) PIE';
    this.item.tooltip = [`The last completion failed (${kind}): ${message}`, ...this.deviceLines()].join('\n');
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
  }

  resynced(tokens: number, ms: number): void {
    this.item.text = `PIE ${Math.round(ms)} ms${this.hostTag()}`;
    this.item.tooltip = [`Re-sync: ${tokens} tokens re-encoded in ${ms.toFixed(1)} ms; cache equals a full recomputation (0 stale rows)`, ...this.deviceLines()].join('\n');
  }

  dispose(): void {
    this.item.dispose();
  }

  /** The Node host is named in the item itself: completions then come from another process than usual. */
  private hostTag(): string {
    return this.engine.kind === 'ready' && this.engine.host === 'node' ? ' (Node)' : '';
  }

  private deviceLines(): string[] {
    const s = this.engine;
    if (s.kind !== 'ready') return [];
    const slow = slowAdapterNote(s.device);
    const host = s.host === 'node' ? `the language server (Node, Dawn)${this.fallback ? `, because the webview has no WebGPU: ${this.fallback}` : ''}` : 'the engine panel\'s webview (navigator.gpu)';
    return [`Host: ${host}`, `Device: ${s.device}`, ...(slow ? [slow] : []), `Model: ${s.model.name} (${s.model.layers} layers, context ${s.model.contextLength})`];
  }
}

/** Where the time from the request to the ghost text went, in order. */
export function breakdown(shown: Shown, st: NonNullable<Shown['stats']>): string {
  const parts: [string, number][] = [
    ['debounce', shown.debounceMs],
    ['to engine', shown.toEngineMs],
    ['queued', st.queuedMs],
    ['edits applied', st.applyMs],
    ['encode', st.encodeMs],
    ['first token', st.firstTokenMs - st.applyMs - st.encodeMs],
    ['decode', st.decodeMs],
    ['to host', shown.toHostMs],
  ];
  return `Breakdown (ms): ${parts.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' · ')}`;
}
