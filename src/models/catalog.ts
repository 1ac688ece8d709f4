// The catalog of recommended code models, shared by the CLI, the extension host and the engine panel (plain data and
// arithmetic: no Node or DOM imports). Each entry names its Hub repository and file, its family, whether it fills in
// the middle, and its shape, from which the memory it needs is computed: the weights (the file's size: weights stay
// quantized on the GPU) plus the KV cache at the context the editor uses.
import { kvCacheBytes } from './memory.js';

export type Family = 'llama' | 'qwen2' | 'starcoder2';

export interface CatalogEntry {
  /** Short name for `pie pull`, `pie models` and the quick pick (`qwen2.5-coder-1.5b:q8_0`). */
  id: string;
  label: string;
  family: Family;
  quant: string;
  /** Hugging Face repository and file; absent for the bundled model. */
  repo?: string;
  file: string;
  /** Path inside the extension and the repository for the model that ships with them. */
  bundled?: string;
  /** File size in bytes: exact for the bundled model; for a Hub file as published (rounded to the MB; a download
   *  uses the Hub's exact size and sha256). */
  bytes: number;
  /** Parameters, in billions. */
  params: number;
  /** It was trained with fill-in-the-middle sentinels (they are read from the file at load). */
  fim: boolean;
  /** What the KV cache's size depends on. */
  shape: { nLayers: number; nKvHeads: number; headDim: number; contextLength: number };
  note?: string;
}

const MB = 1e6;
const GB = 1e9;

const qwen = (size: string, params: number, quant: 'Q8_0' | 'Q4_K_M', bytes: number, nLayers: number, nKvHeads: number, headDim: number): CatalogEntry => {
  const lower = size.toLowerCase();
  // Q8_0: ggml-org's conversions of the base models (llama.vscode's presets). Q4_K_M: Qwen publishes it for the
  // instruct models only; they keep the FIM sentinels and fill in the middle too.
  return quant === 'Q8_0'
    ? { id: `qwen2.5-coder-${lower}:q8_0`, label: `Qwen2.5-Coder ${size}`, family: 'qwen2', quant, repo: `ggml-org/Qwen2.5-Coder-${size}-Q8_0-GGUF`, file: `qwen2.5-coder-${lower}-q8_0.gguf`, bytes, params, fim: true, shape: { nLayers, nKvHeads, headDim, contextLength: 32768 } }
    : { id: `qwen2.5-coder-${lower}-instruct:q4_k_m`, label: `Qwen2.5-Coder ${size} Instruct`, family: 'qwen2', quant, repo: `Qwen/Qwen2.5-Coder-${size}-Instruct-GGUF`, file: `qwen2.5-coder-${lower}-instruct-q4_k_m.gguf`, bytes, params, fim: true, shape: { nLayers, nKvHeads, headDim, contextLength: 32768 } };
};

export const CATALOG: readonly CatalogEntry[] = [
  {
    id: 'pie-code-tiny',
    label: 'pie-code-tiny (bundled)',
    family: 'llama',
    quant: 'F16',
    file: 'pie-code-tiny.gguf',
    bundled: 'models/pie-code-tiny.gguf',
    bytes: 10_937_824,
    params: 0.0054,
    fim: true,
    shape: { nLayers: 6, nKvHeads: 2, headDim: 64, contextLength: 2048 },
    note: '5.4M parameters, trained here: a demonstration, not a useful completer',
  },
  qwen('0.5B', 0.49, 'Q8_0', 531 * MB, 24, 2, 64),
  qwen('0.5B', 0.49, 'Q4_K_M', 398 * MB, 24, 2, 64),
  qwen('1.5B', 1.54, 'Q8_0', 1.65 * GB, 28, 2, 128),
  qwen('1.5B', 1.54, 'Q4_K_M', 1.12 * GB, 28, 2, 128),
  qwen('3B', 3.09, 'Q8_0', 3.29 * GB, 36, 2, 128),
  qwen('3B', 3.09, 'Q4_K_M', 2.1 * GB, 36, 2, 128),
  qwen('7B', 7.62, 'Q8_0', 8.1 * GB, 28, 4, 128),
  qwen('7B', 7.62, 'Q4_K_M', 4.68 * GB, 28, 4, 128),
  {
    id: 'starcoder2-3b:q4_k_m',
    label: 'StarCoder2 3B',
    family: 'starcoder2',
    quant: 'Q4_K_M',
    repo: 'second-state/StarCoder2-3B-GGUF',
    file: 'starcoder2-3b-Q4_K_M.gguf',
    bytes: 1.85 * GB,
    params: 3.03,
    fim: true,
    // 16,384 in the file; the engine serves StarCoder2 up to its 4,096-token sliding window (docs/models.md)
    shape: { nLayers: 30, nKvHeads: 2, headDim: 128, contextLength: 4096 },
  },
  {
    id: 'deepseek-coder-1.3b-base:q4_k_m',
    label: 'DeepSeek-Coder 1.3B base',
    family: 'llama',
    quant: 'Q4_K_M',
    repo: 'TheBloke/deepseek-coder-1.3b-base-GGUF',
    file: 'deepseek-coder-1.3b-base.Q4_K_M.gguf',
    bytes: 874 * MB,
    params: 1.35,
    fim: true,
    // no grouped-query attention: 16 KV heads make its KV cache larger than Qwen2.5-Coder-1.5B's
    shape: { nLayers: 24, nKvHeads: 16, headDim: 128, contextLength: 16384 },
  },
  {
    id: 'deepseek-coder-1.3b-base:q8_0',
    label: 'DeepSeek-Coder 1.3B base',
    family: 'llama',
    quant: 'Q8_0',
    repo: 'TheBloke/deepseek-coder-1.3b-base-GGUF',
    file: 'deepseek-coder-1.3b-base.Q8_0.gguf',
    bytes: 1.43 * GB,
    params: 1.35,
    fim: true,
    shape: { nLayers: 24, nKvHeads: 16, headDim: 128, contextLength: 16384 },
  },
];

