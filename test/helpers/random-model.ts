// Test-only: random-weight GGUF models of the llama, qwen2 and starcoder2 families with a real vocabulary (every
// `tokenizer.*` key of a vocab GGUF, copied byte for byte), written with the keys and tensor names llama.cpp reads
// (src/llama-arch.cpp; src/models/{llama,qwen2,starcoder2}.cpp), so that llama.cpp loads them as the oracle.
//
// Weights: norm weights 1 + noise, biases small, matrices normal / sqrt(fan-in), embedding rows of RMS 1/sqrt(dim).
// With tied embeddings and small residual branches greedy decoding just repeats the last token, so attn_output and
// ffn_down are scaled up by `gain`; the output scale (output_norm.weight when tied, output.weight otherwise) spreads
// the logits (std about `logitStd`) so that greedy decoding is not a string of near-ties. 1-D tensors stay F32
// (llama.cpp's CPU norms and bias adds want F32); matrices take the format that `formats` names. Each tensor draws from
// its own generator (seeded by the model seed and the tensor name) and is produced a chunk of rows at a time, so a
// large model streams to a file without sitting in memory.
import { readFileSync } from 'node:fs';
import { formatNamed } from '../../src/engine/formats/index.js';
import type { GGMLType } from '../../src/engine/model/gguf.js';
import { GGUFWriter, rawMetadata } from './gguf-writer.js';
import { quantize } from './quantize.js';

export type Arch = 'llama' | 'qwen2' | 'starcoder2';
export type FormatName = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q4_k' | 'q5_k' | 'q6_k';

/** The ggml type of a format name (the engine's registry of formats). */
export function formatType(name: string): GGMLType {
  return formatNamed(name).ggmlType;
}

/** What a format choice may depend on besides the tensor's name and dims. */
export interface FormatContext {
  arch: Arch;
  nLayers: number;
  /** The output shares token_embd.weight (so token_embd is also the output matrix). */
  tied: boolean;
}
/** The format of a matrix (2-D tensor), from its name ('blk.3.attn_v.weight') and ggml dims ([row length, rows]). */
export type Formats = (tensorName: string, dims: number[], ctx: FormatContext) => string;

export interface RandomModelSpec {
  arch: Arch;
  /** Path of a vocab GGUF: its token count is the vocabulary size, and all its `tokenizer.*` keys are copied. */
  vocab: string;
  nLayers: number;
  dim: number;
  nHeads: number;
  nKvHeads: number;
  /** Default dim / nHeads; only llama may differ from that (qwen2 and starcoder2 in llama.cpp need nHeads * headDim = dim). */
  headDim?: number;
  ffnDim: number;
  contextLength: number;
  /** `<arch>.rope.freq_base`; absent: the key is not written (llama.cpp's default is 10000). */
  ropeBase?: number;
  ropeScaling?: { type: 'linear'; factor: number };
  /** No output.weight: the output is token_embd.weight. */
  tied: boolean;
  formats: Formats;
  seed: number;
  /** Scale of attn_output and ffn_down over 1/sqrt(fan-in) (default 6). */
  gain?: number;
  /** Standard deviation of the logits at a unit-RMS final hidden state (default 32). */
  logitStd?: number;
  /** Norm epsilon (default 1e-6 for qwen2, 1e-5 otherwise). */
  normEps?: number;
}

export interface TensorPlan {
  name: string;
  /** ggml dims: dims[0] is the row length. */
  dims: number[];
  format: FormatName;
  /** Values are mean + std * N(0, 1). */
  mean: number;
  std: number;
}

export const DEFAULT_GAIN = 6;
export const DEFAULT_LOGIT_STD = 32;
const NORM_NOISE = 0.1;
const BIAS_STD = 0.05;
/** attn_q and attn_k over 1/sqrt(fan-in): attention scores of std about 2, so that attention picks positions rather
 * than averaging them (with std 1 greedy decoding fell into short loops more often). */
const QK_SCALE = 1.5;
/** Floats generated (and encoded) at a time. */
const CHUNK_ELEMS = 1 << 20;

