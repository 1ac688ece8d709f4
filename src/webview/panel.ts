// The engine panel: what the engine runs on, the focused document's cache (one cell per row in document order, coloured
// by state: fresh, re-rotated by the last plan, inserted by the last plan, stale), the workspace context laid out ahead
// of the file (each chunk's file, lines, tokens and rows reused), the last edit plan, and the latency history. The only
// DOM code of the engine side.
import { fmtBytes } from '../engine/gpu/context.js';
import { slowAdapterNote } from '../models/adapter-note.js';
import type { CacheView, CompletionStats, ContextView, EngineMessage, EngineSettings, HostMessage, RowState } from '../protocol/messages.js';

const COLORS: Record<RowState, string> = { fresh: '#3c8dbc', rotated: '#f0ad4e', inserted: '#5cb85c', stale: '#9e9e9e' };
const HISTORY = 60;

export class EnginePanelView {
  private readonly status: HTMLElement;
  private readonly info: HTMLElement;
  private readonly plan: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  /** The workspace-context chunks ahead of the file's rows (elements `.pie-context-chunk` with `data-path`). */
  private readonly context: HTMLElement;
  private readonly latency: HTMLElement;
  private readonly history: number[] = [];
  private last: CompletionStats | null = null;
  private readonly shownLine: HTMLElement;
  private readonly shownHistory: number[] = [];
  /** Where the engine runs, when not in this page. */
  private where = '';

  constructor(private readonly doc: Document) {
    const body = doc.body;
    const el = <K extends keyof HTMLElementTagNameMap>(tag: K, id: string, parent: HTMLElement = body) => {
      const e = doc.createElement(tag);
      e.id = id;
      parent.append(e);
      return e;
    };
    this.status = doc.getElementById('status') ?? el('p', 'status');
    this.info = el('p', 'info');
    const cache = el('section', 'cache');
    el('h2', 'cache-title', cache).textContent = 'KV cache of the active document';
    const legend = el('p', 'legend', cache);
    for (const [state, color] of Object.entries(COLORS)) {
      const swatch = doc.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = color;
      legend.append(swatch, ` ${state} `);
    }
    // the context first: its chunks are the cache's first rows, ahead of the file's
    this.context = el('div', 'context', cache);
    this.context.style.margin = '0.3em 0';
    this.canvas = el('canvas', 'rows', cache);
    this.plan = el('p', 'plan', cache);
    const lat = el('section', 'latency-section');
    el('h2', 'latency-title', lat).textContent = 'Latency, edit to first token (ms)';
    this.latency = el('div', 'latency', lat);
    this.shownLine = el('p', 'shown', lat);
  }

  /** A completion the host showed: request to ghost text, its median, and the breakdown of the last from the engine. */
  shown(m: Extract<HostMessage, { type: 'shown' }>): void {
    this.shownHistory.push(m.endToEndMs);
    if (this.shownHistory.length > HISTORY) this.shownHistory.shift();
    const sorted = [...this.shownHistory].sort((a, b) => a - b);
    const how = m.source === 'engine' ? 'from the engine' : m.source === 'type-through' ? 'typed through, from the host' : 'a recent completion, from the host';
    this.shownLine.textContent = `Request to ghost text: last ${m.endToEndMs.toFixed(1)} ms (${how}), median ${sorted[sorted.length >> 1]!.toFixed(1)} ms over ${sorted.length}.${m.breakdown ? ` ${m.breakdown}` : ''}`;
  }

  /** The engine runs in another host (the language server): said above what it reports. */
  remote(host: string): void {
    this.where = ` (${host})`;
    this.status.textContent = `The engine runs in ${host}; this panel shows what it reports.`;
  }

  engineMessage(m: EngineMessage): void {
    if (m.type === 'booting') this.status.textContent = `Starting${this.where}: ${m.stage}…`;
    else if (m.type === 'ready') this.ready(m);
    else if (m.type === 'unavailable') this.status.textContent = `Unavailable: ${m.message}`;
    else if (m.type === 'completion') {
      this.last = m.stats;
      this.history.push(m.stats.firstTokenMs);
      if (this.history.length > HISTORY) this.history.shift();
      this.drawLatency();
    }
  }

  private ready({ device, model, loadMs, warmupMs }: Extract<EngineMessage, { type: 'ready' }>): void {
    this.status.textContent = `WebGPU device${this.where}: ${device}`;
    this.info.textContent =
      `Model ${model.name} (${model.architecture}): ${model.layers} layers, ${model.heads} heads (${model.kvHeads} KV), head dim ${model.headDim}, ` +
      `vocabulary ${model.vocab}, weights ${fmtBytes(model.weightBytes)} on the GPU, context ${model.contextLength} (KV cache ${fmtBytes(model.kvCacheBytes)} per document), ${model.fim === 'off' ? 'left-to-right' : `fill-in-the-middle (${model.fim.toUpperCase()})`}; loaded in ${loadMs.toFixed(0)} ms, kernels compiled in ${warmupMs.toFixed(0)} ms.` +
      (slowAdapterNote(device) ? ` ${slowAdapterNote(device)}` : '');
  }

