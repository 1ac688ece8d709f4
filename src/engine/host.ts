// The engine's life in any host: a device, the model streamed onto it, the kernels compiled, then an EngineServer fed
// the host's messages; and the same again on a new device when the one in use is lost. Shared by the webview (on
// navigator.gpu, src/webview/main.ts) and the language server (on Dawn, src/lsp/server.ts), so the two cannot drift.
//
// While it boots, document events and requests wait in a backlog (backlog.ts: the latest state of each document, one
// completion request per document; applied in order once it is up, or the requests answered with the reason if the
// boot fails); when it is unavailable, requests are answered at once with `noCompletion` ("not ready"). A lost device is said once (`unavailable`, kind 'device-lost'), then a new one is
// requested, the model loaded again, the open documents re-opened and the ones that had a cache re-encoded, and
// `ready` says it is back. A device that cannot be re-created leaves `unavailable` with its reason; so do more than
// MAX_LOSSES losses within LOSS_WINDOW_MS (a driver that keeps failing is not retried forever).
import { Backlog } from './backlog.js';
import { failureOf } from './errors.js';
import { measureCopyBandwidth } from './gpu/bandwidth.js';
import type { GpuContext } from './gpu/context.js';
import { fmtBytes } from './gpu/context.js';
import type { ByteSource } from './model/gguf.js';
import { TransformerModel } from './model/model.js';
import { type DocumentSnapshot, EngineServer, errorMessage } from './server.js';
import type { EngineMessage, EngineSettings, HostMessage } from '../protocol/messages.js';

export const MAX_LOSSES = 3;
export const LOSS_WINDOW_MS = 60_000;

/** What a host provides: where messages go, how it gets a device, and the model's bytes. */
export interface EngineHostIO {
  send(m: EngineMessage): void;
  /** A new device (each call); throws an EngineError ('no-adapter', ...) when there is none. */
  acquire(): Promise<GpuContext>;
  /** The model's bytes for one load; `close` is called once the load is over. */
  openModel(): Promise<{ source: ByteSource; close?(): unknown }>;
}

export class EngineHost {
  private current: EngineServer | null = null;
  private ctx: GpuContext | null = null;
  private readonly backlog = new Backlog();
  /** Why the last boot failed (its `unavailable`), for the requests that waited for it. */
  private lastFailure: Extract<EngineMessage, { type: 'unavailable' }> | null = null;
  private booting = false;
  private disposed = false;
  private readonly losses: number[] = [];
  /** Called after anything that changes what the engine panel shows (the server's onUpdate). */
  onUpdate: ((server: EngineServer) => void) | null = null;

  constructor(
    private readonly io: EngineHostIO,
    private readonly modelName: string,
    private settings: EngineSettings,
  ) {}

  /** The running server, null while booting or unavailable. */
  get server(): EngineServer | null {
    return this.current;
  }

  /** Boots the engine; resolves true when it is ready, false when it is unavailable (the message said why). */
  async start(reopen: DocumentSnapshot[] = []): Promise<boolean> {
    if (this.disposed || this.booting || this.current) return this.current !== null;
    this.booting = true;
    let ok = false;
    try {
      ok = await this.boot(reopen);
      return ok;
    } finally {
      this.booting = false;
      // a boot that failed answers the requests that waited for it
      const why = this.lastFailure;
      if (!ok) for (const r of this.backlog.takeRequests()) this.io.send({ type: 'noCompletion', id: r.id, reason: 'error', ...(why ? { kind: why.reason } : {}), message: `the engine could not start${why ? `: ${why.message}` : ''}` });
    }
  }

  /** Queued messages while booting (bounded: backlog.ts). */
  get backlogSize(): number {
    return this.backlog.size;
  }

  /** One message from the editor: to the server, or the backlog while booting. */
  handle(m: HostMessage): Promise<void> {
    if (m.type === 'settings') this.settings = m.settings;
    if (this.current) return this.current.handle(m);
    if (m.type === 'cancel') {
      if (this.backlog.cancel(m.id)) this.io.send({ type: 'noCompletion', id: m.id, reason: 'cancelled' });
    } else if ((m.type === 'complete' || m.type === 'resync') && !this.booting) {
      this.io.send({ type: 'noCompletion', id: m.id, reason: 'error', message: 'the engine is not ready' });
    } else {
      for (const answer of this.backlog.push(m)) this.io.send(answer);
    }
    return Promise.resolve();
  }

  /** Destroys the device as a driver reset would (a test hook: "PIE: Simulate GPU device loss", pie/loseDevice): the
   *  engine recovers as from any other loss. */
  loseDevice(): void {
    this.ctx?.device.destroy();
  }

  /** Stops for good: the server, its caches and the device (a destroyed device is not a loss). */
  dispose(): void {
    this.disposed = true;
    this.current?.dispose();
    this.current = null;
    this.ctx?.destroy();
    this.ctx = null;
  }