/** A llama.cpp Q4_K_M-like mix (llama-quant.cpp): q4_k for most matrices; q6_k for output (and token_embd when tied)
 * and for attn_v and ffn_down in the "more bits" layers (the first and last eighth, and every third between them);
 * q4_0 for attn_k (not in llama.cpp's Q4_K_M: here so that q4_0 gets an oracle check). A row length (dims[0]) that is
 * not a multiple of 256 falls back as llama.cpp does: q4_k -> q5_0, q6_k -> q8_0.
 * With 2 layers, dim 256 and ffn 640 every one occurs: attn_q/attn_output/ffn_gate/ffn_up and layer 0's attn_v q4_k,
 * layer 1's attn_v and the output q6_k, attn_k q4_0, ffn_down (rows of 640) q5_0 in layer 0 and q8_0 in layer 1.
 * Qwen2.5-Coder-0.5B (dim 896, ffn 4864) has them all too: ffn_down q4_k / q6_k, other matrices q5_0 / q8_0. */
export const Q4_K_M_STYLE: Formats = (name, dims, { nLayers, tied }) => {
  const role = roleOf(name);
  const layer = layerOf(name);
  let f: FormatName;
  if (role === 'output' || (role === 'token_embd' && tied)) f = 'q6_k';
  else if ((role === 'attn_v' || role === 'ffn_down') && moreBits(layer, nLayers)) f = 'q6_k';
  else if (role === 'attn_k') f = 'q4_0';
  else f = 'q4_k';
  return fallback(f, dims[0]!);
};

/** The formats that the other presets leave out: q5_k (attn_q, ffn_up, ffn_down, output, tied token_embd), q5_1
 * (attn_v, and q5_k's fallback for rows that are not a multiple of 256), q4_1 (attn_k, ffn_gate), bf16 (attn_output,
 * untied token_embd). With 2 layers, dim 256 and ffn 640 all four occur in every family (ffn_down's rows of 640 fall
 * back to q5_1). */
export const MIXED_OTHERS: Formats = (name, dims, { tied }) => {
  const role = roleOf(name);
  const f: FormatName =
    role === 'attn_k' || role === 'ffn_gate'
      ? 'q4_1'
      : role === 'attn_v'
        ? 'q5_1'
        : role === 'attn_output' || (role === 'token_embd' && !tied)
          ? 'bf16'
          : 'q5_k';
  return fallback(f, dims[0]!);
};

/** Every matrix f16. */
export const F16: Formats = () => 'f16';
/** Every matrix q8_0. */
export const Q8_0: Formats = () => 'q8_0';

/** 'attn_v' for 'blk.3.attn_v.weight', 'token_embd' for 'token_embd.weight'. */
function roleOf(name: string): string {
  return name.replace(/^blk\.\d+\./, '').replace(/\.(weight|bias)$/, '');
}

function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/** llama.cpp's use_more_bits (llama-quant.cpp). */
function moreBits(layer: number, nLayers: number): boolean {
  const e = Math.trunc(nLayers / 8);
  return layer < e || layer >= Math.trunc((7 * nLayers) / 8) || (layer - e) % 3 === 2;
}

/** llama.cpp's fallback for a row length that the K-quant block (256) does not divide; F16 if 32 does not either. */
function fallback(f: FormatName, rowLength: number): FormatName {
  if (rowLength % 256 !== 0) f = f === 'q4_k' ? 'q5_0' : f === 'q5_k' ? 'q5_1' : f === 'q6_k' ? 'q8_0' : f;
  if (rowLength % 32 !== 0 && f !== 'f32' && f !== 'f16' && f !== 'bf16') f = 'f16';
  return f;
}

/** Number of tokens (`tokenizer.ggml.tokens`) in a GGUF file. */
export function vocabSize(file: Uint8Array): number {
  const e = rawMetadata(file).find((m) => m.key === 'tokenizer.ggml.tokens');
  if (!e) throw new Error('random-model: the vocab file has no tokenizer.ggml.tokens');
  const dv = new DataView(e.raw.buffer, e.raw.byteOffset, e.raw.byteLength);
  if (dv.getUint32(0, true) !== 9 || dv.getUint32(4, true) !== 8) throw new Error('random-model: tokenizer.ggml.tokens is not a string array');
  return Number(dv.getBigUint64(8, true));
}

