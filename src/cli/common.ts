// What several CLI commands share: opening a model file on a Node WebGPU device, the tokenizer alone, standard input.
import type { GpuContext } from '../engine/gpu/context.js';
import { acquireNodeGpu } from '../engine/gpu/node.js';
import { readGGUF } from '../engine/model/gguf.js';
import { LlamaModel } from '../engine/model/model.js';
import { fileSource } from '../engine/model/node-source.js';
import { type Tokenizer, tokenizerFromMetadata } from '../engine/model/tokenizer.js';

export async function openModel(path: string): Promise<{ ctx: GpuContext; model: LlamaModel; loadMs: number }> {
  const src = await fileSource(path);
  try {
    const ctx = await acquireNodeGpu();
    const t0 = performance.now();
    try {
      const model = await LlamaModel.load(ctx, src);
      return { ctx, model, loadMs: performance.now() - t0 };
    } catch (e) {
      ctx.destroy();
      throw e;
    }
  } finally {
    await src.close();
  }
}

export async function tokenizerFromFile(path: string): Promise<Tokenizer> {
  const src = await fileSource(path);
  try {
    return tokenizerFromMetadata((await readGGUF(src)).metadata);
  } finally {
    await src.close();
  }
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
