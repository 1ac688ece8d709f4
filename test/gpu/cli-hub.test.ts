// `pie pull`, `pie models` and `--model hf:...` in the built CLI, against a Hub-shaped HTTP server on 127.0.0.1
// (HF_ENDPOINT) serving a random-weight Qwen2-family GGUF, with the cache in a temporary HF_HUB_CACHE.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { projectRoot } from '../../src/cli/models.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';
import { HubServer } from '../helpers/hub-server.js';
import { Q8_0, randomModel } from '../helpers/random-model.js';

const cli = join(projectRoot(), 'dist', 'cli.js');
const REPO = 'pie-test/Qwen2.5-Coder-Tiny-GGUF';
const FILE = 'qwen2.5-coder-tiny-q8_0.gguf';
const VOCAB = 'vocab/ggml-vocab-qwen2.gguf';

let hub: HubServer | null = null;
let dir = '';
let local = '';

before(async () => {
  const vocab = fixture(VOCAB);
  if (!vocab) return;
  const bytes = randomModel({ arch: 'qwen2', vocab, nLayers: 2, dim: 128, nHeads: 2, nKvHeads: 1, ffnDim: 256, contextLength: 1024, ropeBase: 1e6, tied: true, formats: Q8_0, seed: 7 });
  dir = await mkdtemp(join(tmpdir(), 'pie-cli-hub-'));
  local = join(dir, 'direct.gguf');
  await writeFile(local, bytes);
  hub = await HubServer.start({ [REPO]: { files: { [FILE]: bytes } } });
});
after(() => hub?.close());

/** Runs the CLI without blocking this process (the Hub server answers from it). */
function pie(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, HF_ENDPOINT: hub!.url, HF_HUB_CACHE: join(dir, 'hub'), HF_TOKEN: '', ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lastJson = (s: string) => JSON.parse(s.trim().split('\n').at(-1)!) as Record<string, unknown>;

function needsVocab(t: { skip(msg: string): void }): boolean {
  if (hub) return true;
  skipOrFail(t, `missing fixture ../shared/fixtures/${VOCAB}`);
  return false;
}

test('pie pull ORG/NAME:QUANT downloads into the cache with progress; pie generate --model hf:... then runs it offline, as the same file read directly', async (t) => {
  if (!needsVocab(t)) return;
  const pulled = await pie(['pull', `${REPO}:Q8_0`, '--json']);
  assert.equal(pulled.code, 0, pulled.stderr);
  const out = lastJson(pulled.stdout);
  assert.equal(out.cached, false);
  assert.equal(out.ref, `hf:${REPO}/${FILE}`);
  assert.equal(out.path, join(dir, 'hub', 'models--pie-test--Qwen2.5-Coder-Tiny-GGUF', 'snapshots', hub!.commitOf(REPO), FILE));
  assert.match(pulled.stderr, /100%/, 'a progress line');
  const again = lastJson((await pie(['pull', `${REPO}/${FILE}`, '--json'])).stdout);
  assert.equal(again.cached, true);

  const requests = hub!.log.length;
  const args = ['--prompt', 'def add(a, b):', '--max-tokens', '6', '--json'];
  const viaHub = await pie(['generate', '--model', `hf:${REPO}/${FILE}`, ...args], { HF_HUB_OFFLINE: '1' });
  assert.equal(viaHub.code, 0, viaHub.stderr);
  assert.equal(hub!.log.length, requests, 'offline: the cache only');
  const direct = await pie(['generate', '--model', local, ...args]);
  assert.deepEqual(lastJson(viaHub.stdout).tokens, lastJson(direct.stdout).tokens);
  assert.equal((lastJson(viaHub.stdout).tokens as number[]).length, 6);

  const listed = lastJson((await pie(['models', '--json'])).stdout) as { cacheDir: string; models: { ref: string; path: string | null; bytes: number }[] };
  assert.equal(listed.cacheDir, join(dir, 'hub'));
  const row = listed.models.find((m) => m.ref === `hf:${REPO}/${FILE}`);
  assert.equal(row?.path, out.path);
  assert.ok(listed.models.some((m) => m.ref.startsWith('hf:ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF/') && m.path === null), 'the catalog, not downloaded');
});

test('pie pull of a missing repository: exit 1 and the 404 explained, no stack trace; offline and missing: named', async (t) => {
  if (!needsVocab(t)) return;
  const r = await pie(['pull', 'pie-test/absent-GGUF/x.gguf']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^pie: hf:pie-test\/absent-GGUF\/x\.gguf: not found on the Hub at http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const off = await pie(['generate', '--model', 'hf:pie-test/absent-GGUF/x.gguf', '--prompt', 'x'], { HF_HUB_OFFLINE: '1' });
  assert.equal(off.code, 1);
  assert.match(off.stderr, /is not in the Hugging Face cache at .*, and HF_HUB_OFFLINE is set/);
});
