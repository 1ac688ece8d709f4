// `pie pull`, `pie models` and `--model hf:...` in the built CLI, against a Hub-shaped HTTP server on 127.0.0.1
// (HF_ENDPOINT) serving a random-weight Qwen2-family GGUF, with the cache in a temporary HF_HUB_CACHE; and two `pie pull`
// processes downloading one file at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
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
const BIG_REPO = 'pie-test/Big-GGUF';
const BIG = new Uint8Array(randomBytes(12 << 20));

let hub: HubServer | null = null;
let hasVocab = false;
let dir = '';
let local = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pie-cli-hub-'));
  const repos: Parameters<typeof HubServer.start>[0] = { [BIG_REPO]: { files: { 'big-Q8_0.gguf': BIG } } };
  const vocab = fixture(VOCAB);
  if (vocab) {
    const bytes = randomModel({ arch: 'qwen2', vocab, nLayers: 2, dim: 128, nHeads: 2, nKvHeads: 1, ffnDim: 256, contextLength: 1024, ropeBase: 1e6, tied: true, formats: Q8_0, seed: 7 });
    local = join(dir, 'direct.gguf');
    await writeFile(local, bytes);
    repos[REPO] = { files: { [FILE]: bytes } };
    hasVocab = true;
  }
  hub = await HubServer.start(repos);
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
  if (hasVocab) return true;
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

test('two pie pull processes of one file at once: one transfer of the bytes, the second waits for the lock, both print the verified path', async () => {
  hub!.faults = { bytesPerSecond: 4 << 20 }; // 3 s for the 12 MiB: the second process starts while the first downloads
  const env = { HF_HUB_CACHE: join(dir, 'hub-two') };
  const runs = await Promise.all([0, 1].map(() => pie(['pull', `${BIG_REPO}/big-Q8_0.gguf`, '--json'], env)));
  hub!.faults = {};
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const paths = runs.map((r) => lastJson(r.stdout).path as string);
  assert.equal(paths[0], paths[1]);
  const sha = HubServer.sha256(BIG);
  assert.equal(createHash('sha256').update(await readFile(paths[0]!)).digest('hex'), sha);
  const transfers = hub!.log.filter((l) => l.path === `/cdn/${sha}` && l.range !== 'bytes=0-0');
  assert.equal(transfers.length, 1, JSON.stringify(transfers));
  assert.equal(transfers[0]!.bytes, BIG.byteLength, 'each byte sent once');
  const lock = join(dir, 'hub-two', '.locks', 'models--pie-test--Big-GGUF', `${sha}.lock`);
  const waited = runs.filter((r) => r.stderr.includes(`waiting for another download of hf:${BIG_REPO}/big-Q8_0.gguf: ${lock} is held by pid `));
  assert.equal(waited.length, 1, runs.map((r) => r.stderr).join('\n---\n'));
  assert.equal(existsSync(lock), false, 'the lock is deleted');
});
