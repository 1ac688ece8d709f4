// The llama model configuration, derived from a GGUF file's metadata and cross-checked against every tensor's shape and
// type, so that an unsupported or inconsistent model is refused here, with a message saying what and why, rather than
// producing garbage later on the GPU.
import { type GGUFFile, type MetadataValue, type TensorInfo, GGMLType, SUPPORTED_TENSOR_TYPES, ggmlTypeName } from './gguf.js';

/** normal: rotate pairs (2i, 2i+1) (llama); neox: pairs (i, i + rotDim/2). */
export type RopeLayout = 'normal' | 'neox';

export interface ModelConfig {
  architecture: 'llama';
  name: string | null;
  nLayers: number;
  dim: number;
  ffnDim: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  contextLength: number;
  /** llama.rope.dimension_count, default headDim (partial rotary when smaller). */
  ropeDim: number;
  /** llama.rope.freq_base, default 10000. */
  ropeBase: number;
  /** Positions are multiplied by this: 1 / llama.rope.scaling.factor for linear scaling, else 1. */
  ropeScale: number;
  ropeLayout: RopeLayout;
  rmsEps: number;
  /** True when there is no output.weight tensor: token_embd.weight is then the output matrix. */
  tiedOutput: boolean;
}

export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

/** Names of the global (non-layer) tensors. */
export const GLOBAL_TENSOR_NAMES = {
  tokenEmbd: 'token_embd.weight',
  outputNorm: 'output_norm.weight',
  output: 'output.weight',
} as const;

/** Names of layer i's tensors. */
export function tensorNamesForLayer(i: number) {
  const p = `blk.${i}.`;
  return {
    attnNorm: `${p}attn_norm.weight`,
    attnQ: `${p}attn_q.weight`,
    attnK: `${p}attn_k.weight`,
    attnV: `${p}attn_v.weight`,
    attnOutput: `${p}attn_output.weight`,
    ffnNorm: `${p}ffn_norm.weight`,
    ffnGate: `${p}ffn_gate.weight`,
    ffnUp: `${p}ffn_up.weight`,
    ffnDown: `${p}ffn_down.weight`,
  } as const;
}

const SUPPORTED_NAMES = SUPPORTED_TENSOR_TYPES.map((t) => GGMLType[t]).join(', ');

