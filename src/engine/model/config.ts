// The model configuration, derived from a GGUF file's metadata through its family's description (arch/) and
// cross-checked against every tensor's shape and type, so that an unsupported or inconsistent model is refused here,
// with a message saying what and why, rather than producing garbage later on the GPU.
import { EngineError } from '../errors.js';
import { fitsRows, formatOfGGML, supportedFormatNames } from '../formats/index.js';
import { type FfnKind, GLOBAL_TENSORS, LAYER_TENSORS, type LayerTensor, layerTensorDims, type NormKind, type Presence } from './arch/arch.js';
import { ARCHITECTURES, archNamed } from './arch/index.js';
import { type GGUFFile, type TensorInfo, ggmlTypeName } from './gguf.js';
import { MetadataReader, describe } from './metadata.js';
import type { RopeLayout } from '../kernels/rope.js';

export interface ModelConfig {
  /** general.architecture: a family of arch/ ('llama', 'qwen2', 'starcoder2'). */
  architecture: string;
  name: string | null;
  nLayers: number;
  dim: number;
  ffnDim: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** The context the engine serves: the file's context length, capped where the family needs it (arch maxContext). */
  contextLength: number;
  /** The file's {arch}.context_length. */
  trainedContext: number;
  /** llama.rope.dimension_count, default headDim (partial rotary when smaller). */
  ropeDim: number;
  /** llama.rope.freq_base, default 10000. */
  ropeBase: number;
  /** Positions are multiplied by this: 1 / llama.rope.scaling.factor for linear scaling, else 1. */
  ropeScale: number;
  ropeLayout: RopeLayout;
  norm: NormKind;
  normEps: number;
  ffn: FfnKind;
  /** True when there is no output.weight tensor: token_embd.weight is then the output matrix. */
  tiedOutput: boolean;
}

export class ModelFormatError extends EngineError {
  constructor(message: string) {
    super('model-unsupported', message);
    this.name = 'ModelFormatError';
  }
}

/** GGUF names of layer i's tensors, by key (arch/arch.ts LAYER_TENSORS). */
export function tensorNamesForLayer(i: number): Record<LayerTensor, string> {
  const out = {} as Record<LayerTensor, string>;
  for (const [key, name] of Object.entries(LAYER_TENSORS)) out[key as LayerTensor] = `blk.${i}.${name}`;
  return out;
}

