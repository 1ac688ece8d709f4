// Text generation with the resident KV cache: one batched prefill of the prompt, then one token per forward pass.
import type { KvCache } from './kv/cache.js';
import type { TransformerModel } from './model/model.js';
import { Sampler, type SamplerOptions } from './sampler.js';

export interface GenerateOptions extends SamplerOptions {
  maxTokens: number;
  /** Stop at the model's end-of-sequence token (default true). */
  stopAtEos?: boolean;
  /** Add BOS before the prompt when the model's metadata asks for it (default true). */
  addBos?: boolean;
  /** Called with each new token and the text it completes (UTF-8 sequences split over tokens arrive whole). */
  onToken?: (id: number, text: string) => void;
  /** A cache to reuse (cleared first); by default one is created for prompt + maxTokens and destroyed afterwards. */
  cache?: KvCache;
}

export interface GenerateResult {
  promptTokens: number[];
  tokens: number[];
  text: string;
  stopReason: 'eos' | 'maxTokens' | 'context';
  /** Prompt encoding until the first new token is known. */
  prefillMs: number;
  /** Mean time per generated token after the first. */
  decodeMsPerToken: number;
}

export async function generate(model: TransformerModel, prompt: string | readonly number[], o: GenerateOptions): Promise<GenerateResult> {
  const tok = model.tokenizer;
  const promptTokens = typeof prompt === 'string' ? tok.encode(prompt) : [...prompt];
  if ((o.addBos ?? true) && tok.addBos && tok.bos !== null && promptTokens[0] !== tok.bos) promptTokens.unshift(tok.bos);
  if (promptTokens.length === 0) throw new Error('empty prompt: give some text or enable BOS');
  const ctxLen = model.config.contextLength;
  if (promptTokens.length >= ctxLen) throw new Error(`the prompt has ${promptTokens.length} tokens, the model's context is ${ctxLen}`);
  const sampler = new Sampler(o);
  const cache = o.cache ?? model.createCache(Math.min(ctxLen, promptTokens.length + Math.max(o.maxTokens, 1)));
  cache.clear();
  const stopAtEos = o.stopAtEos ?? true;
  const decoder = new TextDecoder('utf-8');
  let text = '';
  const tokens: number[] = [];
  try {
    const t0 = performance.now();
    const first = await model.prefill(cache, promptTokens, 'last');
    let next = sampler.greedy ? first.next! : sampler.sample(first.logits!);
    const prefillMs = performance.now() - t0;
    let stopReason: GenerateResult['stopReason'] = 'maxTokens';
    const t1 = performance.now();
    let steps = 0;
    while (tokens.length < o.maxTokens) {
      if (stopAtEos && next === tok.eos) {
        stopReason = 'eos';
        break;
      }
      tokens.push(next);
      const piece = decoder.decode(tok.tokenBytes(next), { stream: true });
      text += piece;
      o.onToken?.(next, piece);
      if (tokens.length >= o.maxTokens) break;
      if (cache.used >= cache.maxRows) {
        stopReason = 'context';
        break;
      }
      steps++;
      const r = await model.decodeOne(cache, next, !sampler.greedy);
      next = sampler.greedy ? r.next! : sampler.sample(r.logits!);
    }
    text += decoder.decode();
    const decodeMsPerToken = steps > 0 ? (performance.now() - t1) / steps : 0;
    return { promptTokens, tokens, text, stopReason, prefillMs, decodeMsPerToken };
  } finally {
    if (!o.cache) cache.destroy();
  }
}
