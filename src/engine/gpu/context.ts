// The engine's handle on one GPUDevice: what it can do, a pipeline cache, buffer helpers, and batches of dispatches.
// Pure WebGPU: the same code runs on Dawn in Node and on navigator.gpu in a webview.
import { EngineError } from '../errors.js';
import { assertShaderDeclares, type ScalarType, type UniformStruct } from './uniforms.js';

export interface GpuDescription {
  /** How the adapter was found, e.g. "vulkan (lavapipe, Mesa 25 CPU driver)" or "navigator.gpu". */
  backend: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software drivers (SwiftShader, lavapipe, llvmpipe). */
  cpu: boolean;
}

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
}

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

/** A compute kernel: one shader file, its uniform struct, and its bindings in @group(0) index order. */
export interface KernelDef {
  name: string;
  source: string;
  entry?: string;
  /** Binding i of @group(0) has kind bindings[i]. By convention binding 0 is the uniform struct `params`. */
  bindings: readonly BindingKind[];
  params?: UniformStruct<Record<string, ScalarType>>;
}

export type Constants = Record<string, number>;

/** One dispatch as a batch recorded it: the kernel (its pipeline is def.name, entry and constants) and its grid. */
export interface DispatchRecord {
  kernel: KernelDef;
  constants: Constants;
  workgroups: [number, number, number];
}

export class GpuContext {
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private readonly checkedShaders = new Set<string>();
  private lostReason: string | null = null;
  /** Validation and out-of-memory errors the device reported since the last read (a bad shader, a bad binding). */
  private live = 0;
  private readonly retired: GPUBuffer[] = [];
  private readonly errors: { kind: 'out-of-memory' | 'internal'; text: string }[] = [];
  /** Uniform arena reused across batches: queue.writeBuffer is ordered with submits, so reuse is safe. */
  private arena: GPUBuffer | null = null;
  private nudge: GPUBuffer | null = null;
  /** How each shared scratch buffer (grown on demand, kept between calls) lets go of itself: releaseScratch(). */
  private readonly scratchOwners = new Set<() => void>();
  /** The dispatches recorded while traceDispatches() runs; null otherwise (nothing is kept). */
  private dispatchLog: DispatchRecord[] | null = null;

  constructor(
    readonly device: GPUDevice,
    readonly info: GpuDescription,
    readonly features: GpuFeatures,
    /** Objects (such as Dawn's GPU instance) that must stay referenced for as long as the device lives. */
    private readonly keepAlive: unknown[] = [],
  ) {
    void device.lost.then((l) => {
      this.lostReason = `${l.reason}: ${l.message}`;
    });
    // WebGPU reports invalid shaders, pipelines and dispatches asynchronously, and the work is then skipped silently;
    // collect them so that the next read-back fails instead of returning stale data.
    device.addEventListener('uncapturederror', (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      // by the error's class: GPUOutOfMemoryError, GPUValidationError, GPUInternalError
      const kind = typeof GPUOutOfMemoryError !== 'undefined' && err instanceof GPUOutOfMemoryError ? 'out-of-memory' : 'internal';
      if (this.errors.length < 10) this.errors.push({ kind, text: `${err.constructor.name}: ${err.message}` });
    });
  }

