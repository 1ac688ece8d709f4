// Known public models: where the project finds them (../shared/fixtures beside a checkout), or downloads them once
// into .cache/models with their sha256 checked.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchVerified, KNOWN_MODELS, sha256 } from '../models/known.js';

export { DEFAULT_MODEL, FIM_SETTINGS, fimFor, type FimSetting, KNOWN_MODELS, type KnownModel } from '../models/known.js';

/** The project root: the folder holding package.json, seen from dist/ or from src/cli/. */
export function projectRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  return process.cwd();
}

export function sharedFixtures(): string {
  return process.env.PIE_SHARED_FIXTURES ?? resolve(projectRoot(), '..', 'shared', 'fixtures');
}

/** A local path for a known model: the bundled file (models/ in the repository), else the shared fixture, else the
 *  cached download, else downloads it (sha256 checked). */
export async function resolveKnownModel(name: string, log: (s: string) => void = () => {}): Promise<string> {
  const m = KNOWN_MODELS[name];
  if (!m) throw new Error(`unknown model ${name} (known: ${Object.keys(KNOWN_MODELS).join(', ')})`);
  if (m.bundled) {
    const bundled = join(projectRoot(), m.bundled);
    if (existsSync(bundled)) return bundled;
    if (!m.url) throw new Error(`${name} ships as ${m.bundled}, which is missing from ${projectRoot()}`);
  }
  if (m.fixture) {
    const shared = join(sharedFixtures(), m.fixture);
    if (existsSync(shared)) return shared;
  }
  const cached = join(projectRoot(), '.cache', 'models', m.file);
  if (existsSync(cached) && sha256(await readFile(cached)) === m.sha256) return cached;
  log(`downloading ${m.url}`);
  await fetchVerified(m, cached);
  return cached;
}

