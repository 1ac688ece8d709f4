// Known public models and their checked download, shared by the CLI and the extension host (plain Node, no
// import.meta, so that it also bundles as CommonJS).
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { FimMode } from '../protocol/settings.js';

export interface KnownModel {
  file: string;
  /** Path under ../shared/fixtures. */
  fixture?: string;
  /** Public download (absent for a model that ships with the project). */
  url?: string;
  sha256: string;
  /** Path relative to the repository root and to the packed extension's folder, for a model that ships inside both. */
  bundled?: string;
  /**
   * The prompts "auto" gives the model (its FIM order, or 'off' when it completes better left to right; measured in its
   * card). Absent: 'psm' (prefix-suffix-middle, the order FIM models are most often trained in).
   */
  fim?: FimMode;
}

export const KNOWN_MODELS: Record<string, KnownModel> = {
  // our own code model (tools/train-model, model card models/README.md): committed in the repository and packed into
  // the .vsix, the default of the CLI and the extension
  'pie-code-tiny.gguf': {
    file: 'pie-code-tiny.gguf',
    bundled: 'models/pie-code-tiny.gguf',
    // held-out single-line infilling (models/README.md): 14.0% exact left to right, 13.7% with SPM prompts, 3.0% with
    // PSM prompts (the order it was trained in): it does not use the suffix, so "auto" completes left to right
    fim: 'off',
    sha256: 'db1bc7a89fa69dcd6910be7ad43335512502ffdd90b4e1e43ff2d285a7193701',
  },
  'stories260K.gguf': {
    file: 'stories260K.gguf',
    fixture: 'models/stories260K.gguf',
    url: 'https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf',
    sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
  },
  'llama-2-tiny-random.gguf': {
    file: 'llama-2-tiny-random.gguf',
    fixture: 'models/llama-2-tiny-random.gguf',
    url: 'https://huggingface.co/aladar/llama-2-tiny-random-GGUF/resolve/main/llama-2-tiny-random.gguf',
    sha256: '81f226c62d28ed4a1a9b9fa080fcd9f0cc40e0f9d5680036583ff98fbcd035cb',
  },
};

/** The model the CLI and the extension use when none is named. */
export const DEFAULT_MODEL = 'pie-code-tiny.gguf';

export type FimSetting = 'auto' | 'on' | 'off' | 'psm' | 'spm';
export const FIM_SETTINGS: readonly FimSetting[] = ['auto', 'on', 'off', 'psm', 'spm'];

/**
 * The prompts completions use (for a model that has FIM tokens; one without them always goes left to right): "psm",
 * "spm" and "off" are what they say; "auto" follows what the known model of that file name says, else psm; "on" is
 * FIM in that order, psm for a known model that "auto" keeps left to right.
 */
export function fimFor(setting: FimSetting, modelFile: string): FimMode {
  if (setting === 'psm' || setting === 'spm' || setting === 'off') return setting;
  const known = KNOWN_MODELS[basename(modelFile)]?.fim ?? 'psm';
  return setting === 'on' && known === 'off' ? 'psm' : known;
}

/** Downloads a known model to `dest` (through a .part file), refusing bytes whose sha256 is not the expected one. */
export async function fetchVerified(m: KnownModel, dest: string): Promise<void> {
  if (!m.url) throw new Error(`${m.file} has no download: it ships as ${m.bundled ?? '(nothing)'}`);
  const res = await fetch(m.url);
  if (!res.ok) throw new Error(`download of ${m.url} failed: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const got = sha256(bytes);
  if (got !== m.sha256) throw new Error(`download of ${m.url}: sha256 ${got} does not match the expected ${m.sha256}`);
  await mkdir(dirname(dest), { recursive: true });
  await writeFile(`${dest}.part`, bytes);
  await rename(`${dest}.part`, dest);
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