  /** Throws the errors the device reported since the last check (the first few), and forgets them. */
  throwIfFailed(): void {
    if (this.lostReason) throw new GpuDeviceError('device-lost', `the GPU device was lost (${this.lostReason})`);
    if (this.errors.length === 0) return;
    const all = this.errors.splice(0);
    const oom = all.some((e) => e.kind === 'out-of-memory');
    throw new GpuDeviceError(oom ? 'out-of-memory' : 'internal', `the GPU reported ${all.length} error(s): ${all.map((e) => e.text).join(' | ')}`);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** Null while the device is usable; else why it was lost. */
  get lost(): string | null {
    return this.lostReason;
  }

  describe(): string {
    const i = this.info;
    const name = [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(' ');
    return `${name || 'unknown adapter'} [${i.backend}]`;
  }

  pipeline(def: KernelDef, constants: Constants = {}): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = `${def.name}|${def.entry ?? 'main'}|${JSON.stringify(constants)}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    if (def.params && !this.checkedShaders.has(def.name)) {
      assertShaderDeclares(def.source, def.params, def.name);
      this.checkedShaders.add(def.name);
    }
    const layout = this.device.createBindGroupLayout({
      label: def.name,
      entries: def.bindings.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: kind },
      })),
    });
    const module = this.device.createShaderModule({ label: def.name, code: def.source });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: def.entry ?? 'main', constants },
    });
    p = { pipeline, layout };
    this.pipelines.set(key, p);
    return p;
  }

  /**
   * Runs `fn` and returns every dispatch that a batch of this context recorded meanwhile, in order: which kernel
   * variant (a pipeline: name, entry point, constants) a wrapper chose, for tests. Nothing is recorded outside it.
   */
  traceDispatches(fn: () => void): DispatchRecord[] {
    const outer = this.dispatchLog;
    const log: DispatchRecord[] = [];
    this.dispatchLog = log;
    try {
      fn();
    } finally {
      this.dispatchLog = outer;
    }
    outer?.push(...log);
    return log;
  }

  /** @internal Batch.dispatch reports each dispatch it records (kept only inside traceDispatches). */
  noteDispatch(kernel: KernelDef, constants: Constants, workgroups: [number, number, number]): void {
    this.dispatchLog?.push({ kernel, constants, workgroups });
  }

  buffer(byteSize: number, label: string, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    // Bindings and copies need sizes in multiples of 4; a zero-sized binding is invalid.
    const size = Math.max(16, Math.ceil(byteSize / 16) * 16);
    if (size > this.device.limits.maxBufferSize) {
      throw new GpuMemoryError(`${label} needs ${fmtBytes(size)}, over this device's largest buffer (${fmtBytes(this.device.limits.maxBufferSize)})`);
    }
    const buf = this.device.createBuffer({ label, size, usage });
    this.live += size;
    // counted until destroyed (once): liveBytes shows what the engine holds, and a leak as growth
    const destroy = buf.destroy.bind(buf);
    let gone = false;
    buf.destroy = () => {
      if (!gone) this.live -= size;
      gone = true;
      destroy();
    };
    return buf;
  }

  /**
   * Destroys `buf` once the work submitted next is done: for a scratch buffer replaced by a larger one while a batch
   * that binds it is still being recorded (its bind groups are made at submit).
   */
  retire(buf: GPUBuffer): void {
    this.retired.push(buf);
  }

  /** @internal after a batch's submit: the retired buffers go when the device has finished it. */
  afterSubmit(): void {
    if (this.retired.length === 0) return;
    const bufs = this.retired.splice(0);
    void this.device.queue.onSubmittedWorkDone().then(() => {
      for (const b of bufs) b.destroy();
    });
  }

  /**
   * Gives the memory of the buffers destroyed so far time to go back to the driver. Dawn frees it in a device tick
   * after a submission made after the destroy has completed, and a wait can see that completion before the tick that
   * frees: tiny submissions, each waited for, 2 of them. Best effort: the memory can still be held after it (seen with
   * lavapipe), so a caller that needs it back tries again after another reclaim().
   */
  async reclaim(): Promise<void> {
    this.nudge ??= this.device.createBuffer({ label: 'reclaim', size: 16, usage: GPUBufferUsage.COPY_DST });
    for (let i = 0; i < 2; i++) {
      const enc = this.device.createCommandEncoder({ label: 'reclaim' });
      enc.clearBuffer(this.nudge);
      this.device.queue.submit([enc.finish()]);
      await this.device.queue.onSubmittedWorkDone();
    }
  }

  /**
   * Registers how a shared scratch buffer is let go of (destroyed, to be made again at its next use); the returned
   * function unregisters it.
   */
  ownScratch(release: () => void): () => void {
    this.scratchOwners.add(release);
    return () => this.scratchOwners.delete(release);
  }

  /**
   * Lets go of every shared scratch buffer and the uniform arena, between two pieces of work. After the device refused
   * memory, one of them may be a buffer that failed to allocate, which would fail every later call that binds it; made
   * again at their next use, they are valid (or refused again, and said so). It also gives back their memory.
   */
  releaseScratch(): void {
    for (const release of this.scratchOwners) release();
    this.arena?.destroy();
    this.arena = null;
  }

