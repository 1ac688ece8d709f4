// The extension's settings (contributes.configuration in package.json), read in one place.
import * as vscode from 'vscode';
import { DEFAULT_MODEL, fimFor, type FimSetting } from '../models/known.js';
import type { EngineSettings } from '../protocol/messages.js';
import type { EngineHostSetting } from './engine-switch.js';

export interface Config {
  enabled: boolean;
  /** A path, or hf:ORG/NAME/FILE (the Hugging Face cache, downloaded on first use). Empty: the default model (shipped
   *  inside the extension; else downloaded once into its storage, sha256 checked). */
  modelPath: string;
  maxTokens: number;
  maxLines: number;
  debounceMs: number;
  /** The first ghost text's time budget from the engine taking the request (0: none); the rest follows. */
  maxPredictMs: number;
  /** Language ids to complete in; "*" for all. */
  languages: string[];
  /** The Hugging Face Hub (or a mirror) for downloads; empty: HF_ENDPOINT, else huggingface.co. */
  hubEndpoint: string;
  /** GPU memory for the catalog's fit check; 0: the system memory for a CPU adapter, else 4 GiB assumed. */
  gpuMemoryGiB: number;
  /** Where the engine runs: the webview when it has WebGPU, else the language server ('auto'), or always one. */
  engineHost: EngineHostSetting;
  /** Workspace context (src/extension/context.ts): globs of files never sent as context (pie.context.exclude), on top
   *  of files.exclude; the budget itself is engine.contextTokens (pie.context.tokens, 0: off). */
  contextExclude: string[];
  engine: EngineSettings;
}

export function readConfig(): Config {
  const c = vscode.workspace.getConfiguration('pie');
  const modelPath = c.get('modelPath', '');
  return {
    enabled: c.get('enabled', true),
    modelPath,
    maxTokens: c.get('maxTokens', 32),
    maxLines: c.get('maxLines', 4),
    debounceMs: c.get('debounceMs', 0),
    maxPredictMs: c.get('maxPredictMs', 40),
    languages: c.get('languages', ['*']),
    hubEndpoint: c.get('hubEndpoint', '').trim(),
    gpuMemoryGiB: c.get('gpuMemoryGiB', 0),
    engineHost: c.get<EngineHostSetting>('engineHost', 'auto'),
    contextExclude: c.get<string[]>('context.exclude', []).filter((g) => typeof g === 'string' && g.trim() !== ''),
    engine: {
      cacheBudgetMiB: c.get('cacheBudgetMiB', 512),
      resyncThreshold: c.get('resyncThreshold', 256),
      idleMs: c.get('idleMs', 1500),
      refreshWindow: c.get('refreshWindow', 16),
      fim: fimFor(c.get<FimSetting>('fillInTheMiddle', 'auto'), modelPath || DEFAULT_MODEL),
      maxContext: c.get('maxContext', 4096),
      contextTokens: Math.max(0, Math.floor(c.get('context.tokens', 1024))),
    },
  };
}

export function languageEnabled(cfg: Config, languageId: string): boolean {
  return cfg.languages.includes('*') || cfg.languages.includes(languageId);
}