  private async boot(reopen: DocumentSnapshot[]): Promise<boolean> {
    this.lastFailure = null;
    const send = (m: EngineMessage) => {
      if (m.type === 'unavailable') this.lastFailure = m;
      this.io.send(m);
    };
    send({ type: 'booting', stage: 'requesting a WebGPU device' });
    let ctx: GpuContext;
    try {
      ctx = await this.io.acquire();
    } catch (e) {
      const f = failureOf(e);
      send({ type: 'unavailable', reason: f.kind, message: f.message });
      return false;
    }
    if (this.disposed) {
      ctx.destroy();
      return false;
    }
    this.ctx = ctx;
    const name = this.modelName;
    // The device's copy bandwidth, for the catalog's expected decode speeds (src/models/catalog.ts): measured before the
    // model takes its memory, on 2 x 64 MiB (more than a CPU's last-level cache or a GPU's L2), the copies in each
    // submission doubled until one takes 10 ms (0.25-0.6 s on lavapipe on 2 busy cores, the buffers' first use included).
    let copyBytesPerS: number | undefined;
    try {
      const t0 = performance.now();
      const bw = await measureCopyBandwidth(ctx, { bytes: 64 << 20, runs: 3, minMs: 10 });
      copyBytesPerS = bw.bytesPerS;
      send({ type: 'log', message: `copy bandwidth ${(bw.bytesPerS / 1e9).toFixed(2)} GB/s (${bw.copies} x ${fmtBytes(bw.bytes)} per submission, median of ${bw.copyMs.length}; ${(performance.now() - t0).toFixed(0)} ms)` });
    } catch (e) {
      send({ type: 'log', message: `the copy bandwidth could not be measured (the model picker shows no expected speeds): ${errorMessage(e)}` });
    }
    let model: TransformerModel;
    let loadMs = 0;
    try {
      const { source, close } = await this.io.openModel();
      const t0 = performance.now();
      try {
        model = await TransformerModel.load(ctx, source, (p) =>
          send({ type: 'booting', stage: `loading ${name}: ${fmtBytes(p.bytesLoaded)} of ${fmtBytes(p.bytesTotal)} (${p.tensorsLoaded}/${p.tensorsTotal} tensors)`, fraction: p.bytesTotal ? p.bytesLoaded / p.bytesTotal : 0 }),
        );
      } finally {
        await close?.();
      }
      loadMs = performance.now() - t0;
      send({ type: 'log', message: `${name} loaded in ${loadMs.toFixed(0)} ms (${(source.size / 1e6).toFixed(1)} MB, ${(source.size / 1e3 / loadMs).toFixed(1)} MB/s)` });
    } catch (e) {
      this.ctx = null;
      ctx.destroy();
      const f = failureOf(e);
      send({ type: 'log', message: `${name} could not be loaded: ${f.message}` });
      send({ type: 'unavailable', reason: f.kind, message: `${name} could not be loaded: ${f.message}` });
      return false;
    }
    // Messages keep going to the backlog until the warm-up is done: it uses the GPU outside the server's queue.
    const server = new EngineServer(model, send, this.settings);
    send({ type: 'booting', stage: 'compiling the kernels' });
    let warmupMs = 0;
    try {
      warmupMs = await server.warmup();
    } catch (e) {
      send({ type: 'log', message: `warm-up failed (the first completion will compile the kernels): ${errorMessage(e)}` });
    }
    if (this.disposed) {
      server.dispose();
      ctx.destroy();
      return false;
    }
    this.current = server;
    server.onUpdate = () => this.onUpdate?.(server);
    void ctx.device.lost.then((info) => this.deviceLost(ctx, `${info.reason}${info.message ? `: ${info.message}` : ''}`));
    const features = Object.entries(ctx.features)
      .filter(([, on]) => on)
      .map(([f]) => f);
    const limits = { maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, maxBufferSize: ctx.limits.maxBufferSize };
    // the documents come back first (the server's queue keeps that order), then what arrived while it booted
    const t0 = performance.now();
    const restoring = reopen.length ? server.restore(reopen) : null;
    const restored = reopen.map(({ uri, version }) => ({ uri, version }));
    const measured = { ...(copyBytesPerS ? { copyBytesPerS } : {}), ...(server.warmupDecodeTokPerS ? { decodeTokPerS: server.warmupDecodeTokPerS } : {}) };
    send({ type: 'ready', device: ctx.describe(), cpu: ctx.info.cpu, features, limits, model: { ...EngineServer.modelInfo(model, name, this.settings), ...measured }, loadMs, warmupMs, restored });
    for (const m of this.backlog.take()) void server.handle(m);
    if (restoring) {
      const encoded = await restoring;
      send({ type: 'log', message: `re-opened ${reopen.length} documents on the new device and re-encoded the ${encoded} that had a cache in ${(performance.now() - t0).toFixed(0)} ms` });
    }
    return true;
  }

  /** The device went away without dispose(): a driver reset, a removed GPU, or destroy() from elsewhere. */
  private async deviceLost(ctx: GpuContext, reason: string): Promise<void> {
    if (this.disposed || ctx !== this.ctx) return;
    const docs = this.current?.documents() ?? [];
    this.current?.dispose();
    this.current = null;
    this.ctx = null;
    const now = Date.now();
    this.losses.push(now);
    while (this.losses.length && this.losses[0]! < now - LOSS_WINDOW_MS) this.losses.shift();
    if (this.losses.length > MAX_LOSSES) {
      this.io.send({ type: 'unavailable', reason: 'device-lost', message: `The GPU device was lost ${this.losses.length} times within ${LOSS_WINDOW_MS / 1000} s (last: ${reason}); the engine is not restarted again. Reload the window to try again.` });
      return;
    }
    this.io.send({ type: 'unavailable', reason: 'device-lost', message: `The GPU device was lost (${reason}); restarting the engine.` });
    await this.start(docs);
  }
}
