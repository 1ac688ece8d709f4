// The extension's settings (contributes.configuration in package.json), read in one place, each with its default from
// src/protocol/settings.ts (which package.json must agree with: test/unit/settings.test.ts).
import * as vscode from 'vscode';
import { DEFAULT_MODEL, fimFor, type FimSetting } from '../models/known.js';
import type { EngineSettings } from '../protocol/messages.js';
import { SETTING_DEFAULTS, type SettingKey } from '../protocol/settings.js';
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
  const get = <K extends SettingKey>(key: K): (typeof SETTING_DEFAULTS)[K] => c.get(key, SETTING_DEFAULTS[key]);
  const modelPath = get('modelPath');
  return {
    enabled: get('enabled'),
    modelPath,
    maxTokens: get('maxTokens'),
    maxLines: get('maxLines'),
    debounceMs: get('debounceMs'),
    maxPredictMs: get('maxPredictMs'),
    languages: [...get('languages')],
    hubEndpoint: get('hubEndpoint').trim(),
    gpuMemoryGiB: get('gpuMemoryGiB'),
    engineHost: get('engineHost'),
    contextExclude: get('context.exclude').filter((g) => typeof g === 'string' && g.trim() !== ''),
    engine: {
      cacheBudgetMiB: get('cacheBudgetMiB'),
      resyncThreshold: get('resyncThreshold'),
      idleMs: get('idleMs'),
      refreshWindow: get('refreshWindow'),
      fim: fimFor(get('fillInTheMiddle') as FimSetting, modelPath || DEFAULT_MODEL),
      maxContext: get('maxContext'),
      contextTokens: Math.max(0, Math.floor(get('context.tokens'))),
    },
  };
}

export function languageEnabled(cfg: Config, languageId: string): boolean {
  return cfg.languages.includes('*') || cfg.languages.includes(languageId);
}