function check(spec: RandomModelSpec): { headDim: number } {
  const headDim = spec.headDim ?? spec.dim / spec.nHeads;
  const ints = { nLayers: spec.nLayers, dim: spec.dim, nHeads: spec.nHeads, nKvHeads: spec.nKvHeads, headDim, ffnDim: spec.ffnDim, contextLength: spec.contextLength };
  for (const [k, v] of Object.entries(ints)) if (!Number.isSafeInteger(v) || v < 1) throw new Error(`random-model: ${k} = ${v}`);
  if (spec.nHeads % spec.nKvHeads) throw new Error(`random-model: ${spec.nHeads} heads is not a multiple of ${spec.nKvHeads} KV heads`);
  if (spec.arch !== 'llama' && headDim * spec.nHeads !== spec.dim) {
    throw new Error(`random-model: ${spec.arch} in llama.cpp needs nHeads * headDim = dim (${spec.nHeads} * ${headDim} != ${spec.dim})`);
  }
  if (headDim % 2) throw new Error(`random-model: odd head dim ${headDim}`);
  return { headDim };
}

/** Every tensor of the model, in file order, with its format and the distribution of its values. */
export function planTensors(spec: RandomModelSpec, nVocab: number): TensorPlan[] {
  const { headDim } = check(spec);
  const { arch, dim, ffnDim, tied } = spec;
  const gain = spec.gain ?? DEFAULT_GAIN;
  const logitStd = spec.logitStd ?? DEFAULT_LOGIT_STD;
  const qDim = spec.nHeads * headDim;
  const kvDim = spec.nKvHeads * headDim;
  const ctx: FormatContext = { arch, nLayers: spec.nLayers, tied };
  const plan: TensorPlan[] = [];
  const matrix = (name: string, dims: number[], std: number): void => {
    const f = spec.formats(name, dims, ctx);
    formatType(f); // throws for an unknown format
    plan.push({ name, dims, format: f as FormatName, mean: 0, std });
  };
  const vector = (name: string, n: number, mean: number, std: number): void => {
    plan.push({ name, dims: [n], format: 'f32', mean, std });
  };
  const layerNorm = arch === 'starcoder2';
  // Embedding rows of RMS 1/sqrt(dim): small beside the branches. The output scale is in output_norm.weight when the
  // output is tied (logits then have std about logitStd), in output.weight otherwise.
  matrix('token_embd.weight', [dim, nVocab], 1 / Math.sqrt(dim));
  for (let i = 0; i < spec.nLayers; i++) {
    const p = `blk.${i}.`;
    vector(`${p}attn_norm.weight`, dim, 1, NORM_NOISE);
    if (layerNorm) vector(`${p}attn_norm.bias`, dim, 0, BIAS_STD);
    matrix(`${p}attn_q.weight`, [dim, qDim], QK_SCALE / Math.sqrt(dim));
    matrix(`${p}attn_k.weight`, [dim, kvDim], QK_SCALE / Math.sqrt(dim));
    matrix(`${p}attn_v.weight`, [dim, kvDim], 1 / Math.sqrt(dim));
    if (arch !== 'llama') {
      vector(`${p}attn_q.bias`, qDim, 0, BIAS_STD);
      vector(`${p}attn_k.bias`, kvDim, 0, BIAS_STD);
      vector(`${p}attn_v.bias`, kvDim, 0, BIAS_STD);
    }
    matrix(`${p}attn_output.weight`, [qDim, dim], gain / Math.sqrt(qDim));
    if (layerNorm) vector(`${p}attn_output.bias`, dim, 0, BIAS_STD);
    vector(`${p}ffn_norm.weight`, dim, 1, NORM_NOISE);
    if (layerNorm) vector(`${p}ffn_norm.bias`, dim, 0, BIAS_STD);
    if (arch !== 'starcoder2') matrix(`${p}ffn_gate.weight`, [dim, ffnDim], 1 / Math.sqrt(dim));
    matrix(`${p}ffn_up.weight`, [dim, ffnDim], 1 / Math.sqrt(dim));
    if (arch === 'starcoder2') vector(`${p}ffn_up.bias`, ffnDim, 0, BIAS_STD);
    matrix(`${p}ffn_down.weight`, [ffnDim, dim], gain / Math.sqrt(ffnDim));
    if (arch === 'starcoder2') vector(`${p}ffn_down.bias`, dim, 0, BIAS_STD);
  }
  const outNorm = tied ? logitStd : 1;
  vector('output_norm.weight', dim, outNorm, outNorm * NORM_NOISE);
  if (layerNorm) vector('output_norm.bias', dim, 0, BIAS_STD);
  if (!tied) matrix('output.weight', [dim, nVocab], logitStd / Math.sqrt(dim));
  return plan;
}

