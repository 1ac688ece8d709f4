// A transformer model on the GPU (the families of arch/: llama, qwen2, starcoder2): weights, scratch activations, and
// forward(), which records the family's layer (arch/arch.ts transformerLayer, shared with the f64 reference model of the
// tests) through GPU ops. One forward() call encodes a batch of tokens at given positions into given cache rows
// (prefill when many, decode when one) and optionally returns logits.
import { dequantize, formatOfGGML, gpuRowWords, rawRowBytes } from '../formats/index.js';
import { type Batch, fmtBytes, type GpuContext, GpuDeviceError, GpuMemoryError } from '../gpu/context.js';
import { createWeight, type GpuWeight, writeWeightRows } from '../gpu/weight.js';
import { argmax } from '../kernels/argmax.js';
import { attention } from '../kernels/attention.js';
import { addBias } from '../kernels/bias.js';
import { embedding } from '../kernels/embedding.js';
import { gelu } from '../kernels/gelu.js';
import { kvStore } from '../kernels/kvstore.js';
import { layernorm } from '../kernels/layernorm.js';
import { matmul } from '../kernels/matmul.js';
import { rmsnorm } from '../kernels/rmsnorm.js';
import { rope } from '../kernels/rope.js';
import { swiglu } from '../kernels/swiglu.js';
import { KvCache } from '../kv/cache.js';
import { GLOBAL_TENSORS, isMatrix, LAYER_TENSORS, type LayerTensor, type LayerWeights, type Ops, transformerLayer } from './arch/arch.js';
import { type ModelConfig, ModelFormatError, modelConfigFromGGUF } from './config.js';
import { type ByteSource, type GGUFFile, ggmlTypeName, readGGUF, type TensorInfo } from './gguf.js';
import { type Tokenizer, tokenizerFromMetadata } from './tokenizer.js';

type GpuLayer = LayerWeights<GpuWeight, GPUBuffer>;

/** Activations for up to `tokens` tokens per forward call. */
class Scratch {
  readonly x: GPUBuffer; // (tokens, dim) residual stream
  readonly xb: GPUBuffer; // (tokens, dim) normed
  readonly q: GPUBuffer; // (tokens, nHeads*headDim)
  readonly k: GPUBuffer; // (tokens, nKvHeads*headDim)
  readonly v: GPUBuffer; // (tokens, nKvHeads*headDim)
  readonly att: GPUBuffer; // (tokens, nHeads*headDim)
  readonly gate: GPUBuffer; // (tokens, ffnDim)
  readonly up: GPUBuffer; // (tokens, ffnDim)
  readonly hidden: GPUBuffer; // (tokens, ffnDim)
  readonly ids: GPUBuffer; // u32 (tokens)
  readonly pos: GPUBuffer; // i32 (tokens)
  readonly rows: GPUBuffer; // u32 (tokens)
  readonly last: GPUBuffer; // (1, dim) the last token's residual, for logits of the last token only
  readonly lastNorm: GPUBuffer; // (1, dim)
  readonly logits: GPUBuffer; // (tokens, vocab)
  readonly next: GPUBuffer; // u32 (tokens) argmax of each logits row
  private readonly all: GPUBuffer[];

  constructor(
    ctx: GpuContext,
    c: ModelConfig,
    readonly tokens: number,
  ) {
    const f = (n: number, label: string) => ctx.buffer(n * 4, `scratch.${label}`);
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    this.x = f(tokens * c.dim, 'x');
    this.xb = f(tokens * c.dim, 'xb');
    this.q = f(tokens * qDim, 'q');
    this.k = f(tokens * kvDim, 'k');
    this.v = f(tokens * kvDim, 'v');
    this.att = f(tokens * qDim, 'att');
    this.gate = f(tokens * c.ffnDim, 'gate');
    this.up = f(tokens * c.ffnDim, 'up');
    this.hidden = f(tokens * c.ffnDim, 'hidden');
    this.ids = f(tokens, 'ids');
    this.pos = f(tokens, 'pos');
    this.rows = f(tokens, 'rows');
    this.last = f(c.dim, 'last');
    this.lastNorm = f(c.dim, 'lastNorm');
    // logits of every token only up to what one storage binding holds (forward() splits longer 'all' batches)
    this.logits = f(Math.min(tokens, logitRowsFor(ctx, c)) * c.vocabSize, 'logits');
    this.next = f(tokens, 'next');
    this.all = [this.x, this.xb, this.q, this.k, this.v, this.att, this.gate, this.up, this.hidden, this.ids, this.pos, this.rows, this.last, this.lastNorm, this.logits, this.next];
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
  }
}

