// A Llama-architecture model on the GPU: weights, scratch activations, and forward(), which reads like llama2.c's
// run.c: named steps, top to bottom. One forward() call encodes a batch of tokens at given positions into given cache
// rows (prefill when many, decode when one) and optionally returns logits.
import type { Batch, GpuContext } from '../gpu/context.js';
import { argmax } from '../kernels/argmax.js';
import { attention } from '../kernels/attention.js';
import { embedding } from '../kernels/embedding.js';
import { kvStore } from '../kernels/kvstore.js';
import { matmul } from '../kernels/matmul.js';
import { rmsnorm } from '../kernels/rmsnorm.js';
import { rope } from '../kernels/rope.js';
import { swiglu } from '../kernels/swiglu.js';
import { KvCache } from '../kv/cache.js';
import { type ModelConfig, ModelFormatError, modelConfigFromGGUF } from './config.js';
import { type ByteSource, type GGUFFile, ggmlTypeName, readGGUF, readTensorData, type TensorInfo } from './gguf.js';
import { type Tokenizer, tokenizerFromMetadata } from './tokenizer.js';
import { dequantize, type GpuWeight, uploadWeight, weightTypeFromGGML } from './weights.js';

interface LayerWeights {
  attnNorm: GPUBuffer; // (dim) f32
  wq: GpuWeight; // (nHeads*headDim, dim)
  wk: GpuWeight; // (nKvHeads*headDim, dim)
  wv: GpuWeight; // (nKvHeads*headDim, dim)
  wo: GpuWeight; // (dim, nHeads*headDim)
  ffnNorm: GPUBuffer; // (dim) f32
  wGate: GpuWeight; // (ffnDim, dim)
  wUp: GpuWeight; // (ffnDim, dim)
  wDown: GpuWeight; // (dim, ffnDim)
}

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
    this.logits = f(tokens * c.vocabSize, 'logits');
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
}

/** The largest batch one forward() call encodes; longer inputs are split into chunks of this size. */
export const MAX_BATCH = 512;