  /** Bytes of the buffers made by buffer() and not destroyed yet (weights, caches, scratch; not read-back staging). */
  get liveBytes(): number {
    return this.live;
  }

  /** A storage buffer holding `data` (padded to 16 bytes). */
  upload(data: ArrayBufferView, label: string): GPUBuffer {
    const buf = this.buffer(data.byteLength, label);
    this.write(buf, data);
    return buf;
  }

  write(buf: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const whole = bytes.byteLength & ~3;
    if (whole > 0) this.device.queue.writeBuffer(buf, byteOffset, bytes, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buf, byteOffset + whole, tail);
    }
  }

  /** Copies `byteSize` bytes at `byteOffset` of `buf` back to the host. */
  async read(buf: GPUBuffer, byteOffset = 0, byteSize = buf.size - byteOffset): Promise<ArrayBuffer> {
    const size = Math.ceil(byteSize / 4) * 4;
    const staging = this.device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    try {
      const enc = this.device.createCommandEncoder({ label: 'readback' });
      enc.copyBufferToBuffer(buf, byteOffset, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      // a failed map (the staging or the copy refused) is explained by the errors the device reported
      await staging.mapAsync(GPUMapMode.READ).catch(async (e: Error) => {
        if (!this.lostReason && this.errors.length === 0) await this.device.queue.onSubmittedWorkDone();
        this.throwIfFailed();
        throw new GpuDeviceError('internal', `reading back from the GPU failed (${e.name}: ${e.message})`);
      });
      this.throwIfFailed();
      return staging.getMappedRange().slice(0, byteSize);
    } finally {
      staging.destroy();
    }
  }

  async readF32(buf: GPUBuffer, offsetElems = 0, count?: number): Promise<Float32Array> {
    const n = count ?? buf.size / 4 - offsetElems;
    return new Float32Array(await this.read(buf, offsetElems * 4, n * 4));
  }

  async readU32(buf: GPUBuffer, offsetElems = 0, count?: number): Promise<Uint32Array> {
    const n = count ?? buf.size / 4 - offsetElems;
    return new Uint32Array(await this.read(buf, offsetElems * 4, n * 4));
  }

  batch(label = 'batch'): Batch {
    return new Batch(this, label);
  }

  /** @internal the uniform arena, grown to at least `size` bytes. */
  uniformArena(size: number): GPUBuffer {
    if (!this.arena || this.arena.size < size) {
      this.arena?.destroy();
      const grown = Math.max(size, (this.arena?.size ?? 0) * 2, 64 * 1024);
      this.arena = this.device.createBuffer({ label: 'uniform arena', size: grown, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    }
    return this.arena;
  }

  destroy(): void {
    this.arena?.destroy();
    this.nudge?.destroy();
    this.device.destroy();
    this.keepAlive.length = 0;
  }
}

/** An allocation over the device's limits, or one it refused. */
export class GpuMemoryError extends EngineError {
  constructor(message: string) {
    super('out-of-memory', message);
    this.name = 'GpuMemoryError';
  }
}

/** The device was lost ('device-lost'), or reported errors: out of memory ('out-of-memory'), or validation ('internal'). */
export class GpuDeviceError extends EngineError {
  constructor(kind: 'device-lost' | 'out-of-memory' | 'internal', message: string) {
    super(kind, message);
    this.name = 'GpuDeviceError';
  }
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

interface PendingDispatch {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  buffers: Binding[];
  uniformOffset: number;
  uniformSize: number;
  workgroups: [number, number, number];
}

type Step = { kind: 'dispatch'; d: PendingDispatch } | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };

/**
 * Records dispatches and copies; `submit()` writes all uniforms in one writeBuffer into the shared arena, encodes one
 * command buffer (consecutive dispatches share one compute pass) and submits it.
 */
export class Batch {
  private readonly steps: Step[] = [];
  private uniforms = new DataView(new ArrayBuffer(4096));
  private uniformBytes = 0;

  constructor(
    readonly ctx: GpuContext,
    readonly label: string,
  ) {}

  /** Dispatches `def` with `params` packed into binding 0 and `buffers` at bindings 1.. in order. */
  dispatch(def: KernelDef, params: Record<string, number> | null, buffers: Binding[], workgroups: number | [number, number?, number?], constants: Constants = {}): void {
    const { pipeline, layout } = this.ctx.pipeline(def, constants);
    const wg: [number, number, number] = typeof workgroups === 'number' ? [workgroups, 1, 1] : [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1];
    const maxWg = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    if (wg.some((n) => !Number.isInteger(n) || n < 0 || n > maxWg)) {
      throw new Error(`${def.name}: workgroup count ${wg.join('x')} is outside 0..${maxWg} per dimension`);
    }
    if (wg[0] * wg[1] * wg[2] === 0) return;
    let uniformOffset = 0;
    let uniformSize = 0;
    if (def.params) {
      if (!params) throw new Error(`${def.name}: uniform params missing`);
      const align = this.ctx.limits.minUniformBufferOffsetAlignment;
      uniformOffset = Math.ceil(this.uniformBytes / align) * align;
      uniformSize = def.params.byteSize;
      this.ensureUniformSpace(uniformOffset + uniformSize);
      def.params.pack(params, this.uniforms, uniformOffset);
      this.uniformBytes = uniformOffset + uniformSize;
    }
    const expected = def.bindings.length - (def.params ? 1 : 0);
    if (buffers.length !== expected) throw new Error(`${def.name}: ${buffers.length} buffers bound, the kernel declares ${expected}`);
    this.steps.push({ kind: 'dispatch', d: { pipeline, layout, buffers, uniformOffset, uniformSize, workgroups: wg } });
    this.ctx.noteDispatch(def, constants, wg);
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    if (size > 0) this.steps.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
  }

  get length(): number {
    return this.steps.length;
  }

  private ensureUniformSpace(n: number): void {
    if (n <= this.uniforms.byteLength) return;
    const grown = new DataView(new ArrayBuffer(Math.max(n, this.uniforms.byteLength * 2)));
    new Uint8Array(grown.buffer).set(new Uint8Array(this.uniforms.buffer));
    this.uniforms = grown;
  }

  /** Encodes every recorded step into one command buffer and submits it. The batch can then be discarded. */
  submit(): void {
    if (this.steps.length === 0) return;
    const { device } = this.ctx;
    const arena = this.ctx.uniformArena(Math.max(this.uniformBytes, 16));
    if (this.uniformBytes > 0) device.queue.writeBuffer(arena, 0, this.uniforms.buffer, 0, Math.ceil(this.uniformBytes / 4) * 4);
    const enc = device.createCommandEncoder({ label: this.label });
    let pass: GPUComputePassEncoder | null = null;
    for (const s of this.steps) {
      if (s.kind === 'copy') {
        pass?.end();
        pass = null;
        enc.copyBufferToBuffer(s.src, s.srcOffset, s.dst, s.dstOffset, s.size);
        continue;
      }
      const d = s.d;
      pass ??= enc.beginComputePass({ label: this.label });
      const entries: GPUBindGroupEntry[] = [];
      let binding = 0;
      if (d.uniformSize > 0) entries.push({ binding: binding++, resource: { buffer: arena, offset: d.uniformOffset, size: d.uniformSize } });
      for (const b of d.buffers) entries.push({ binding: binding++, resource: 'buffer' in b ? b : { buffer: b } });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: d.layout, entries }));
      pass.dispatchWorkgroups(...d.workgroups);
    }
    pass?.end();
    device.queue.submit([enc.finish()]);
    this.ctx.afterSubmit();
    this.steps.length = 0;
    this.uniformBytes = 0;
  }
}

/**
 * Most workgroups for a kernel whose invocations loop over the elements past the grid (swiglu, gelu, bias): few on CPU
 * drivers, where each invocation costs more than its element (64 is still one per thread on a 64-thread CPU); on GPUs
 * enough to fill the device.
 */
export function strideWorkgroupCap(ctx: GpuContext): number {
  return ctx.info.cpu ? 64 : 4096;
}

/** Splits `n` workgroups over x and y so that neither exceeds the per-dimension limit. Shaders rebuild the linear id as
 *  `wid.x + wid.y * nwg.x` (with `@builtin(num_workgroups) nwg`) and return when it is past the end. */
export function grid(ctx: GpuContext, n: number): [number, number] {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [n, 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}