export type LogitsWanted = 'none' | 'last' | 'all';

export interface ForwardResult {
  /** (1 or tokens, vocab) logits as asked; null for 'none'. */
  logits: Float32Array | null;
  /** Greedy next token after the last input token (argmax on the GPU), when logits were asked for. */
  next: number | null;
}

export interface LoadProgress {
  tensorsLoaded: number;
  tensorsTotal: number;
  bytesLoaded: number;
  /** GPU bytes of all the weights (known before the first upload). */
  bytesTotal: number;
}

/** Raw bytes read from the file per upload: a large tensor is streamed in row ranges of about this size. */
const READ_CHUNK = 16 << 20;

/** GPU bytes a model's weights take (each tensor in its format's GPU layout, vectors in f32, every buffer padded to 16
 *  bytes as GpuContext allocates them), from the header alone. */
export function weightBytesOf(gguf: GGUFFile): number {
  let n = 0;
  for (const t of gguf.tensors) {
    const f = formatOfGGML(t.type);
    if (!f) continue;
    const rows = t.byteLength / rawRowBytes(f, t.dims[0]!);
    n += Math.max(16, Math.ceil((t.dims.length === 1 ? t.dims[0]! * 4 : gpuRowWords(f, t.dims[0]!) * 4 * rows) / 16) * 16);
  }
  return n;
}

/** The GPU memory a model needs: weights, and the KV cache of `contextRows` rows. */
export function memoryEstimate(gguf: GGUFFile, c: ModelConfig, contextRows: number): { weights: number; kvCache: number; total: number } {
  const weights = weightBytesOf(gguf);
  const kvCache = KvCache.bytesFor(c, contextRows);
  return { weights, kvCache, total: weights + kvCache };
}

/** The largest batch one forward() call encodes; longer inputs are split into chunks of this size. */
export const MAX_BATCH = 512;

/** Rows of logits one storage binding holds (151,936-token vocabularies: 220 rows in 128 MiB). */
function logitRowsFor(ctx: GpuContext, c: ModelConfig): number {
  return Math.max(1, Math.floor(ctx.limits.maxStorageBufferBindingSize / (c.vocabSize * 4)));
}

