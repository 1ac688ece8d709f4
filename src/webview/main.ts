// The webview entry: boots the engine on navigator.gpu, streams the model from the extension host (which reads the
// file; the webview never holds the whole file: src/webview/model-source.ts), runs the EngineServer, and draws the
// engine panel. Every message it posts carries this page's generation (data-gen, written by the host), so that the host
// can drop what a replaced page still says.
import { acquireBrowserGpu } from '../engine/gpu/acquire.js';
import type { ByteSource } from '../engine/model/gguf.js';
import { EngineHost } from '../engine/host.js';
import { errorMessage } from '../engine/server.js';
import type { EngineMessage, HostMessage, ModelLoadOptions, StampedEngineMessage } from '../protocol/messages.js';
import { DEFAULT_READAHEAD, DirectSource, fmtMiB, type RangeReader, ReadaheadSource } from './model-source.js';
import { EnginePanelView } from './panel.js';

interface VsCodeApi {
  postMessage(message: StampedEngineMessage): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const gen = Number(document.body.dataset.gen ?? 0);
const view = new EnginePanelView(document);
const post = (m: EngineMessage) => {
  view.engineMessage(m);
  vscode.postMessage({ ...m, gen });
};
const loadLine = document.getElementById('load');
const loadLog: string[] = [];
/** A line about the model's transport, in the panel (#load) and the extension host's log. */
const say = (line: string) => {
  loadLog.push(line);
  if (loadLine) loadLine.textContent = loadLog.join('\n');
  post({ type: 'log', message: line });
};

/** Range reads answered by the extension host (`read` -> `bytes`), any number in flight, matched by id. */
class HostReads {
  private next = 1;
  private readonly pending = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  read = (offset: number, length: number): Promise<Uint8Array> => {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      post({ type: 'read', id, offset, length });
    });
  };
  answer(m: Extract<HostMessage, { type: 'bytes' | 'bytesError' }>): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (m.type === 'bytes') p?.resolve(m.data);
    else p?.reject(new Error(m.message));
  }
}

const DEFAULT_LOAD: ModelLoadOptions = { transport: 'pipelined', chunkBytes: DEFAULT_READAHEAD.chunkBytes, aheadBytes: DEFAULT_READAHEAD.aheadBytes, readPass: false };

/** The model's ByteSource for these options, and the words for the panel. */
/** Reads byte ranges of the model over HTTP (the host's ModelFileServer). */
function httpReader(url: string): RangeReader {
  return async (offset, length) => {
    const res = await fetch(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` }, cache: 'no-store' });
    if (res.status !== 206) throw new Error(`HTTP ${res.status} for bytes ${offset}-${offset + length - 1} of ${url}: ${(await res.text().catch(() => '')).slice(0, 120)}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

/** Whether the model's HTTP address answers a Range request from this page (a proxy or a policy may refuse it). */
async function httpWorks(url: string): Promise<string | null> {
  try {
    const b = await httpReader(url)(0, 4);
    return b.length === 4 ? null : `${b.length} bytes for 4`;
  } catch (e) {
    return errorMessage(e);
  }
}

function modelSource(size: number, o: ModelLoadOptions): { source: ReadaheadSource | DirectSource; what: string } {
  if (o.transport === 'http' && o.url) {
    const source = new ReadaheadSource(size, httpReader(o.url), { chunkBytes: o.chunkBytes, aheadBytes: o.aheadBytes, behindBytes: DEFAULT_READAHEAD.behindBytes });
    source.onFallback = (reason) => say(`model bytes: fell back to one HTTP request per read: ${reason}`);
    return { source, what: `HTTP range requests, ${fmtMiB(o.chunkBytes)} chunks, ${fmtMiB(o.aheadBytes)} read ahead` };
  }
  if (o.transport === 'serial') return { source: new DirectSource(size, reads.read), what: 'host messages, one read at a time' };
  const source = new ReadaheadSource(size, reads.read, { chunkBytes: o.chunkBytes, aheadBytes: o.aheadBytes, behindBytes: DEFAULT_READAHEAD.behindBytes });
  source.onFallback = (reason) => say(`model bytes: fell back to one host request per read: ${reason}`);
  return { source, what: `host messages, ${fmtMiB(o.chunkBytes)} chunks, ${fmtMiB(o.aheadBytes)} read ahead` };
}

/** Reads every byte once through `source` as the loader reads a large tensor (16 MB at a time, in file order). */
async function readPass(source: ByteSource): Promise<number> {
  const t = performance.now();
  const step = 16 << 20;
  for (let o = 0; o < source.size; o += step) await source.read(o, Math.min(step, source.size - o));
  return performance.now() - t;
}

const reads = new HostReads();
/** The load in progress: cancelled when this page goes away (another model chosen: the host loads a new page). */
let loading: ReadaheadSource | DirectSource | null = null;
let host: EngineHost | null = null;
window.addEventListener('pagehide', () => {
  loading?.cancel('the engine page was replaced');
  host?.dispose();
});

/** The model's bytes for one load: over HTTP when its address answers, else through host messages. */
async function openModel(init: Extract<HostMessage, { type: 'init' }>) {
  let opts = init.load ?? DEFAULT_LOAD;
  if (opts.transport === 'http' && opts.url) {
    const why = await httpWorks(opts.url);
    if (why) {
      say(`model bytes: the HTTP address does not answer (${why}); reading through host messages`);
      opts = { ...opts, transport: 'pipelined' };
    }
  }
  const mb = (n: number, ms: number) => `${(n / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms (${(n / 1e3 / ms).toFixed(1)} MB/s)`;
  if (opts.readPass) {
    const pass = modelSource(init.modelSize, opts);
    loading = pass.source;
    post({ type: 'booting', stage: `reading ${init.modelName} once without uploading` });
    const ms = await readPass(pass.source);
    pass.source.cancel('read pass done');
    say(`read pass: ${mb(init.modelSize, ms)} over ${pass.what}`);
  }
  const { source, what } = modelSource(init.modelSize, opts);
  loading = source;
  say(`model bytes: ${what}`);
  const t0 = performance.now();
  const close = () => {
    loading = null;
    const st = source.stats;
    say(`${init.modelName}: ${mb(init.modelSize, performance.now() - t0)} over ${what}; ${st.reads} reads, ${st.chunks} requests, ${(st.bytesFetched / 1e6).toFixed(1)} MB fetched${st.directReads ? `, ${st.directReads} direct after the fallback` : ''}`);
  };
  return { source, close };
}

/** The engine runs in the language server (pie.engineHost): this page only draws what the host forwards. */
let remote = false;

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'init':
      if (host || remote) return;
      host = new EngineHost({ send: post, acquire: () => acquireBrowserGpu(navigator.gpu), openModel: () => openModel(m) }, m.modelName, m.settings);
      host.onUpdate = (server) => view.update(server.cacheView(server.focused));
      void host.start();
      return;
    case 'remote':
      remote = true;
      view.remote(m.host);
      return;
    case 'mirror':
      view.engineMessage(m.message);
      return;
    case 'cacheView':
      view.update(m.view);
      return;
    case 'loseDevice':
      host?.loseDevice();
      return;
    case 'bytes':
    case 'bytesError':
      reads.answer(m);
      return;
    case 'settings':
      view.settings(m.settings);
      break;
    case 'shown':
      view.shown(m);
      return;
  }
  void host?.handle(m);
});

post({ type: 'booting', stage: 'webview loaded' });