function describe(v: MetadataValue): string {
  if (Array.isArray(v)) return `an array of ${v.length} values`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

class Keys {
  constructor(private readonly f: GGUFFile) {}

  get(key: string): MetadataValue | undefined {
    return this.f.metadata.get(key);
  }

  /** A positive (or, with min 0, non-negative) integer; `def` when absent (undefined: required). */
  int(key: string, def?: number, min = 1): number {
    const v = this.get(key);
    if (v === undefined) {
      if (def === undefined) throw new ModelFormatError(`missing required key ${key}`);
      return def;
    }
    if (Array.isArray(v)) throw new ModelFormatError(`key ${key} is ${describe(v)}: per-layer values are not supported`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0x7fffffff) {
      throw new ModelFormatError(`key ${key} must be an integer >= ${min}, found ${describe(v)}`);
    }
    return v;
  }

  /** A finite number; `def` when absent (undefined: required). */
  num(key: string, def?: number): number {
    const v = this.get(key);
    if (v === undefined) {
      if (def === undefined) throw new ModelFormatError(`missing required key ${key}`);
      return def;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ModelFormatError(`key ${key} must be a finite number, found ${describe(v)}`);
    }
    return v;
  }

  str(key: string): string | undefined {
    const v = this.get(key);
    if (v !== undefined && typeof v !== 'string') throw new ModelFormatError(`key ${key} must be a string, found ${describe(v)}`);
    return v;
  }
}

function shape(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/** Derives the llama configuration from a parsed GGUF file; throws ModelFormatError for anything unsupported. */
export function modelConfigFromGGUF(f: GGUFFile): ModelConfig {
  const k = new Keys(f);
  const arch = k.str('general.architecture');
  if (arch === undefined) throw new ModelFormatError('missing required key general.architecture');
  if (arch !== 'llama') throw new ModelFormatError(`unsupported architecture ${JSON.stringify(arch)} (supported: llama)`);

  const expertCount = k.int('llama.expert_count', 0, 0);
  if (expertCount > 0) {
    throw new ModelFormatError(`mixture-of-experts models are not supported (llama.expert_count = ${expertCount})`);
  }

  const nLayers = k.int('llama.block_count');
  const dim = k.int('llama.embedding_length');
  const ffnDim = k.int('llama.feed_forward_length');
  const nHeads = k.int('llama.attention.head_count');
  const nKvHeads = k.int('llama.attention.head_count_kv', nHeads);
  if (nHeads % nKvHeads !== 0) {
    throw new ModelFormatError(
      `llama.attention.head_count ${nHeads} is not a multiple of llama.attention.head_count_kv ${nKvHeads}`,
    );
  }
  if (!f.metadata.has('llama.attention.key_length') && dim % nHeads !== 0) {
    throw new ModelFormatError(
      `llama.embedding_length ${dim} is not a multiple of llama.attention.head_count ${nHeads} (and llama.attention.key_length is absent)`,
    );
  }
  const headDim = k.int('llama.attention.key_length', dim / nHeads);
  const valueLength = k.int('llama.attention.value_length', headDim);
  if (valueLength !== headDim) {
    throw new ModelFormatError(
      `llama.attention.value_length ${valueLength} differs from the key length ${headDim}, which is not supported`,
    );
  }
  const contextLength = k.int('llama.context_length');
  const ropeDim = k.int('llama.rope.dimension_count', headDim);
  if (ropeDim % 2 !== 0 || ropeDim > headDim) {
    throw new ModelFormatError(
      `llama.rope.dimension_count ${ropeDim} must be even and at most the head dimension ${headDim}`,
    );
  }
  const ropeBase = k.num('llama.rope.freq_base', 10000);
  if (!(ropeBase > 0)) throw new ModelFormatError(`llama.rope.freq_base must be positive, found ${ropeBase}`);
  const ropeScale = ropeScaleFrom(k);
  const rmsEps = k.num('llama.attention.layer_norm_rms_epsilon');
  if (!(rmsEps > 0)) {
    throw new ModelFormatError(`llama.attention.layer_norm_rms_epsilon must be positive, found ${rmsEps}`);
  }
  const name = k.str('general.name') ?? null;

  // Tensors: every one we use must exist with the right shape and a supported type, and there must be no others.
  const used = new Set<string>();
  const tensor = (n: string, expected: readonly number[] | null): TensorInfo => {
    const t = f.tensorByName.get(n);
    if (!t) throw new ModelFormatError(`missing tensor ${n}`);
    used.add(n);
    if (expected && (t.dims.length !== expected.length || t.dims.some((d, i) => d !== expected[i]))) {
      throw new ModelFormatError(`tensor ${n} has shape ${shape(t.dims)}, expected ${shape(expected)}`);
    }
    if (!SUPPORTED_TENSOR_TYPES.includes(t.type)) {
      throw new ModelFormatError(
        `tensor ${n} has type ${ggmlTypeName(t.type)}, which pie-complete does not support yet (supported: ${SUPPORTED_NAMES}); ` +
          `re-quantize or convert with llama.cpp's llama-quantize to Q8_0 or F16`,
      );
    }
    return t;
  };

  const embd = tensor(GLOBAL_TENSOR_NAMES.tokenEmbd, null);
  if (embd.dims.length !== 2 || embd.dims[0] !== dim) {
    throw new ModelFormatError(
      `tensor ${embd.name} has shape ${shape(embd.dims)}, expected [${dim}, vocab size] (llama.embedding_length ${dim})`,
    );
  }
  const vocabSize = embd.dims[1]!;
  const declaredVocab = k.int('llama.vocab_size', vocabSize);
  if (declaredVocab !== vocabSize) {
    throw new ModelFormatError(`llama.vocab_size ${declaredVocab} differs from ${embd.name} ${shape(embd.dims)}`);
  }
  const tokens = k.get('tokenizer.ggml.tokens');
  if (tokens !== undefined && (!Array.isArray(tokens) || tokens.length !== vocabSize)) {
    throw new ModelFormatError(
      `tokenizer.ggml.tokens is ${describe(tokens)}, expected ${vocabSize} tokens (the rows of ${embd.name})`,
    );
  }

  const qDim = nHeads * headDim;
  const kvDim = nKvHeads * headDim;
  for (let i = 0; i < nLayers; i++) {
    const n = tensorNamesForLayer(i);
    tensor(n.attnNorm, [dim]);
    tensor(n.attnQ, [dim, qDim]);
    tensor(n.attnK, [dim, kvDim]);
    tensor(n.attnV, [dim, kvDim]);
    tensor(n.attnOutput, [qDim, dim]);
    tensor(n.ffnNorm, [dim]);
    tensor(n.ffnGate, [dim, ffnDim]);
    tensor(n.ffnUp, [dim, ffnDim]);
    tensor(n.ffnDown, [ffnDim, dim]);
  }
  tensor(GLOBAL_TENSOR_NAMES.outputNorm, [dim]);
  const tiedOutput = !f.tensorByName.has(GLOBAL_TENSOR_NAMES.output);
  if (!tiedOutput) tensor(GLOBAL_TENSOR_NAMES.output, [dim, vocabSize]);

  for (const t of f.tensors) {
    if (used.has(t.name)) continue;
    if (t.name === 'rope_freqs.weight') {
      throw new ModelFormatError(
        `tensor rope_freqs.weight (per-dimension RoPE frequency factors, e.g. llama 3.1 RoPE scaling) is not supported yet`,
      );
    }
    throw new ModelFormatError(
      `unexpected tensor ${t.name} (not part of a ${nLayers}-layer llama model as pie-complete implements it)`,
    );
  }

  return {
    architecture: 'llama',
    name,
    nLayers,
    dim,
    ffnDim,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    contextLength,
    ropeDim,
    ropeBase,
    ropeScale,
    ropeLayout: 'normal',
    rmsEps,
    tiedOutput,
  };
}

/** Linear RoPE scaling (llama.cpp semantics: a missing type with a factor means linear; a factor of 0 means none). */
function ropeScaleFrom(k: Keys): number {
  const type = k.str('llama.rope.scaling.type');
  if (type !== undefined && type !== 'linear' && type !== 'none') {
    throw new ModelFormatError(`unsupported RoPE scaling type ${type} (supported: linear, none)`);
  }
  if (type === 'none') return 1;
  const hasFactor = k.get('llama.rope.scaling.factor') !== undefined;
  const key = hasFactor ? 'llama.rope.scaling.factor' : 'llama.rope.scale_linear';
  const factor = k.num(key, 0);
  if (factor === 0) return 1;
  if (!(factor > 0)) throw new ModelFormatError(`${key} must be positive, found ${factor}`);
  return 1 / factor;
}