export class LlamaModel {
  private scratch: Scratch | null = null;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly gguf: GGUFFile,
    private readonly tokenEmbedding: GpuWeight,
    private readonly layers: LayerWeights[],
    private readonly outputNorm: GPUBuffer,
    private readonly output: GpuWeight,
    /** Bytes of weights on the GPU. */
    readonly weightBytes: number,
  ) {}

  static async load(ctx: GpuContext, src: ByteSource, onProgress?: (p: LoadProgress) => void): Promise<LlamaModel> {
    const gguf = await readGGUF(src);
    const c = modelConfigFromGGUF(gguf);
    const tokenizer = tokenizerFromMetadata(gguf.metadata);
    if (tokenizer.vocabSize !== c.vocabSize) {
      throw new ModelFormatError(`the tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight has ${c.vocabSize} rows`);
    }
    const total = c.nLayers * 9 + 2 + (c.tiedOutput ? 0 : 1);
    let loaded = 0;
    let bytes = 0;
    const tensor = (name: string): TensorInfo => {
      const t = gguf.tensorByName.get(name);
      if (!t) throw new ModelFormatError(`tensor ${name} is missing`);
      return t;
    };
    const progress = (n: number) => {
      loaded++;
      bytes += n;
      onProgress?.({ tensorsLoaded: loaded, tensorsTotal: total, bytesLoaded: bytes });
    };
    const matrix = async (name: string, rows: number, cols: number): Promise<GpuWeight> => {
      const t = tensor(name);
      const type = weightTypeFromGGML(t.type);
      if (!type) throw new ModelFormatError(`tensor ${name} has type ${ggmlTypeName(t.type)}, which the engine does not support yet (F32, F16 and Q8_0 are)`);
      const w = uploadWeight(ctx, type, await readTensorData(src, t), rows, cols, name);
      progress(w.bytes);
      return w;
    };
    const vector = async (name: string, n: number): Promise<GPUBuffer> => {
      const t = tensor(name);
      const type = weightTypeFromGGML(t.type);
      if (!type) throw new ModelFormatError(`tensor ${name} has type ${ggmlTypeName(t.type)}, which the engine does not support yet (F32, F16 and Q8_0 are)`);
      const data = dequantize(type, await readTensorData(src, t), n);
      progress(data.byteLength);
      return ctx.upload(data, name);
    };
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKvHeads * c.headDim;
    const tokenEmbedding = await matrix('token_embd.weight', c.vocabSize, c.dim);
    const layers: LayerWeights[] = [];
    for (let i = 0; i < c.nLayers; i++) {
      const p = `blk.${i}.`;
      layers.push({
        attnNorm: await vector(`${p}attn_norm.weight`, c.dim),
        wq: await matrix(`${p}attn_q.weight`, qDim, c.dim),
        wk: await matrix(`${p}attn_k.weight`, kvDim, c.dim),
        wv: await matrix(`${p}attn_v.weight`, kvDim, c.dim),
        wo: await matrix(`${p}attn_output.weight`, c.dim, qDim),
        ffnNorm: await vector(`${p}ffn_norm.weight`, c.dim),
        wGate: await matrix(`${p}ffn_gate.weight`, c.ffnDim, c.dim),
        wUp: await matrix(`${p}ffn_up.weight`, c.ffnDim, c.dim),
        wDown: await matrix(`${p}ffn_down.weight`, c.dim, c.ffnDim),
      });
    }
    const outputNorm = await vector('output_norm.weight', c.dim);
    const output = c.tiedOutput ? tokenEmbedding : await matrix('output.weight', c.vocabSize, c.dim);
    return new LlamaModel(ctx, c, tokenizer, gguf, tokenEmbedding, layers, outputNorm, output, bytes);
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
   * of smaller or equal position. Returns the logits asked for. Batches larger than MAX_BATCH are split.
   */
  async forward(cache: KvCache, tokens: ArrayLike<number>, positions: ArrayLike<number>, rows: ArrayLike<number>, want: LogitsWanted = 'last'): Promise<ForwardResult> {
    const n = tokens.length;
    if (positions.length !== n || rows.length !== n) throw new Error('forward: tokens, positions and rows differ in length');
    if (n === 0) return { logits: null, next: null };
    if (n > MAX_BATCH) {
      const parts: Float32Array[] = [];
      let last: ForwardResult = { logits: null, next: null };
      for (let s = 0; s < n; s += MAX_BATCH) {
        const e = Math.min(n, s + MAX_BATCH);
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

  /** Records one forward pass of n <= MAX_BATCH tokens into a batch (not yet submitted). */
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

    const ropeParams = { tokens: n, headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, scale: c.ropeScale, layout: c.ropeLayout };
    const b = ctx.batch('forward');

    // 1. token embeddings -> residual stream x
    embedding(b, s.ids, this.tokenEmbedding, s.x, { tokens: n });
    for (let l = 0; l < c.nLayers; l++) {
      const w = this.layers[l]!;
      // 2. attention: norm, q/k/v projections, rotary positions, store k/v in the cache, attend over the cache
      rmsnorm(b, s.x, w.attnNorm, s.xb, { rows: n, dim: c.dim, eps: c.rmsEps });
      matmul(b, s.xb, w.wq, s.q, { tokens: n });
      matmul(b, s.xb, w.wk, s.k, { tokens: n });
      matmul(b, s.xb, w.wv, s.v, { tokens: n });
      rope(b, s.q, s.pos, { ...ropeParams, nHeads: c.nHeads });
      rope(b, s.k, s.pos, { ...ropeParams, nHeads: c.nKvHeads });
      kvStore(b, s.k, s.v, s.rows, cache.k, cache.v, { tokens: n, nKvHeads: c.nKvHeads, headDim: c.headDim, maxRows: cache.maxRows, layer: l });
      attention(b, s.q, cache.k, cache.v, cache.rowPos, s.pos, s.att, {
        tokens: n,
        nHeads: c.nHeads,
        nKvHeads: c.nKvHeads,
        headDim: c.headDim,
        maxRows: cache.maxRows,
        nRows: cache.used,
        layer: l,
      });
      // 3. output projection, added to the residual stream
      matmul(b, s.att, w.wo, s.x, { tokens: n, accumulate: true });
      // 4. feed-forward: norm, SwiGLU, down projection added to the residual stream
      rmsnorm(b, s.x, w.ffnNorm, s.xb, { rows: n, dim: c.dim, eps: c.rmsEps });
      matmul(b, s.xb, w.wGate, s.gate, { tokens: n });
      matmul(b, s.xb, w.wUp, s.up, { tokens: n });
      swiglu(b, s.gate, s.up, s.hidden, { n: n * c.ffnDim });
      matmul(b, s.hidden, w.wDown, s.x, { tokens: n, accumulate: true });
    }
    // 5. final norm and logits: of every token, or of the last one only
    if (want === 'all') {
      rmsnorm(b, s.x, this.outputNorm, s.xb, { rows: n, dim: c.dim, eps: c.rmsEps });
      matmul(b, s.xb, this.output, s.logits, { tokens: n });
      argmax(b, s.logits, s.next, { rows: n, n: c.vocabSize });
    } else if (want === 'last') {
      b.copy(s.x, (n - 1) * c.dim * 4, s.last, 0, c.dim * 4);
      rmsnorm(b, s.last, this.outputNorm, s.lastNorm, { rows: 1, dim: c.dim, eps: c.rmsEps });
      matmul(b, s.lastNorm, this.output, s.logits, { tokens: 1 });
      argmax(b, s.logits, s.next, { rows: 1, n: c.vocabSize });
    }
    return b;
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
    this.scratch?.destroy();
    const seen = new Set<GPUBuffer>();
    const drop = (b: GPUBuffer | null) => {
      if (b && !seen.has(b)) {
        seen.add(b);
        b.destroy();
      }
    };
    for (const w of [this.tokenEmbedding, this.output]) {
      drop(w.data);
      drop(w.scales);
    }
    drop(this.outputNorm);
    for (const l of this.layers) {
      drop(l.attnNorm);
      drop(l.ffnNorm);
      for (const w of [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown]) {
        drop(w.data);
        drop(w.scales);
      }
    }
  }
}

function sliceOf(a: ArrayLike<number>, s: number, e: number): number[] {
  return Array.prototype.slice.call(a, s, e) as number[];
}
