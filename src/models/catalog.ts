// The catalog of recommended code models, shared by the CLI, the extension host and the engine panel (plain data and
// arithmetic: no Node or DOM imports). Each entry names its Hub repository and file, its family, whether it fills in
// the middle, and its shape, from which the memory it needs is computed: the weights (the file's size: weights stay
// quantized on the GPU) plus the KV cache at the context the editor uses; and the decode speed to expect on a device
// from its measured bandwidth (decode reads every weight once per token).
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
  /** What decode speed depends on here (deviceSpeed); absent until the engine has measured the bandwidth. */
  speed?: DeviceSpeed;
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

// ---- Decode speed ----------------------------------------------------------------------------------------------------
//
// A decode step reads every weight once, so its time is the weight bytes over the bandwidth decode reaches, plus
// what does not scale with the bytes (dispatches and submissions, per layer):
//
//   seconds per token = weightBytes / (efficiency x bandwidth) + layers x layerOverhead
//   expected tok/s    = 1 / that  (= efficiency x bandwidth / weightBytes before any calibration)
//
// The bandwidth is the device's copy bandwidth, measured when the engine boots (src/engine/gpu/bandwidth.ts). Before
// the loaded model's decode is measured, efficiency is DEFAULT_EFFICIENCY and the overhead 0. The warm-up's measured
// decode of the loaded model calibrates them so that the loaded model is expected at exactly its measured speed
// (deviceSpeed). A weight byte per token is the file's byte: the embedding row a token reads instead of the whole
// table, and the GPU layout's padding (up to 6% for Q8_0), are left out.

/** Below this expected decode speed a model is too slow to complete as one types (a 20-token line takes over a second
 *  after its first token): recommend() passes over it. */
export const USABLE_TOK_PER_S = 15;
/** The fraction of the measured copy bandwidth at which decode is assumed to read the weights before the loaded
 *  model's decode has been measured. */
export const DEFAULT_EFFICIENCY = 0.5;

/** The loaded model's decode, as the engine measured it (its `ready` message: ModelInfo). */
export interface DecodeMeasurement {
  name: string;
  tokPerS: number;
  /** Its weights' bytes (on the GPU) and layers. */
  weightBytes: number;
  layers: number;
}

export interface DeviceSpeed {
  /** The device's measured copy bandwidth, bytes per second. */
  bandwidthBytesPerS: number;
  /** The fraction of it at which decode reads the weights, in (0, 1]. */
  efficiency: number;
  /** Decode time per token and layer that the bytes do not explain, in seconds (0 unless calibrated so). */
  layerOverheadS: number;
  /** The measurement the figures were calibrated on; absent: the defaults. */
  calibratedOn?: DecodeMeasurement;
}

/**
 * What decode speed depends on, on a device of this measured bandwidth, calibrated on the loaded model's measured
 * decode when there is one. The measurement implies an efficiency, tok/s x weight bytes / bandwidth (clamped to 1):
 * - on a CPU adapter, or when it is at least DEFAULT_EFFICIENCY, that is the efficiency. A CPU driver does every
 *   weight's arithmetic on the processor, so its time per token follows the bytes from the smallest model to the
 *   largest (lavapipe, measured: 1.2 GB/s of weights decoded for the bundled 11 MB model, 1.04 GB/s for a 556 MB one);
 * - on a GPU that decodes slower than the default predicts, the time beyond the default's is taken as per-layer
 *   overhead, the efficiency staying the default: there a small model's decode (the bundled one reads 11 MB per token)
 *   is bound by dispatches and submissions, and taking it for the bandwidth decode reaches would predict a 7B model
 *   at a fraction of a token per second.
 * Either way the loaded model is expected at its measured speed.
 */
export function deviceSpeed(bandwidthBytesPerS: number, o: { software?: boolean; measured?: DecodeMeasurement } = {}): DeviceSpeed {
  const base: DeviceSpeed = { bandwidthBytesPerS, efficiency: DEFAULT_EFFICIENCY, layerOverheadS: 0 };
  const m = o.measured;
  if (!m || !(m.tokPerS > 0) || !(m.weightBytes > 0) || !(bandwidthBytesPerS > 0)) return base;
  const implied = (m.tokPerS * m.weightBytes) / bandwidthBytesPerS;
  if (o.software || implied >= DEFAULT_EFFICIENCY || !(m.layers > 0)) return { ...base, efficiency: Math.min(1, implied), calibratedOn: m };
  const layerOverheadS = (1 / m.tokPerS - m.weightBytes / (DEFAULT_EFFICIENCY * bandwidthBytesPerS)) / m.layers;
  return { ...base, layerOverheadS, calibratedOn: m };
}

