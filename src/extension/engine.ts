// The engine as the extension host sees it: a webview view (the "PIE" panel) that runs the engine, a message channel
// with request ids, and the model file served to it in slices. The host never touches tensors: it reads bytes.
//
// The model's bytes: the webview asks for fixed chunks with several in flight (src/webview/model-source.ts) and the
// host answers each with one FileHandle read, so neither side holds more than the read-ahead window. Serving the file as
// a webview resource (asWebviewUri + fetch) was measured and rejected: VS Code 1.100's resource loader reads the whole
// file into the workbench's memory for every request and ignores the Range header (docs/extension.md).
//
// Each page the host loads into the webview carries a generation (data-gen on its body) that it stamps on every
// message; choosing another model loads a new page, and whatever the old one still sends (a read, a stale ready) is
// dropped, so a replaced load can neither be answered with the new file's bytes nor report itself ready.
//
// Why a WebviewView with retainContextWhenHidden: the engine must outlive the panel's visibility (its KV caches are the
// point), and a view sits in the panel area beside the terminal without taking editor space, unlike a WebviewPanel. The
// view is revealed once at startup (focus kept in the editor) so that its webview starts; hiding it afterwards keeps it.
import { randomBytes } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import * as vscode from 'vscode';
import { ModelFileServer } from './model-server.js';
import type { UnavailableReason, DeviceLimits, EngineMessage, EngineSettings, HostMessage, ModelInfo, ModelLoadOptions, StampedEngineMessage } from '../protocol/messages.js';

/** Where the engine runs: the webview (navigator.gpu) or the language server (Dawn in Node). */
export type HostKind = 'webview' | 'node';

export type EngineState =
  | { kind: 'starting'; detail: string; fraction?: number }
  | { kind: 'ready'; host: HostKind; device: string; cpu: boolean; limits: DeviceLimits; model: ModelInfo; loadMs: number }
  | { kind: 'unavailable'; message: string; reason: UnavailableReason };

/** The engine as the rest of the extension uses it, whichever host runs it (EngineClient, LspEngine, EngineSwitch). */
export interface Engine extends vscode.Disposable {
  readonly state: EngineState;
  readonly onState: vscode.Event<EngineState>;
  /** Every message from the engine (documents subscribe to `needOpen`, the status bar to notices). */
  readonly onMessage: vscode.Event<EngineMessage>;
  /** Serves `path` as the engine's model; restarts the engine if it is running another. */
  setModel(path: string, name: string): Promise<void>;
  updateSettings(settings: EngineSettings): void;
  /** Sends a message without waiting for an answer (document events). */
  post(m: HostMessage): void;
  /** Sends a request and resolves with its answer; null when the engine is gone, cancelled or after `timeoutMs`. */
  request<T extends EngineMessage>(make: (id: number) => HostMessage, timeoutMs: number, token?: vscode.CancellationToken): Promise<T | null>;
}

export const VIEW_ID = 'pie.engine';

