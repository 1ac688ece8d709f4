// What several CLI commands share: opening a model file on a Node WebGPU device, the tokenizer alone, standard input.
import type { GpuContext } from '../engine/gpu/context.js';
import { acquireNodeGpu } from '../engine/gpu/node.js';
import { slowAdapterNote } from '../models/adapter-note.js';
import { readGGUF } from '../engine/model/gguf.js';
import { TransformerModel } from '../engine/model/model.js';
import { fileSource } from '../engine/model/node-source.js';
import { type Tokenizer, tokenizerFromMetadata } from '../engine/model/tokenizer.js';

export async function openModel(path: string): Promise<{ ctx: GpuContext; model: TransformerModel; loadMs: number }> {
  const src = await fileSource(path);
  try {
    const ctx = await acquireNodeGpu();
    const note = slowAdapterNote(ctx.describe());
    if (note) process.stderr.write(`pie: ${note}\n`);
    const t0 = performance.now();
    try {
      const model = await TransformerModel.load(ctx, src);
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

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Prints rows of cells as left-aligned columns under a header. */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

/** Story text for benchmarks on the fixture model (a TinyStories model: its own kind of text). */
export const SAMPLE_TEXT =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
  'One day, she saw a big red ball under a tree. She wanted to play with it, so she asked her mom if she could. ';