/** A decoder-only transformer of any supported family (llama, qwen2, starcoder2: model/arch/) on the GPU. */
export class TransformerModel {
  private scratch: Scratch | null = null;
  private readonly unownScratch: () => void;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly gguf: GGUFFile,
    private readonly tokenEmbedding: GpuWeight,
    private readonly layers: GpuLayer[],
    private readonly outputNorm: GPUBuffer,
    private readonly outputNormB: GPUBuffer | null,
    private readonly output: GpuWeight,
    /** Bytes of weights on the GPU. */
    readonly weightBytes: number,
  ) {
    this.unownScratch = ctx.ownScratch(() => {
      this.scratch?.destroy();
      this.scratch = null;
    });
  }

  /**
   * Reads the header, checks the model, then streams every tensor to the GPU. An allocation the device refuses is
   * reported with the memory the model needs (weights, and the KV cache at `contextRows`, by default the context the
   * engine serves capped at 4096 as the editor uses it) and what was being allocated.
   */
  static async load(ctx: GpuContext, src: ByteSource, onProgress?: (p: LoadProgress) => void, contextRows?: number): Promise<TransformerModel> {
    const gguf = await readGGUF(src);
    const c = modelConfigFromGGUF(gguf);
    const tokenizer = tokenizerFromMetadata(gguf.metadata);
    if (tokenizer.vocabSize !== c.vocabSize) {
      throw new ModelFormatError(`the tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight has ${c.vocabSize} rows`);
    }
    const rows = contextRows ?? Math.min(c.contextLength, 4096);
    const need = memoryEstimate(gguf, c, rows);
    const total = gguf.tensors.length;
    let loaded = 0;
    let bytes = 0;
    const buffers: GPUBuffer[] = [];
    const progress = (n: number) => {
      loaded++;
      bytes += n;
      onProgress?.({ tensorsLoaded: loaded, tensorsTotal: total, bytesLoaded: bytes, bytesTotal: need.weights });
    };
    const info = (name: string): TensorInfo => {
      const t = gguf.tensorByName.get(name);
      if (!t) throw new ModelFormatError(`tensor ${name} is missing`);
      return t;
    };
    const formatOf = (t: TensorInfo) => {
      const f = formatOfGGML(t.type);
      if (!f) throw new ModelFormatError(`tensor ${t.name} has type ${ggmlTypeName(t.type)}, which the engine does not support yet`);
      return f;
    };
    const matrix = async (name: string): Promise<GpuWeight> => {
      const t = info(name);
      const [cols, rows] = [t.dims[0]!, t.dims[1] ?? 1];
      const w = createWeight(ctx, formatOf(t), rows, cols, name);
      buffers.push(w.data);
      const rowBytes = t.byteLength / rows;
      const per = Math.max(1, Math.floor(READ_CHUNK / rowBytes));
      for (let r = 0; r < rows; r += per) {
        const n = Math.min(per, rows - r);
        writeWeightRows(ctx, w, r, await src.read(t.offset + r * rowBytes, n * rowBytes));
      }
      progress(w.bytes);
      return w;
    };
    const vector = async (name: string): Promise<GPUBuffer> => {
      const t = info(name);
      const n = t.dims.reduce((a, b) => a * b, 1);
      const data = dequantize(formatOf(t), await src.read(t.offset, t.byteLength), n);
      const b = ctx.upload(data, name);
      buffers.push(b);
      progress(b.size);
      return b;
    };
    const optional = <T>(name: string, load: (n: string) => Promise<T>): Promise<T | null> =>
      gguf.tensorByName.has(name) ? load(name) : Promise.resolve(null);

    // Refusals are caught here, and so are the writes to a refused buffer that follow: their validation errors would
    // otherwise reach the device's other work (the next completion of a model already running on it).
    ctx.device.pushErrorScope('validation');
    ctx.device.pushErrorScope('out-of-memory');
    let made: TransformerModel | null = null;
    let failure: unknown = null;
    try {
      const tokenEmbedding = await matrix(GLOBAL_TENSORS.tokenEmbd);
      const layers: GpuLayer[] = [];
      for (let i = 0; i < c.nLayers; i++) {
        const l = {} as Record<LayerTensor, GpuWeight | GPUBuffer | null>;
        for (const [key, name] of Object.entries(LAYER_TENSORS) as [LayerTensor, string][]) {
          const n = `blk.${i}.${name}`;
          l[key] = isMatrix(key) ? await optional(n, matrix) : await optional(n, vector);
        }
        layers.push(l as GpuLayer);
      }
      const outputNorm = await vector(GLOBAL_TENSORS.outputNorm);
      const outputNormB = await optional(GLOBAL_TENSORS.outputNormB, vector);
      const output = c.tiedOutput ? tokenEmbedding : await matrix(GLOBAL_TENSORS.output);
      made = new TransformerModel(ctx, c, tokenizer, gguf, tokenEmbedding, layers, outputNorm, outputNormB, output, bytes);
    } catch (e) {
      failure = e;
    }
    const oom = await ctx.device.popErrorScope();
    const invalid = await ctx.device.popErrorScope();
    if (made && !oom && !invalid) return made;
    made?.destroy();
    for (const b of buffers) b.destroy();
    if (!oom) throw failure ?? new GpuDeviceError('internal', `loading the model: ${invalid!.message}`);
    throw new GpuMemoryError(
      `the GPU could not hold this model: it needs ${fmtBytes(need.weights)} for the weights and ${fmtBytes(need.kvCache)} for a KV cache ` +
        `of ${rows} tokens (${fmtBytes(need.total)} in all), and the device refused an allocation (${oom.message}); ` +
        `choose a smaller model or quantization`,
    );
  }

  /** A KV cache for this model with room for `maxRows` tokens. */
  createCache(maxRows: number): KvCache {
    return new KvCache(this.ctx, { nLayers: this.config.nLayers, nKvHeads: this.config.nKvHeads, headDim: this.config.headDim }, maxRows);
  }

  private scratchFor(tokens: number): Scratch {
    if (!this.scratch || this.scratch.tokens < tokens) {
      this.scratch?.destroy();
      // Grow in powers of two so that a growing prefill does not reallocate at every call.
      this.scratch = new Scratch(this.ctx, this.config, Math.min(MAX_BATCH, 2 ** Math.ceil(Math.log2(Math.max(tokens, 1)))));
    }
    return this.scratch;
  }

  /**
   * Encodes tokens[i] at position positions[i] into cache row rows[i] (all layers), each attending to every cached row
   * of smaller or equal position. Returns the logits asked for. Batches larger than MAX_BATCH are split, and so are
   * batches whose logits (want 'all') would not fit one storage binding.
   */
  async forward(cache: KvCache, tokens: ArrayLike<number>, positions: ArrayLike<number>, rows: ArrayLike<number>, want: LogitsWanted = 'last'): Promise<ForwardResult> {
    const n = tokens.length;
    if (positions.length !== n || rows.length !== n) throw new Error('forward: tokens, positions and rows differ in length');
    if (n === 0) return { logits: null, next: null };
    const limit = want === 'all' ? Math.min(MAX_BATCH, logitRowsFor(this.ctx, this.config)) : MAX_BATCH;
    if (n > limit) {
      const parts: Float32Array[] = [];
      let last: ForwardResult = { logits: null, next: null };
      for (let s = 0; s < n; s += limit) {
        const e = Math.min(n, s + limit);
        const chunkWant: LogitsWanted = want === 'all' ? 'all' : e === n ? want : 'none';
        last = await this.forward(cache, sliceOf(tokens, s, e), sliceOf(positions, s, e), sliceOf(rows, s, e), chunkWant);
        if (want === 'all' && last.logits) parts.push(last.logits);
      }
      if (want !== 'all') return last;
      const all = new Float32Array(n * this.config.vocabSize);
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length;
      }
      return { logits: all, next: last.next };
    }
    const b = this.encode(cache, tokens, positions, rows, want);
    b.submit();
    return this.collect(n, want);
  }

  /** Records one forward pass of n <= MAX_BATCH tokens (for want 'all', as many as the logits scratch holds) into a
   *  batch (not yet submitted). */
  private encode(cache: KvCache, tokens: ArrayLike<number>, positions: ArrayLike<number>, rows: ArrayLike<number>, want: LogitsWanted): Batch {
    const c = this.config;
    const n = tokens.length;
    const s = this.scratchFor(n);
    const ctx = this.ctx;
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new RangeError(`token id ${t} outside the vocabulary (0..${c.vocabSize - 1})`);
    }
    ctx.write(s.ids, Uint32Array.from(tokens));
    ctx.write(s.pos, Int32Array.from(positions));
    ctx.write(s.rows, Uint32Array.from(rows));
    cache.setPositions(rows, positions);

    const b = ctx.batch('forward');
    const ops = this.gpuOps(b, n, cache);

    // 1. token embeddings -> residual stream x
    embedding(b, s.ids, this.tokenEmbedding, s.x, { tokens: n });
    // 2. the layers (arch/arch.ts transformerLayer: attention, then feed-forward)
    for (let l = 0; l < c.nLayers; l++) transformerLayer(ops, s, this.layers[l]!, c, l);
    // 3. final norm and logits: of every token, or of the last one only
    if (want === 'all') {
      ops.norm(s.xb, s.x, this.outputNorm, this.outputNormB);
      matmul(b, s.xb, this.output, s.logits, { tokens: n });
      argmax(b, s.logits, s.next, { rows: n, n: c.vocabSize });
    } else if (want === 'last') {
      b.copy(s.x, (n - 1) * c.dim * 4, s.last, 0, c.dim * 4);
      this.gpuOps(b, 1, cache).norm(s.lastNorm, s.last, this.outputNorm, this.outputNormB);
      matmul(b, s.lastNorm, this.output, s.logits, { tokens: 1 });
      argmax(b, s.logits, s.next, { rows: 1, n: c.vocabSize });
    }
    return b;
  }

  /** The layer's ops recorded into batch b for n tokens (positions in scratch.pos, cache rows in scratch.rows). */
  private gpuOps(b: Batch, n: number, cache: KvCache): Ops<GPUBuffer, GpuWeight, GPUBuffer> {
    const c = this.config;
    const s = this.scratch!;
    const ropeSpec = { tokens: n, headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, scale: c.ropeScale, layout: c.ropeLayout };
    return {
      norm: (dst, x, w, bias) => {
        if (c.norm === 'rms') {
          rmsnorm(b, x, w, dst, { rows: n, dim: c.dim, eps: c.normEps });
          if (bias) addBias(b, dst, bias, { rows: n, n: c.dim });
        } else {
          layernorm(b, x, w, bias!, dst, { rows: n, dim: c.dim, eps: c.normEps });
        }
      },
      linear: (dst, x, w, bias, accumulate) => {
        matmul(b, x, w, dst, { tokens: n, accumulate });
        if (bias) addBias(b, dst, bias, { rows: n, n: w.rows });
      },
      rope: (x, nHeads) => rope(b, x, s.pos, { ...ropeSpec, nHeads }),
      attend: (dst, q, k, v, layer) => {
        kvStore(b, k, v, s.rows, cache.k, cache.v, { tokens: n, nKvHeads: c.nKvHeads, headDim: c.headDim, maxRows: cache.maxRows, layer });
        attention(b, q, cache.k, cache.v, cache.rowPos, s.pos, dst, {
          tokens: n,
          nHeads: c.nHeads,
          nKvHeads: c.nKvHeads,
          headDim: c.headDim,
          maxRows: cache.maxRows,
          nRows: cache.used,
          layer,
        });
      },
      swiglu: (dst, gate, up) => swiglu(b, gate, up, dst, { n: n * c.ffnDim }),
      gelu: (dst, x) => gelu(b, x, dst, { n: n * c.ffnDim }),
    };
  }

  private async collect(n: number, want: LogitsWanted): Promise<ForwardResult> {
    const s = this.scratch!;
    if (want === 'none') {
      await this.ctx.device.queue.onSubmittedWorkDone();
      this.ctx.throwIfFailed();
      return { logits: null, next: null };
    }
    const rows = want === 'all' ? n : 1;
    const logits = await this.ctx.readF32(s.logits, 0, rows * this.config.vocabSize);
    const next = (await this.ctx.readU32(s.next, rows - 1, 1))[0]!;
    return { logits, next };
  }

  /** Greedy decode step without reading the logits back: 4 bytes cross the bus. */
  async forwardGreedy(cache: KvCache, token: number, position: number, row: number): Promise<number> {
    this.encode(cache, [token], [position], [row], 'last').submit();
    return (await this.ctx.readU32(this.scratch!.next, 0, 1))[0]!;
  }

  /**
   * Prefill of a linear sequence: appends `tokens` after the cache's rows, row i at position i (the cache must hold a
   * plain sequence, as generate() keeps it; edited caches go through forward() with explicit positions).
   */
  prefill(cache: KvCache, tokens: readonly number[], want: LogitsWanted = 'last'): Promise<ForwardResult> {
    if (cache.used + tokens.length > cache.maxRows) {
      throw new RangeError(`prefill: ${tokens.length} tokens do not fit after ${cache.used} rows in a cache of ${cache.maxRows}`);
    }
    const idx = Array.from(tokens, (_, i) => cache.used + i);
    return this.forward(cache, tokens, idx, idx, want);
  }

  /** One decode step of a linear sequence: `token` at the next position. Reads back only the argmax unless logits are wanted. */
  async decodeOne(cache: KvCache, token: number, withLogits = false): Promise<ForwardResult> {
    const pos = cache.used;
    if (pos >= cache.maxRows) throw new RangeError(`decodeOne: the cache is full (${cache.maxRows} rows)`);
    if (withLogits) return this.forward(cache, [token], [pos], [pos], 'last');
    return { logits: null, next: await this.forwardGreedy(cache, token, pos, pos) };
  }

  destroy(): void {
    this.unownScratch();
    this.scratch?.destroy();
    const seen = new Set<GPUBuffer>();
    const drop = (b: GPUBuffer | null | undefined) => {
      if (b && !seen.has(b)) {
        seen.add(b);
        b.destroy();
      }
    };
    for (const w of [this.tokenEmbedding, this.output]) drop(w.data);
    drop(this.outputNorm);
    drop(this.outputNormB);
    for (const l of this.layers) {
      for (const v of Object.values(l)) drop(v && 'data' in v ? v.data : v);
    }
  }
}

function sliceOf(a: ArrayLike<number>, s: number, e: number): number[] {
  return Array.prototype.slice.call(a, s, e) as number[];
}