export class EngineClient implements Engine, vscode.WebviewViewProvider {
  private view: vscode.WebviewView | null = null;
  private file: FileHandle | null = null;
  /** The model file over HTTP for the webview (null: it reads through messages), and the address the webview uses. */
  private http: { server: ModelFileServer; url: string } | null = null;
  private model: { path: string; name: string; size: number } | null = null;
  /** The generation of the page in the webview (its messages carry it); bumped by every restart. */
  private generation = 0;
  /** Bumped by every setModel: an older call that is still opening its file gives up. */
  private modelSeq = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: EngineMessage | null) => void>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly stateEmitter = new vscode.EventEmitter<EngineState>();
  private readonly messageEmitter = new vscode.EventEmitter<EngineMessage>();
  readonly onState = this.stateEmitter.event;
  /** Every message from the engine (documents subscribe to `needOpen`, the status bar to notices). */
  readonly onMessage = this.messageEmitter.event;
  state: EngineState = { kind: 'starting', detail: 'waiting for the engine view' };
  /** The engine runs in another host (named here): the page only draws what it is forwarded. */
  private remote: string | null = null;
  private remoteState: EngineMessage | null = null;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private settings: EngineSettings,
  ) {}

  /** Serves `path` as the engine's model; restarts the engine if it is running another. */
  async setModel(path: string, name: string): Promise<void> {
    const seq = ++this.modelSeq;
    // The running page stops being served at once (its reads are dropped from here on), whatever it was loading.
    this.generation++;
    this.model = null;
    await this.closeFile();
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new Error('not a regular file');
      const f = await open(path, 'r');
      if (seq !== this.modelSeq) {
        await f.close().catch(() => undefined);
        return; // another setModel came while this one was opening its file
      }
      this.file = f;
      this.model = { path, name, size: st.size };
      this.http = await serveOverHttp(path);
      if (seq !== this.modelSeq) return;
    } catch (e) {
      if (seq !== this.modelSeq) return;
      this.model = null;
      this.setState({ kind: 'unavailable', reason: 'model-unreadable', message: `Model file ${path} cannot be opened (${(e as Error).message}). Set "pie.modelPath" or run "PIE: Select model".` });
      return;
    }
    this.restart();
  }

  /** A message of the engine in another host, for the page to draw (the last state is drawn again on a reload). */
  mirror(m: EngineMessage): void {
    if (m.type === 'booting' || m.type === 'ready' || m.type === 'unavailable') this.remoteState = m;
    this.post({ type: 'mirror', message: m });
  }

  /** The engine runs in `host` from now on (null: here again): the page is reloaded to draw what it is forwarded
   *  (`mirror`, `cacheView`) instead of running an engine. */
  setRemote(host: string | null): void {
    if (host === this.remote) return;
    this.remote = host;
    this.remoteState = null;
    this.restart();
  }

  updateSettings(settings: EngineSettings): void {
    this.settings = settings;
    this.post({ type: 'settings', settings });
  }

  /** Starts the engine view's webview if it has not started (the view's first reveal resolves it). */
  async reveal(preserveFocus: boolean): Promise<void> {
    if (this.view) {
      this.view.show(preserveFocus);
      return;
    }
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`, { preserveFocus });
    if (preserveFocus) await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const root = this.extensionUri;
    view.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(root, 'dist'), vscode.Uri.joinPath(root, 'media')] };
    this.disposables.push(
      view.webview.onDidReceiveMessage((m: StampedEngineMessage) => void this.receive(m)),
      view.onDidDispose(() => {
        this.view = null;
        this.failAll();
        this.setState({ kind: 'starting', detail: 'the engine view was closed; run "PIE: Show engine" to restart it' });
      }),
    );
    view.webview.html = html(view.webview, root, this.generation, this.http?.url);
  }

  post(m: HostMessage): void {
    void this.view?.webview.postMessage(m);
  }

  request<T extends EngineMessage>(make: (id: number) => HostMessage, timeoutMs: number, token?: vscode.CancellationToken): Promise<T | null> {
    if (this.state.kind !== 'ready' || !this.view) return Promise.resolve(null);
    const id = this.nextId++;
    return new Promise<T | null>((resolve) => {
      const done = (m: EngineMessage | null) => {
        clearTimeout(timer);
        sub?.dispose();
        this.waiting.delete(id);
        resolve(m as T | null);
      };
      const timer = setTimeout(() => {
        this.post({ type: 'cancel', id });
        done(null);
      }, timeoutMs);
      const sub = token?.onCancellationRequested(() => {
        this.post({ type: 'cancel', id });
        done(null);
      });
      this.waiting.set(id, done);
      this.post(make(id));
    });
  }

  dispose(): void {
    this.failAll();
    void this.closeFile();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.stateEmitter.dispose();
    this.messageEmitter.dispose();
  }

  private restart(): void {
    if (!this.view) return; // init is sent when the view's webview says it loaded
    this.failAll();
    this.setState({ kind: 'starting', detail: this.remote ? `the engine runs in ${this.remote}` : 'restarting the engine' });
    // A new page (the old one, and the GPU device and buffers of its load, go with it); its generation differs.
    this.generation++;
    this.view.webview.html = html(this.view.webview, this.extensionUri, this.generation, this.http?.url);
  }

  private async receive(m: StampedEngineMessage): Promise<void> {
    // A page this host has replaced (another model was chosen): nothing it says counts any more.
    const gen = m.gen;
    if (gen !== this.generation) return;
    switch (m.type) {
      case 'booting':
        if (m.stage === 'webview loaded') {
          if (this.remote) {
            this.post({ type: 'remote', host: this.remote });
            if (this.remoteState) this.post({ type: 'mirror', message: this.remoteState });
            return;
          }
          if (!this.model) return;
          this.post({ type: 'init', modelName: this.model.name, modelSize: this.model.size, settings: this.settings, load: loadOptions(this.http?.url) });
        }
        this.setState({ kind: 'starting', detail: m.stage, ...(m.fraction !== undefined ? { fraction: m.fraction } : {}) });
        break;
      case 'read':
        await this.serveBytes(gen, m.id, m.offset, m.length);
        return;
      case 'log':
        console.log(`[pie engine] ${m.message}`);
        break;
      case 'ready':
        this.setState({ kind: 'ready', host: 'webview', device: m.device, cpu: m.cpu, limits: m.limits, model: m.model, loadMs: m.loadMs });
        break;
      case 'unavailable':
        this.failAll();
        this.setState({ kind: 'unavailable', reason: m.reason, message: m.message });
        break;
      case 'completion':
      case 'noCompletion':
      case 'resynced':
        this.waiting.get(m.id)?.(m);
        break;
    }
    this.messageEmitter.fire(m);
  }

  /** Answers a read of page `gen`; nothing when that page was replaced meanwhile (another model, another page). */
  private async serveBytes(gen: number, id: number, offset: number, length: number): Promise<void> {
    const file = this.file;
    let answer: HostMessage;
    try {
      if (!file) throw new Error('no model file is open');
      const data = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await file.read(data, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      answer = { type: 'bytes', id, data: done === length ? data : data.slice(0, done) };
    } catch (e) {
      answer = { type: 'bytesError', id, message: (e as Error).message };
    }
    if (gen === this.generation && file === this.file) this.post(answer);
  }

  /** Answers every pending request with nothing (the engine restarted, failed or went away). */
  private failAll(): void {
    for (const done of [...this.waiting.values()]) done(null);
  }

  private setState(s: EngineState): void {
    this.state = s;
    this.stateEmitter.fire(s);
  }

  private async closeFile(): Promise<void> {
    const f = this.file;
    this.file = null;
    this.http?.server.close();
    this.http = null;
    await f?.close().catch(() => undefined);
  }
}

/** The model file served over HTTP on 127.0.0.1, at the address the webview reaches it by (code-server: its proxy);
 *  null when it cannot be (the webview then reads through messages). */
async function serveOverHttp(path: string): Promise<{ server: ModelFileServer; url: string } | null> {
  if (process.env.PIE_MODEL_TRANSPORT === 'serial' || process.env.PIE_MODEL_TRANSPORT === 'pipelined') return null;
  let server: ModelFileServer | null = null;
  try {
    server = await ModelFileServer.start(path);
    // code-server maps it to its own /proxy/PORT/ route; the desktop keeps it (or forwards the port, for a remote)
    const external = (await vscode.env.asExternalUri(vscode.Uri.parse(server.origin))).toString(true);
    return { server, url: new URL(server.path, external.endsWith('/') ? external : `${external}/`).toString() };
  } catch (e) {
    server?.close();
    console.log(`[pie engine] the model cannot be served over HTTP (${(e as Error).message}); the webview reads it through messages`);
    return null;
  }
}

/** How the webview reads the model (ModelLoadOptions); the environment overrides it for bench/webview-load.ts. */
function loadOptions(url: string | undefined): ModelLoadOptions {
  const env = process.env;
  const mib = (v: string | undefined, dflt: number) => (v && Number(v) > 0 ? Math.round(Number(v) * (1 << 20)) : dflt);
  return {
    ...(url ? { url } : {}),
    transport: url ? 'http' : env.PIE_MODEL_TRANSPORT === 'serial' ? 'serial' : 'pipelined',
    chunkBytes: mib(env.PIE_MODEL_CHUNK_MIB, 4 << 20),
    aheadBytes: mib(env.PIE_MODEL_AHEAD_MIB, 32 << 20),
    readPass: env.PIE_MODEL_READ_PASS === '1',
  };
}

function html(webview: vscode.Webview, root: vscode.Uri, gen: number, modelUrl: string | undefined): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(root, 'dist', 'webview.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(root, 'media', 'engine.css'));
  // the one address the page may fetch from: the model file over HTTP (ModelFileServer), when there is one
  const connect = modelUrl ? ` connect-src ${new URL(modelUrl).origin};` : '';
  const csp = `default-src 'none'; style-src ${webview.cspSource}; img-src ${webview.cspSource}; script-src 'nonce-${nonce}';${connect}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="stylesheet" href="${style}">
<title>PIE Engine</title>
</head>
<body data-gen="${gen}">
<p id="status">Starting WebGPU…</p>
<p id="load"></p>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
