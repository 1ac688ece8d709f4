// Types of export.mjs for the TypeScript tests.
export declare const ROOT: string;
export declare const EXPORTER: string;
export declare const PYTHON: string;
export declare class ExportUnavailable extends Error {}
export declare function exporterMissing(): string | null;
export declare function exportForTransformersJs(options?: { gguf?: string; out?: string; graph?: 'fused' | 'plain'; force?: boolean }): {
  dir: string;
  localModelPath: string;
  modelId: string;
};
