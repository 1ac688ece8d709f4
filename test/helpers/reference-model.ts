// A second, independent oracle for whole-model numerics: the forward pass on the CPU, the family's layer as the engine
// records it (src/engine/model/arch/arch.ts transformerLayer) but executed by CPU ops that call the kernels' CPU
// references (f64 sums, rounded to f32 between steps), over weights dequantized from the GGUF file. So it cannot drift
// from the engine's description, while every kernel is replaced by its reference. It is slow and only meant for tiny
// models. Where llama.cpp cannot be asked (it refuses partial rotary on the `llama` architecture) or is itself the less
// precise side (its CPU backend), this is what our engine is held to tightly.
import { dequantize, formatOfGGML } from '../../src/engine/formats/index.js';
import { addBiasRef } from '../../src/engine/kernels/bias.js';
import { attentionRef } from '../../src/engine/kernels/attention.js';
import { geluRef } from '../../src/engine/kernels/gelu.js';
import { layernormRef } from '../../src/engine/kernels/layernorm.js';
import { matmulRef } from '../../src/engine/kernels/matmul.js';
import { rmsnormRef } from '../../src/engine/kernels/rmsnorm.js';
import { ropeRef } from '../../src/engine/kernels/rope.js';
import { swigluRef } from '../../src/engine/kernels/swiglu.js';
import { GLOBAL_TENSORS, LAYER_TENSORS, type LayerTensor, type LayerWeights, type Ops, type Slots, transformerLayer } from '../../src/engine/model/arch/arch.js';
import { type ModelConfig, modelConfigFromGGUF } from '../../src/engine/model/config.js';
import { bytesSource, readGGUF, readTensorData } from '../../src/engine/model/gguf.js';
import { type Tokenizer, tokenizerFromMetadata } from '../../src/engine/model/tokenizer.js';

export interface ReferenceModel {
  config: ModelConfig;
  tokenizer: Tokenizer;
  /** Logits (tokens, vocab) of a plain sequence: token i at position i. */
  logits(tokens: readonly number[]): Float32Array;
}

/** An activation slot: its values are replaced by each op that writes it. */
interface Act {
  v: Float32Array;
}

/** A weight matrix: (rows, cols) dequantized. */
interface Mat {
  v: Float32Array;
  rows: number;
  cols: number;
}

/** The CPU ops over a plain sequence of n tokens at positions 0..n-1. */
function cpuOps(c: ModelConfig, n: number): Ops<Act, Mat, Float32Array> {
  const positions = Array.from({ length: n }, (_, i) => i);
  const rope = { tokens: n, headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, scale: c.ropeScale, layout: c.ropeLayout };
  // (tokens, nKvHeads, headDim) -> the cache layout (1 layer, nKvHeads, rows, headDim)
  const toCache = (a: Float32Array) => {
    const out = new Float32Array(a.length);
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < c.nKvHeads; h++) out.set(a.subarray((t * c.nKvHeads + h) * c.headDim, (t * c.nKvHeads + h + 1) * c.headDim), (h * n + t) * c.headDim);
    }
    return out;
  };
  return {
    norm(dst, x, w, b) {
      if (c.norm === 'layer') dst.v = layernormRef(x.v, w, b!, n, c.dim, c.normEps);
      else dst.v = b ? addBiasRef(rmsnormRef(x.v, w, n, c.dim, c.normEps), b, n, c.dim) : rmsnormRef(x.v, w, n, c.dim, c.normEps);
    },
    linear(dst, x, w, b, accumulate) {
      const y = matmulRef(x.v, w.v, n, w.rows, w.cols, accumulate ? dst.v : undefined);
      dst.v = b ? addBiasRef(y, b, n, w.rows) : y;
    },
    rope(x, nHeads) {
      x.v = ropeRef(x.v, positions, { ...rope, nHeads });
    },
    attend(dst, q, k, v) {
      const p = { tokens: n, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, maxRows: n, nRows: n, layer: 0 };
      dst.v = attentionRef(q.v, toCache(k.v), toCache(v.v), positions, positions, p);
    },
    swiglu(dst, gate, up) {
      dst.v = swigluRef(gate.v, up.v);
    },
    gelu(dst, x) {
      dst.v = geluRef(x.v);
    },
  };
}

export async function referenceModel(file: Uint8Array): Promise<ReferenceModel> {
  const src = bytesSource(file);
  const gguf = await readGGUF(src);
  const c = modelConfigFromGGUF(gguf);
  const w = new Map<string, Mat>();
  for (const t of gguf.tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    w.set(t.name, { v: dequantize(formatOfGGML(t.type)!, await readTensorData(src, t), count), rows: t.dims[1] ?? 1, cols: t.dims[0]! });
  }
  const mat = (name: string) => w.get(name) ?? null;
  const vec = (name: string) => w.get(name)?.v ?? null;
  const layers = Array.from({ length: c.nLayers }, (_, i) => {
    const l = {} as Record<LayerTensor, Mat | Float32Array | null>;
    for (const [key, name] of Object.entries(LAYER_TENSORS) as [LayerTensor, string][]) l[key] = key.startsWith('w') ? mat(`blk.${i}.${name}`) : vec(`blk.${i}.${name}`);
    return l as LayerWeights<Mat, Float32Array>;
  });
  const embd = mat(GLOBAL_TENSORS.tokenEmbd)!;
  const output = c.tiedOutput ? embd : mat(GLOBAL_TENSORS.output)!;

  return {
    config: c,
    tokenizer: tokenizerFromMetadata(gguf.metadata),
    logits(tokens) {
      const n = tokens.length;
      const ops = cpuOps(c, n);
      const act = (): Act => ({ v: new Float32Array(0) });
      const s: Slots<Act> = { x: act(), xb: act(), q: act(), k: act(), v: act(), att: act(), gate: act(), up: act(), hidden: act() };
      s.x.v = new Float32Array(n * c.dim);
      tokens.forEach((t, i) => s.x.v.set(embd.v.subarray(t * c.dim, (t + 1) * c.dim), i * c.dim));
      for (let l = 0; l < c.nLayers; l++) transformerLayer(ops, s, layers[l]!, c, l);
      ops.norm(s.xb, s.x, vec(GLOBAL_TENSORS.outputNorm)!, vec(GLOBAL_TENSORS.outputNormB));
      const logits: Act = act();
      ops.linear(logits, s.xb, output, null, false);
      return logits.v;
    },
  };
}
