// Three bundles: the CLI (Node, ESM), the extension host (Node, CommonJS as VS Code loads it) and the webview
// (browser IIFE). `.wgsl` files are imported as text. `node esbuild.config.mjs --watch` rebuilds on change.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  logLevel: 'info',
  outdir: 'dist',
};

const builds = [
  {
    ...common,
    entryPoints: { cli: 'src/cli/main.ts' },
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Native or heavy packages stay outside the bundle and are resolved from node_modules at run time.
    external: ['webgpu', 'node-llama-cpp'],
    // CommonJS packages in the bundle (vscode-languageserver) require Node's built-ins: an ESM bundle needs a require
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as pieCreateRequire } from 'node:module';\nconst require = pieCreateRequire(import.meta.url);" },
  },
  {
    // the language server the extension starts (pie.engineHost): Dawn comes from dist/webgpu (scripts/stage-webgpu.mjs
    // copies the webgpu package there, with one platform's dawn.node), as a .vsix holds no node_modules
    ...common,
    entryPoints: { server: 'src/lsp/main.ts' },
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    banner: { js: "import { createRequire as pieCreateRequire } from 'node:module';\nconst require = pieCreateRequire(import.meta.url);" },
    plugins: [{ name: 'webgpu-beside', setup: (b) => b.onResolve({ filter: /^webgpu$/ }, () => ({ path: './webgpu/index.js', external: true })) }],
  },
  {
    ...common,
    entryPoints: { extension: 'src/extension/extension.ts' },
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outExtension: { '.js': '.cjs' },
    external: ['vscode'],
  },
  {
    ...common,
    entryPoints: { webview: 'src/webview/main.ts' },
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
  },
];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
