// The defaults of the user's settings (package.json's contributes.configuration, `pie.*`), written once: the extension
// reads every setting with its default from here, the engine and the language server take theirs from here, and
// test/unit/settings.test.ts checks that package.json declares exactly these defaults. Plain data, importable by every
// host.

export const SETTING_DEFAULTS = {
  enabled: true,
  modelPath: '',
  engineHost: 'auto' as 'auto' | 'webview' | 'node',
  hubEndpoint: '',
  gpuMemoryGiB: 0,
  maxTokens: 32,
  maxLines: 4,
  debounceMs: 0,
  maxPredictMs: 40,
  languages: ['*'] as string[],
  resyncThreshold: 256,
  idleMs: 1500,
  fillInTheMiddle: 'auto' as 'auto' | 'on' | 'off' | 'psm' | 'spm',
  refreshWindow: 16,
  maxContext: 4096,
  cacheBudgetMiB: 512,
  'context.tokens': 1024,
  'context.exclude': [] as string[],
} as const;

export type SettingKey = keyof typeof SETTING_DEFAULTS;

/** How completions see the text after the cursor: fill-in-the-middle prompts in prefix-suffix-middle or
 *  suffix-prefix-middle order, or left to right ('off'). The layouts: src/engine/session.ts. */
export type FimMode = 'psm' | 'spm' | 'off';
export const FIM_MODES: readonly FimMode[] = ['psm', 'spm', 'off'];