/** A writer holding the model (tensor bytes are produced when written). */
export function randomModelWriter(spec: RandomModelSpec): GGUFWriter {
  const { headDim } = check(spec);
  const vocabFile = new Uint8Array(readFileSync(spec.vocab));
  const nVocab = vocabSize(vocabFile);
  const a = spec.arch;
  const w = new GGUFWriter();
  w.string('general.architecture', a);
  w.string('general.name', `random-${a}-${spec.nLayers}x${spec.dim}`);
  w.u32('general.quantization_version', 2);
  w.u32(`${a}.context_length`, spec.contextLength);
  w.u32(`${a}.embedding_length`, spec.dim);
  w.u32(`${a}.block_count`, spec.nLayers);
  w.u32(`${a}.feed_forward_length`, spec.ffnDim);
  w.u32(`${a}.attention.head_count`, spec.nHeads);
  w.u32(`${a}.attention.head_count_kv`, spec.nKvHeads);
  if (spec.ropeBase !== undefined) w.f32(`${a}.rope.freq_base`, spec.ropeBase);
  const eps = spec.normEps ?? (a === 'qwen2' ? 1e-6 : 1e-5);
  if (a === 'starcoder2') w.f32(`${a}.attention.layer_norm_epsilon`, eps);
  else w.f32(`${a}.attention.layer_norm_rms_epsilon`, eps);
  if (a === 'llama') {
    w.u32(`${a}.vocab_size`, nVocab);
    w.u32(`${a}.rope.dimension_count`, headDim);
    if (headDim * spec.nHeads !== spec.dim) {
      w.u32(`${a}.attention.key_length`, headDim);
      w.u32(`${a}.attention.value_length`, headDim);
    }
  }
  if (spec.ropeScaling) {
    w.string(`${a}.rope.scaling.type`, spec.ropeScaling.type);
    w.f32(`${a}.rope.scaling.factor`, spec.ropeScaling.factor);
  }
  w.copyMetadata(vocabFile, (k) => k.startsWith('tokenizer.'));
  for (const t of planTensors(spec, nVocab)) {
    w.tensor(t.name, t.dims, formatType(t.format), () => produce(t, spec.seed));
  }
  return w;
}

/** The whole model in memory (small models). */
export function randomModel(spec: RandomModelSpec): Uint8Array {
  return randomModelWriter(spec).toBytes();
}

/** Streams the model to `path`; returns the file size. */
export function writeRandomModel(spec: RandomModelSpec, path: string): Promise<number> {
  return randomModelWriter(spec).writeFile(path);
}

/** A tensor's bytes, encoded a chunk of whole rows at a time. */
function* produce(t: TensorPlan, seed: number): Generator<Uint8Array> {
  const rowLen = t.dims[0]!;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMS / rowLen));
  const rng = new Normal(hashSeed(seed, t.name));
  const buf = new Float32Array(Math.min(rows, rowsPerChunk) * rowLen);
  for (let r = 0; r < rows; r += rowsPerChunk) {
    const x = buf.subarray(0, Math.min(rowsPerChunk, rows - r) * rowLen);
    for (let i = 0; i < x.length; i++) x[i] = t.mean + t.std * rng.next();
    yield quantize(t.format, x);
  }
}

/** FNV-1a of the name, mixed with the seed. */
function hashSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Standard normal numbers: sfc32 uniforms through Box-Muller. */
class Normal {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    this.a = seed >>> 0;
    this.b = 0x9e3779b9;
    this.c = 0x243f6a88;
    for (let i = 0; i < 16; i++) this.u32();
  }

  private u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  next(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u = (this.u32() + 1) / 4294967297; // (0, 1)
    const v = this.u32() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }
}
