// Bundles the CLI (Node). Later targets (extension host, webview) are added here as they land.
import * as esbuild from 'esbuild';

const common = {
  bundle: true,
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  logLevel: 'info',
};

await esbuild.build({
  ...common,
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outExtension: { '.js': '.js' },
  // Native or heavy packages stay outside the bundle and are resolved from node_modules at run time.
  external: ['webgpu', 'node-llama-cpp'],
  banner: { js: '#!/usr/bin/env node' },
});