function shape(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/** Derives the configuration from a parsed GGUF file; throws ModelFormatError for anything unsupported. */
export function modelConfigFromGGUF(f: GGUFFile): ModelConfig {
  const k = new MetadataReader(f.metadata, ModelFormatError);
  const archName = k.str('general.architecture', true);
  const arch = archNamed(archName);
  if (!arch) {
    throw new ModelFormatError(`unsupported architecture ${JSON.stringify(archName)} (supported: ${ARCHITECTURES.map((a) => a.name).join(', ')})`);
  }
  const a = archName;

  const expertCount = k.int(`${a}.expert_count`, 0, 0);
  if (expertCount > 0) {
    throw new ModelFormatError(`mixture-of-experts models are not supported (${a}.expert_count = ${expertCount})`);
  }

  const nLayers = k.int(`${a}.block_count`);
  const dim = k.int(`${a}.embedding_length`);
  const ffnDim = k.int(`${a}.feed_forward_length`);
  const nHeads = k.int(`${a}.attention.head_count`);
  const nKvHeads = k.int(`${a}.attention.head_count_kv`, nHeads);
  if (nHeads % nKvHeads !== 0) {
    throw new ModelFormatError(`${a}.attention.head_count ${nHeads} is not a multiple of ${a}.attention.head_count_kv ${nKvHeads}`);
  }
  if (!k.has(`${a}.attention.key_length`) && dim % nHeads !== 0) {
    throw new ModelFormatError(
      `${a}.embedding_length ${dim} is not a multiple of ${a}.attention.head_count ${nHeads} (and ${a}.attention.key_length is absent)`,
    );
  }
  const headDim = k.int(`${a}.attention.key_length`, dim / nHeads);
  const valueLength = k.int(`${a}.attention.value_length`, headDim);
  if (valueLength !== headDim) {
    throw new ModelFormatError(`${a}.attention.value_length ${valueLength} differs from the key length ${headDim}, which is not supported`);
  }
  const trainedContext = k.int(`${a}.context_length`);
  const contextLength = Math.min(trainedContext, arch.maxContext?.tokens ?? Infinity);
  const ropeDim = k.int(`${a}.rope.dimension_count`, headDim);
  if (ropeDim % 2 !== 0 || ropeDim > headDim) {
    throw new ModelFormatError(`${a}.rope.dimension_count ${ropeDim} must be even and at most the head dimension ${headDim}`);
  }
  const ropeBase = k.num(`${a}.rope.freq_base`, 10000);
  if (!(ropeBase > 0)) throw new ModelFormatError(`${a}.rope.freq_base must be positive, found ${ropeBase}`);
  const ropeScale = ropeScaleFrom(k, a);
  const epsKey = `${a}.${arch.normEpsKey}`;
  const normEps = k.num(epsKey);
  if (!(normEps > 0)) throw new ModelFormatError(`${epsKey} must be positive, found ${normEps}`);
  const name = k.str('general.name') ?? null;

  // Tensors: every one the family has must exist with the right shape and a supported type, and there must be no others.
  const used = new Set<string>();
  const tensor = (n: string, expected: readonly number[] | null, presence: Presence = 'required'): TensorInfo | null => {
    const t = f.tensorByName.get(n);
    if (!t || presence === 'absent') {
      if (presence === 'required') throw new ModelFormatError(`missing tensor ${n}`);
      return null;
    }
    used.add(n);
    if (expected && (t.dims.length !== expected.length || t.dims.some((d, i) => d !== expected[i]))) {
      throw new ModelFormatError(`tensor ${n} has shape ${shape(t.dims)}, expected ${shape(expected)}`);
    }
    const format = formatOfGGML(t.type);
    if (!format) {
      throw new ModelFormatError(
        `tensor ${n} has type ${ggmlTypeName(t.type)}, which pie-complete does not support yet (supported: ${supportedFormatNames()}); ` +
          `re-quantize or convert with llama.cpp's llama-quantize to Q4_K_M, Q8_0 or F16`,
      );
    }
    if (!fitsRows(format, t.dims[0]!)) {
      throw new ModelFormatError(`tensor ${n} has rows of ${t.dims[0]} elements, not whole ${ggmlTypeName(t.type)} blocks of ${format.blockElems}`);
    }
    return t;
  };

  const embd = tensor(GLOBAL_TENSORS.tokenEmbd, null)!;
  if (embd.dims.length !== 2 || embd.dims[0] !== dim) {
    throw new ModelFormatError(`tensor ${embd.name} has shape ${shape(embd.dims)}, expected [${dim}, vocab size] (${a}.embedding_length ${dim})`);
  }
  const vocabSize = embd.dims[1]!;
  const declaredVocab = k.int(`${a}.vocab_size`, vocabSize);
  if (declaredVocab !== vocabSize) {
    throw new ModelFormatError(`${a}.vocab_size ${declaredVocab} differs from ${embd.name} ${shape(embd.dims)}`);
  }
  const tokens = k.get('tokenizer.ggml.tokens');
  if (tokens !== undefined && (!Array.isArray(tokens) || tokens.length !== vocabSize)) {
    throw new ModelFormatError(`tokenizer.ggml.tokens is ${describe(tokens)}, expected ${vocabSize} tokens (the rows of ${embd.name})`);
  }

  const dims = layerTensorDims({ dim, ffnDim, nHeads, nKvHeads, headDim });
  for (let i = 0; i < nLayers; i++) {
    const n = tensorNamesForLayer(i);
    for (const key of Object.keys(LAYER_TENSORS) as LayerTensor[]) tensor(n[key], dims[key], arch.layer[key]);
  }
  tensor(GLOBAL_TENSORS.outputNorm, [dim]);
  tensor(GLOBAL_TENSORS.outputNormB, [dim], arch.global.outputNormB);
  const tiedOutput = tensor(GLOBAL_TENSORS.output, [dim, vocabSize], arch.global.output) === null;

  for (const t of f.tensors) {
    if (used.has(t.name)) continue;
    if (t.name === 'rope_freqs.weight') {
      throw new ModelFormatError(`tensor rope_freqs.weight (per-dimension RoPE frequency factors, e.g. llama 3.1 RoPE scaling) is not supported yet`);
    }
    throw new ModelFormatError(`unexpected tensor ${t.name} (not part of a ${nLayers}-layer ${a} model as pie-complete implements it)`);
  }

  return {
    architecture: a,
    name,
    nLayers,
    dim,
    ffnDim,
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    contextLength,
    trainedContext,
    ropeDim,
    ropeBase,
    ropeScale,
    ropeLayout: arch.ropeLayout,
    norm: arch.norm,
    normEps,
    ffn: arch.ffn,
    tiedOutput,
  };
}

/** Linear RoPE scaling (llama.cpp semantics: a missing type with a factor means linear; a factor of 0 means none). */
function ropeScaleFrom(k: MetadataReader, a: string): number {
  const type = k.str(`${a}.rope.scaling.type`);
  if (type !== undefined && type !== 'linear' && type !== 'none') {
    throw new ModelFormatError(`unsupported RoPE scaling type ${type} (supported: linear, none)`);
  }
  if (type === 'none') return 1;
  const hasFactor = k.get(`${a}.rope.scaling.factor`) !== undefined;
  const key = hasFactor ? `${a}.rope.scaling.factor` : `${a}.rope.scale_linear`;
  const factor = k.num(key, 0);
  if (factor === 0) return 1;
  if (!(factor > 0)) throw new ModelFormatError(`${key} must be positive, found ${factor}`);
  return 1 / factor;
}
