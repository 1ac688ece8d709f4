// Packs the extension (after `npm run build`): `npm run package` makes the package for this machine's platform,
// `npm run package -- --target all` one per platform plus a universal one; `--target T` one (vsce's target names).
//
// A platform package carries the language server's WebGPU (Dawn's dawn.node for that platform, about 12-22 MB) in
// dist/webgpu/, copied from the `webgpu` package; the universal package has none and runs the engine in the webview
// only (pie.engineHost falls back to nothing and says so). Prints each package's path and size.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const webgpu = join(root, 'node_modules', 'webgpu');
const staged = join(root, 'dist', 'webgpu');
/** vsce target -> the webgpu package's folder of binaries. */
const TARGETS = {
  'linux-x64': 'linux-x64',
  'linux-arm64': 'linux-arm64',
  'darwin-arm64': 'darwin-universal',
  'darwin-x64': 'darwin-universal',
  'win32-x64': 'win32-x64',
  'win32-arm64': 'win32-arm64',
};

const arg = process.argv.indexOf('--target');
const want = arg > 0 ? process.argv[arg + 1] : `${process.platform}-${process.arch}`;
const targets = want === 'all' ? [...Object.keys(TARGETS), 'universal'] : [want];
const { version } = JSON.parse(spawnSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: root, encoding: 'utf8' }).stdout);

/** dist/webgpu: the package's loader and one platform's binaries (nothing for the universal package). */
function stage(target) {
  rmSync(staged, { recursive: true, force: true });
  if (target === 'universal') return;
  const bin = TARGETS[target];
  if (!bin) throw new Error(`no WebGPU binary for target ${target} (known: ${Object.keys(TARGETS).join(', ')}, all, universal)`);
  mkdirSync(join(staged, 'dist'), { recursive: true });
  for (const f of ['index.js', 'package.json', 'LICENSE.md']) cpSync(join(webgpu, f), join(staged, f));
  cpSync(join(webgpu, 'dist', bin), join(staged, 'dist', bin), { recursive: true });
}

for (const target of targets) {
  stage(target);
  const out = join(root, target === 'universal' ? `pie-complete-${version}.vsix` : `pie-complete-${target}-${version}.vsix`);
  const vsce = join(root, 'node_modules', '.bin', 'vsce');
  // --no-rewrite-relative-links: the README's relative links and screenshot stay as they are (the package names no
  // repository to rewrite them against; vsce refuses a relative image otherwise)
  const args = ['package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', out, ...(target === 'universal' ? [] : ['--target', target])];
  const r = spawnSync(vsce, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
  if (!existsSync(out)) throw new Error(`vsce did not write ${out}`);
  console.log(`${target}: ${(statSync(out).size / 1e6).toFixed(1)} MB`);
}
// the working tree keeps this machine's binary (the webview-only universal package leaves none)
if (want === 'all') stage(`${process.platform}-${process.arch}` in TARGETS ? `${process.platform}-${process.arch}` : 'universal');