/** The decode speed to expect of an entry on this device, tokens per second; undefined while its bandwidth is unknown. */
export function expectedTokPerS(e: CatalogEntry, device: DeviceBudget): number | undefined {
  const s = device.speed;
  if (!s || !(s.bandwidthBytesPerS > 0)) return undefined;
  return 1 / (e.bytes / (s.efficiency * s.bandwidthBytesPerS) + e.shape.nLayers * s.layerOverheadS);
}

/** "~24 tok/s", "~1.8 tok/s", ">1000 tok/s". */
export function fmtTokPerS(t: number): string {
  return t >= 1000 ? '>1000 tok/s' : `~${t >= 10 ? t.toFixed(0) : t.toFixed(1)} tok/s`;
}

/** What an entry's speed says in the model picker: "~24 tok/s", or "too slow here: ~1.8 tok/s". */
export function speedNote(tokPerS: number, minTokPerS = USABLE_TOK_PER_S): string {
  return tokPerS >= minTokPerS ? fmtTokPerS(tokPerS) : `too slow here: ${fmtTokPerS(tokPerS)}`;
}

/** Where the expected speeds come from, in words: "copy bandwidth 5.99 GB/s; decode efficiency 0.17, from
 *  pie-code-tiny's measured 111 tok/s". */
export function speedBasis(s: DeviceSpeed): string {
  const bw = `copy bandwidth ${(s.bandwidthBytesPerS / 1e9).toFixed(s.bandwidthBytesPerS >= 100e9 ? 0 : 2)} GB/s`;
  const c = s.calibratedOn;
  if (!c) return `${bw}; decode efficiency ${DEFAULT_EFFICIENCY} assumed (no decode measured yet)`;
  const overhead = s.layerOverheadS > 0 ? ` and ${(s.layerOverheadS * 1e3).toFixed(2)} ms per layer` : '';
  return `${bw}; decode efficiency ${s.efficiency.toPrecision(2)}${overhead}, from ${c.name}'s measured ${fmtTokPerS(c.tokPerS).replace(/^~/, '')}`;
}

// ---- The recommendation ----------------------------------------------------------------------------------------------

export interface Recommendation {
  entry: CatalogEntry;
  /** Its expected decode speed here; undefined while the device's bandwidth is unknown. */
  tokPerS?: number;
  /** No entry that fits is expected at a usable speed: this is the fastest of them. */
  slow: boolean;
  /** Why, when slow or when nothing fits; empty otherwise. */
  why: string;
}

/**
 * The entry to recommend: Qwen2.5-Coder (the family llama.vscode and Continue recommend for completion), the most
 * parameters (Q8_0 before Q4_K_M at the same size) among those that fit, take at most half the memory (the rest stays
 * for the browser, the editor and other work on the GPU), and are expected to decode at `minTokPerS` or more
 * (expectedTokPerS); else the one of those that fit and are fast enough with the smallest file. When none that fits
 * is fast enough (a CPU adapter), the fastest that fits, flagged `slow`, with why. Before the bandwidth is measured
 * (no `device.speed`), the speed is not considered, except that on a CPU adapter the file with the fewest bytes is
 * taken, flagged slow. When no Qwen2.5-Coder fits, the bundled model.
 */
export function recommend(device: DeviceBudget, maxContext: number, entries: readonly CatalogEntry[] = CATALOG, minTokPerS = USABLE_TOK_PER_S): Recommendation {
  const speed = (e: CatalogEntry) => expectedTokPerS(e, device);
  const pick = (entry: CatalogEntry, slow: boolean, why = ''): Recommendation => ({ entry, tokPerS: speed(entry), slow, why });
  const largest = (list: CatalogEntry[]) => [...list].sort((a, b) => b.params - a.params || b.bytes - a.bytes)[0];
  const lightest = (list: CatalogEntry[]) => [...list].sort((a, b) => a.bytes - b.bytes)[0];
  const roomy = (list: CatalogEntry[]) => list.filter((e) => memoryNeeded(e, maxContext).total <= device.memoryBytes / 2);
  const fitting = entries.filter((e) => e.repo && e.family === 'qwen2' && fit(e, device, maxContext).fits);
  if (!fitting.length) return pick(entries.find((e) => e.bundled) ?? entries[0]!, false, 'no Qwen2.5-Coder of the catalog fits this device');
  if (device.speed) {
    const usable = fitting.filter((e) => speed(e)! >= minTokPerS);
    if (usable.length) return pick(largest(roomy(usable)) ?? lightest(usable)!, false);
    const fastest = [...fitting].sort((a, b) => speed(b)! - speed(a)!)[0]!;
    return pick(fastest, true, `no model that fits is expected at ${minTokPerS} tok/s here (${speedBasis(device.speed)}); ${fastest.label} ${fastest.quant} is the fastest, at ${fmtTokPerS(speed(fastest)!)}`);
  }
  if (device.software) return pick(lightest(fitting)!, true, 'a CPU adapter decodes every model slowly (its bandwidth is not measured yet): the smallest file');
  return pick(largest(roomy(fitting)) ?? lightest(fitting)!, false);
}
