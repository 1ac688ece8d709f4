// A second, independent oracle for whole-model numerics: the Llama forward pass on the CPU, composed of the kernels'
// CPU references (f64 sums, rounded to f32 between steps), over weights dequantized from the GGUF file. It is slow and
// only meant for the tiny fixture models. Where llama.cpp cannot be asked (it refuses partial rotary on the `llama`
// architecture) or is itself the less precise side (its CPU backend), this is what our engine is held to tightly.
import { attentionRef } from '../../src/engine/kernels/attention.js';
import { matmulRef } from '../../src/engine/kernels/matmul.js';
import { rmsnormRef } from '../../src/engine/kernels/rmsnorm.js';
import { ropeRef } from '../../src/engine/kernels/rope.js';
import { swigluRef } from '../../src/engine/kernels/swiglu.js';
import { type ModelConfig, modelConfigFromGGUF } from '../../src/engine/model/config.js';
import { bytesSource, readGGUF, readTensorData } from '../../src/engine/model/gguf.js';
import { type Tokenizer, tokenizerFromMetadata } from '../../src/engine/model/tokenizer.js';
import { dequantize, weightTypeFromGGML } from '../../src/engine/model/weights.js';

export interface ReferenceModel {
  config: ModelConfig;
  tokenizer: Tokenizer;
  /** Logits (tokens, vocab) of a plain sequence: token i at position i. */
  logits(tokens: readonly number[]): Float32Array;
}

export async function referenceModel(file: Uint8Array): Promise<ReferenceModel> {
  const src = bytesSource(file);
  const gguf = await readGGUF(src);
  const c = modelConfigFromGGUF(gguf);
  const weight = async (name: string): Promise<Float32Array> => {
    const t = gguf.tensorByName.get(name);
    if (!t) throw new Error(`tensor ${name} missing`);
    const count = t.dims.reduce((a, b) => a * b, 1);
    return dequantize(weightTypeFromGGML(t.type)!, await readTensorData(src, t), count);
  };
  const w = new Map<string, Float32Array>();
  for (const t of gguf.tensors) w.set(t.name, await weight(t.name));
  const get = (name: string) => w.get(name)!;
  const output = c.tiedOutput ? get('token_embd.weight') : get('output.weight');

  return {
    config: c,
    tokenizer: tokenizerFromMetadata(gguf.metadata),
    logits(tokens) {
      const n = tokens.length;
      const qDim = c.nHeads * c.headDim;
      const kvDim = c.nKvHeads * c.headDim;
      const positions = tokens.map((_, i) => i);
      const rope = { tokens: n, headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, scale: c.ropeScale, layout: c.ropeLayout };
      const emb = get('token_embd.weight');
      let x: Float32Array = new Float32Array(n * c.dim);
      tokens.forEach((t, i) => x.set(emb.subarray(t * c.dim, (t + 1) * c.dim), i * c.dim));
      for (let l = 0; l < c.nLayers; l++) {
        const p = `blk.${l}.`;
        const xb = rmsnormRef(x, get(`${p}attn_norm.weight`), n, c.dim, c.rmsEps);
        const q = ropeRef(matmulRef(xb, get(`${p}attn_q.weight`), n, qDim, c.dim), positions, { ...rope, nHeads: c.nHeads });
        const k = ropeRef(matmulRef(xb, get(`${p}attn_k.weight`), n, kvDim, c.dim), positions, { ...rope, nHeads: c.nKvHeads });
        const v = matmulRef(xb, get(`${p}attn_v.weight`), n, kvDim, c.dim);
        // (tokens, nKvHeads, headDim) -> the cache layout (1 layer, nKvHeads, rows, headDim)
        const toCache = (a: Float32Array) => {
          const out = new Float32Array(a.length);
          for (let t = 0; t < n; t++) {
            for (let h = 0; h < c.nKvHeads; h++) out.set(a.subarray((t * c.nKvHeads + h) * c.headDim, (t * c.nKvHeads + h + 1) * c.headDim), (h * n + t) * c.headDim);
          }
          return out;
        };
        const att = attentionRef(q, toCache(k), toCache(v), positions, positions, {
          tokens: n,
          nHeads: c.nHeads,
          nKvHeads: c.nKvHeads,
          headDim: c.headDim,
          maxRows: n,
          nRows: n,
          layer: 0,
        });
        x = matmulRef(att, get(`${p}attn_output.weight`), n, c.dim, qDim, x);
        const xb2 = rmsnormRef(x, get(`${p}ffn_norm.weight`), n, c.dim, c.rmsEps);
        const gate = matmulRef(xb2, get(`${p}ffn_gate.weight`), n, c.ffnDim, c.dim);
        const up = matmulRef(xb2, get(`${p}ffn_up.weight`), n, c.ffnDim, c.dim);
        x = matmulRef(swigluRef(gate, up), get(`${p}ffn_down.weight`), n, c.dim, c.ffnDim, x);
      }
      return matmulRef(rmsnormRef(x, get('output_norm.weight'), n, c.dim, c.rmsEps), output, n, c.vocabSize, c.dim);
    },
  };
}