export function catalogEntry(id: string): CatalogEntry | undefined {
  return CATALOG.find((e) => e.id === id || e.file === id);
}

/** The memory an entry needs at a context of `maxContext` tokens (capped by the model's own). */
export function memoryNeeded(e: CatalogEntry, maxContext: number): { weights: number; kvCache: number; total: number; contextRows: number } {
  const contextRows = Math.min(maxContext, e.shape.contextLength);
  const kvCache = kvCacheBytes(e.shape, contextRows);
  return { weights: e.bytes, kvCache, total: e.bytes + kvCache, contextRows };
}

/** What the device offers. WebGPU reports no memory size: `memoryBytes` comes from the `pie.gpuMemoryGiB` setting, the
 *  system memory for a CPU adapter, or an assumed 4 GiB (`memoryAssumed`). */
export interface DeviceBudget {
  memoryBytes: number;
  memoryAssumed: boolean;
  /** `maxStorageBufferBindingSize`: each of the KV cache's K and V buffers must fit one binding. */
  maxBindingBytes: number;
  /** A CPU adapter (lavapipe, SwiftShader): memory is plenty, speed is not. */
  software?: boolean;
}

export interface Fit {
  fits: boolean;
  /** Why it does not fit (empty when it does). */
  why: string;
  need: ReturnType<typeof memoryNeeded>;
}

export function fit(e: CatalogEntry, device: DeviceBudget, maxContext: number): Fit {
  const need = memoryNeeded(e, maxContext);
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (need.kvCache / 2 > device.maxBindingBytes) {
    return { fits: false, need, why: `its KV cache at ${need.contextRows} tokens needs ${gib(need.kvCache / 2)} per K/V buffer, over this adapter's binding limit of ${gib(device.maxBindingBytes)} (lower pie.maxContext)` };
  }
  // a tenth is kept for activations, logits and the browser's own use
  if (need.total > device.memoryBytes * 0.9) {
    return { fits: false, need, why: `needs ${gib(need.total)} (weights ${gib(need.weights)}, KV cache ${gib(need.kvCache)}), over the ${gib(device.memoryBytes)} of GPU memory ${device.memoryAssumed ? 'assumed (set pie.gpuMemoryGiB)' : 'available'}` };
  }
  return { fits: true, need, why: '' };
}

/**
 * The entry to recommend: Qwen2.5-Coder (the family llama.vscode and Continue recommend for completion), the most
 * parameters whose weights and KV cache take at most half the memory (the rest stays for the browser, the editor and
 * other work on the GPU; a bigger model also answers later after each keystroke), Q8_0 before Q4_K_M at the same size;
 * else the smallest that fits at all; else the bundled model. On a CPU adapter, where every parameter costs time on each
 * keystroke, the smallest Qwen2.5-Coder that fits (Q8_0 first).
 */
export function recommend(device: DeviceBudget, maxContext: number, entries: readonly CatalogEntry[] = CATALOG): CatalogEntry {
  const fitting = entries.filter((e) => e.repo && e.family === 'qwen2' && fit(e, device, maxContext).fits);
  if (device.software) {
    const small = [...fitting].sort((a, b) => a.params - b.params || b.bytes - a.bytes)[0];
    if (small) return small;
  }
  const roomy = fitting.filter((e) => memoryNeeded(e, maxContext).total <= device.memoryBytes / 2);
  const best = [...roomy].sort((a, b) => b.params - a.params || b.bytes - a.bytes)[0] ?? [...fitting].sort((a, b) => a.bytes - b.bytes)[0];
  return best ?? entries.find((e) => e.bundled) ?? entries[0]!;
}