  settings(s: EngineSettings): void {
    this.info.title = `cache budget ${s.cacheBudgetMiB} MiB, idle re-sync past ${s.resyncThreshold} stale rows, refresh window ${s.refreshWindow}`;
  }

  /** The active document's cache (null: it has none yet). */
  update(s: CacheView | null): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const states = s?.rows ?? [];
    const cell = 6;
    const perLine = Math.max(16, Math.floor((this.doc.body.clientWidth - 24) / cell));
    this.canvas.width = perLine * cell;
    this.canvas.height = Math.max(1, Math.ceil(states.length / perLine)) * cell;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    states.forEach((st, i) => {
      ctx.fillStyle = COLORS[st];
      ctx.fillRect((i % perLine) * cell, Math.floor(i / perLine) * cell, cell - 1, cell - 1);
    });
    // the rows ahead of the file's (the context chunks and their header) outlined, so that the file's own rows stand apart
    const fileStart = s ? Math.min(s.fileStart ?? 0, states.length) : 0;
    if (fileStart > 0) {
      ctx.strokeStyle = '#c586c0';
      ctx.lineWidth = 1;
      ctx.beginPath();
      const col = fileStart % perLine;
      const row = Math.floor(fileStart / perLine);
      // a bar before the file's first row
      ctx.moveTo(col * cell + 0.5, row * cell);
      ctx.lineTo(col * cell + 0.5, row * cell + cell);
      ctx.stroke();
    }
    this.drawContext(s?.context ?? [], fileStart);
    if (!s) {
      this.plan.textContent = 'No cache for the active document yet (it is built at the first completion).';
      return;
    }
    const f = s.plan;
    this.plan.textContent =
      `${states.length} rows of ${s.capacity}; stale ${s.stale} (rotated rows can be stale too). Last plan: ${f.rowsMoved} rows re-rotated, ${f.rowsDropped} dropped, ` +
      `${f.tokensEncoded} tokens encoded (apply ${f.applyMs.toFixed(1)} ms, encode ${f.encodeMs.toFixed(1)} ms).`;
  }

  /** The context chunks in cache order: file, lines (1-based), tokens and tokens whose rows the last flush kept. */
  private drawContext(chunks: ContextView[], fileStart: number): void {
    const d = this.doc;
    if (!chunks.length) {
      const none = d.createElement('p');
      none.className = 'pie-context-none';
      none.textContent = 'Workspace context: none in this cache.';
      this.context.replaceChildren(none);
      return;
    }
    const tokens = chunks.reduce((n, c) => n + c.tokens, 0);
    const reused = chunks.reduce((n, c) => n + c.reused, 0);
    const title = d.createElement('p');
    title.className = 'pie-context-title';
    title.textContent = `Workspace context: ${chunks.length} chunk${chunks.length === 1 ? '' : 's'}, ${tokens} tokens (${reused} rows reused), ahead of the file's rows (from row ${fileStart})`;
    const list = d.createElement('ol');
    list.className = 'pie-context-list';
    list.style.margin = '0.2em 0';
    list.style.paddingLeft = '1.6em';
    for (const c of chunks) {
      const li = d.createElement('li');
      li.className = 'pie-context-chunk';
      li.dataset.path = c.path;
      li.dataset.id = c.id;
      li.dataset.lines = `${c.startLine + 1}-${c.endLine}`;
      li.dataset.tokens = String(c.tokens);
      li.dataset.reused = String(c.reused);
      const where = c.path ? `${c.path}:${c.startLine + 1}-${c.endLine}` : 'clipboard';
      li.textContent = `${where} · ${c.tokens} tokens · ${c.reused} reused`;
      li.title = c.id;
      list.append(li);
    }
    this.context.replaceChildren(title, list);
  }

  private drawLatency(): void {
    const h = this.history;
    const sorted = [...h].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1] ?? 0;
    const max = Math.max(...h, 1);
    const w = 300;
    const ht = 60;
    const pts = h.map((v, i) => `${((i / Math.max(1, HISTORY - 1)) * w).toFixed(1)},${(ht - (v / max) * ht).toFixed(1)}`).join(' ');
    const ns = 'http://www.w3.org/2000/svg';
    const svg = this.doc.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
    svg.setAttribute('class', 'spark');
    const line = this.doc.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts);
    svg.append(line);
    const caption = this.doc.createElement('p');
    const l = this.last;
    caption.textContent = `last ${h.at(-1)?.toFixed(1)} ms, median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${h.length}` + (l ? `; ${l.tokensGenerated} tokens at ${l.tokensPerS.toFixed(0)} tok/s` : '');
    this.latency.replaceChildren(svg, caption);
  }
}
