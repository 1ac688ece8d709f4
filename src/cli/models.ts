// Known public models: where the project finds them (../shared/fixtures beside a checkout), or downloads them once
// into .cache/models with their sha256 checked.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface KnownModel {
  file: string;
  /** Path under ../shared/fixtures. */
  fixture: string;
  url: string;
  sha256: string;
}

export const KNOWN_MODELS: Record<string, KnownModel> = {
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

export const DEFAULT_MODEL = 'stories260K.gguf';

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

/** A local path for a known model: the shared fixture, else the cached download, else downloads it (sha256 checked). */
export async function resolveKnownModel(name: string, log: (s: string) => void = () => {}): Promise<string> {
  const m = KNOWN_MODELS[name];
  if (!m) throw new Error(`unknown model ${name} (known: ${Object.keys(KNOWN_MODELS).join(', ')})`);
  const shared = join(sharedFixtures(), m.fixture);
  if (existsSync(shared)) return shared;
  const cached = join(projectRoot(), '.cache', 'models', m.file);
  if (existsSync(cached) && sha256(await readFile(cached)) === m.sha256) return cached;
  log(`downloading ${m.url}`);
  const res = await fetch(m.url);
  if (!res.ok) throw new Error(`download of ${m.url} failed: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const got = sha256(bytes);
  if (got !== m.sha256) throw new Error(`download of ${m.url}: sha256 ${got} does not match the expected ${m.sha256}`);
  await mkdir(dirname(cached), { recursive: true });
  await writeFile(`${cached}.part`, bytes);
  await rename(`${cached}.part`, cached);
  return cached;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
