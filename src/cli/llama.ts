// llama.cpp through node-llama-cpp, CPU only, never compiling or downloading: the oracle for our numerics and the
// peer in benchmarks. A dev dependency: loaded lazily so that the CLI runs without it.
import type { Llama, LlamaContext, LlamaModel as NlcModel, Token } from 'node-llama-cpp';

export interface LlamaCpp {
  llama: Llama;
  model: NlcModel;
  context: LlamaContext;
  /** Logits (vocab) after each token of `tokens`, evaluated from an empty sequence. */
  logitsAt(tokens: readonly number[]): Promise<Float32Array[]>;
  /** Greedy continuation of `maxTokens` tokens (stops early at EOS). */
  greedy(tokens: readonly number[], maxTokens: number): Promise<number[]>;
  dispose(): Promise<void>;
}

export async function openLlamaCpp(modelPath: string, contextSize: number, threads = 1): Promise<LlamaCpp> {
  let mod: typeof import('node-llama-cpp');
  try {
    mod = await import('node-llama-cpp');
  } catch (e) {
    throw new Error(`node-llama-cpp is not installed (a dev dependency: run npm install): ${(e as Error).message}`);
  }
  const llama = await mod.getLlama({ gpu: false, build: 'never', logLevel: mod.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  // An f32 KV cache, as ours: llama.cpp's default f16 cache rounds K and V (1e-3 relative logit differences).
  const context = await model.createContext({
    contextSize,
    threads,
    batchSize: Math.min(contextSize, 512),
    sequences: 1,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
  });
  return {
    llama,
    model,
    context,
    async logitsAt(tokens) {
      const seq = context.getSequence();
      try {
        const res = await seq.controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { logits: true } }] as [Token, { generateNext: { logits: true } }]));
        return res.map((r, i) => {
          const m = r?.next?.logits;
          if (!m) throw new Error(`llama.cpp returned no logits at position ${i}`);
          // every vocabulary entry is in the map (no filter was asked for)
          const arr = new Float32Array(m.size);
          for (const [tok, v] of m) arr[tok] = v;
          return arr;
        });
      } finally {
        seq.dispose();
      }
    },
    async greedy(tokens, maxTokens) {
      const seq = context.getSequence();
      try {
        const out: number[] = [];
        for await (const t of seq.evaluate([...tokens] as Token[], { temperature: 0 })) {
          if (model.tokens.eos !== null && t === model.tokens.eos) break;
          out.push(t);
          if (out.length >= maxTokens) break;
        }
        return out;
      } finally {
        seq.dispose();
      }
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
