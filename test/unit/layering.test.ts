// The direction of imports (DESIGN.md "the house"): what may import what, checked on every source file, so a type
// that lives in the wrong place (a shared type inside one host, a format's id inside the reader) is caught when it is
// imported the wrong way.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/cli/models.js';

const src = join(projectRoot(), 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every import of a file: a package name, or a path relative to src/ ('engine/model/gguf.ts'). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) {
    const spec = (m[1] ?? m[2])!;
    out.push(spec.startsWith('.') ? relative(src, resolve(dirname(file), spec)).replace(/\\/g, '/').replace(/\.js$/, '.ts') : spec);
  }
  return out;
}

/** [files under this folder of src/, may not import what matches, why] */
const RULES: [string, RegExp, string][] = [
  ['engine/', /^(vscode|extension\/|webview\/|lsp\/|cli\/)/, 'the engine knows no host'],
  ['engine/formats/', /^engine\/(model|kernels)\//, 'a tensor format knows neither the model nor the kernels that use it'],
  ['engine/kernels/', /^engine\/model\//, 'a kernel knows no model'],
  ['engine/gpu/', /^engine\/(model|kernels)\//, 'the device layer knows no kernel or model'],
  ['protocol/', /^(vscode|engine\/|extension\/|webview\/|lsp\/|cli\/)/, 'the protocol is imported by every host and imports none'],
  ['context/', /^(vscode|engine\/|extension\/|webview\/|lsp\/|cli\/)/, 'workspace context is shared by every host'],
  ['models/', /^(vscode|engine\/|extension\/|webview\/|lsp\/)/, 'the catalog is shared by every host'],
  ['extension/', /^engine\//, 'the extension host never touches tensors'],
];

test('imports run one way: each folder imports nothing its rule forbids', () => {
  const bad: string[] = [];
  for (const f of files(src)) {
    const rel = relative(src, f).replace(/\\/g, '/');
    for (const [folder, forbidden, why] of RULES) {
      if (!rel.startsWith(folder)) continue;
      for (const i of importsOf(f)) if (forbidden.test(i)) bad.push(`${rel} imports ${i}: ${why}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('only src/extension imports vscode', () => {
  const bad = files(src)
    .filter((f) => !relative(src, f).startsWith('extension'))
    .filter((f) => importsOf(f).some((i) => i === 'vscode' || i.startsWith('vscode-languageclient')))
    .map((f) => relative(src, f));
  assert.deepEqual(bad, []);
});
