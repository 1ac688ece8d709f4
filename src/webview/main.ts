// The webview entry: boots the engine on navigator.gpu, streams the model from the extension host (which reads the
// file; the webview never holds the whole file), runs the EngineServer, and draws the engine panel.
import { acquireBrowserGpu } from '../engine/gpu/acquire.js';
import { fmtBytes, type GpuContext } from '../engine/gpu/context.js';
import type { ByteSource } from '../engine/model/gguf.js';
import { LlamaModel } from '../engine/model/model.js';
import { EngineServer, errorMessage } from '../engine/server.js';
import type { EngineMessage, HostMessage } from '../protocol/messages.js';
import { EnginePanelView } from './panel.js';

interface VsCodeApi {
  postMessage(message: EngineMessage): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const view = new EnginePanelView(document);
const post = (m: EngineMessage) => {
  view.engineMessage(m);
  vscode.postMessage(m);
};

/** The model file, read through the extension host in slices as the loader asks for them. */
class HostFile implements ByteSource {
  private next = 1;
  private readonly pending = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  constructor(readonly size: number) {}
  read(offset: number, length: number): Promise<Uint8Array> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      post({ type: 'read', id, offset, length });
    });
  }
  answer(m: Extract<HostMessage, { type: 'bytes' | 'bytesError' }>): void {
    const p = this.pending.get(m.id);
    this.pending.delete(m.id);
    if (m.type === 'bytes') p?.resolve(m.data);
    else p?.reject(new Error(m.message));
  }
}

let file: HostFile | null = null;
let server: EngineServer | null = null;
/** Document events that arrive while the engine boots, applied in order once it is up. */
let backlog: HostMessage[] = [];
let booting = false;

async function boot(init: Extract<HostMessage, { type: 'init' }>, reopen: ReturnType<EngineServer['documents']> = []): Promise<void> {
  booting = true;
  let ctx: GpuContext;
  try {
    post({ type: 'booting', stage: 'requesting a WebGPU device' });
    if (!navigator.gpu) {
      return post({ type: 'unavailable', reason: 'no-webgpu', message: 'WebGPU is not available in this VS Code window (navigator.gpu is missing). Use a VS Code build with WebGPU, or enable it for the browser that runs code-server.' });
    }
    ctx = await acquireBrowserGpu(navigator.gpu);
  } catch (e) {
    return post({ type: 'unavailable', reason: 'no-adapter', message: errorMessage(e) });
  } finally {
    booting = false;
  }
  booting = true;
  const t0 = performance.now();
  let model: LlamaModel;
  try {
    file = new HostFile(init.modelSize);
    model = await LlamaModel.load(ctx, file, (p) =>
      post({ type: 'booting', stage: `loading ${init.modelName}: ${fmtBytes(p.bytesLoaded)} of ${fmtBytes(p.bytesTotal)} (${p.tensorsLoaded}/${p.tensorsTotal} tensors)` }),
    );
  } catch (e) {
    booting = false;
    ctx.destroy();
    const oom = /out of memory|memory/i.test(errorMessage(e));
    return post({ type: 'unavailable', reason: oom ? 'out-of-memory' : 'model', message: `${init.modelName} could not be loaded: ${errorMessage(e)}` });
  }
  const loadMs = performance.now() - t0;
  // Messages keep going to the backlog until the warm-up is done: it uses the GPU outside the server's queue.
  const warm = new EngineServer(model, post, init.settings);
  post({ type: 'booting', stage: 'compiling the kernels' });
  let warmupMs = 0;
  try {
    warmupMs = await warm.warmup();
  } catch (e) {
    post({ type: 'log', message: `warm-up failed (the first completion will compile the kernels): ${errorMessage(e)}` });
  }
  server = warm;
  warm.onUpdate = () => view.update(warm);
  const features = Object.entries(ctx.features)
    .filter(([, on]) => on)
    .map(([name]) => name);
  const device = ctx.describe();
  const info = EngineServer.modelInfo(model, init.modelName, init.settings);
  view.ready(device, info, loadMs, warmupMs);
  post({ type: 'ready', device, features, model: info, loadMs, warmupMs });
  booting = false;
  // A lost device (driver reset, GPU removed): re-create it, reload the model and re-open the documents.
  void ctx.device.lost.then(async (info) => {
    if (info.reason === 'destroyed') return;
    const docs = server?.documents() ?? [];
    server?.dispose();
    server = null;
    post({ type: 'unavailable', reason: 'device-lost', message: `The GPU device was lost (${info.message || info.reason}); restarting the engine.` });
    await boot(init, docs);
  });
  for (const d of reopen) await server.handle({ type: 'open', ...d });
  const queued = backlog;
  backlog = [];
  for (const m of queued) void server.handle(m);
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'init':
      if (!server && !booting) void boot(m);
      return;
    case 'bytes':
    case 'bytesError':
      file?.answer(m);
      return;
    case 'settings':
      view.settings(m.settings);
      break;
  }
  if (server) void server.handle(m);
  else if (m.type === 'complete' || m.type === 'resync') post({ type: 'noCompletion', id: m.id, reason: 'error', message: 'the engine is not ready' });
  else backlog.push(m);
});

post({ type: 'booting', stage: 'webview loaded' });
