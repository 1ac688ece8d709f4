// The families the engine runs, by general.architecture.
import type { ArchDescription } from './arch.js';
import { llama } from './llama.js';
import { qwen2 } from './qwen2.js';
import { starcoder2 } from './starcoder2.js';

export const ARCHITECTURES: readonly ArchDescription[] = [llama, qwen2, starcoder2];

export function archNamed(name: string): ArchDescription | undefined {
  return ARCHITECTURES.find((a) => a.name === name);
}
