// Downloads from the Hub, against a real HTTP server on 127.0.0.1 that serves the Hub's URL layout
// (test/helpers/hub-server.ts): the cache layout, resuming, checksums (sha256 and git sha1), the download lock shared
// with huggingface_hub, stalls, errors, offline mode, the environment.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { readGGUF } from '../../src/engine/model/gguf.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { download, HubError, type HubOptions, hubOptionsFromEnv, lockPath, parseModelRef, repoFolder, resolveModel, scanCache } from '../../src/models/hub.js';
import { gitBlobSha1, HubServer } from '../helpers/hub-server.js';
import { skipOrFail } from '../helpers/fixtures.js';

const MODEL = new Uint8Array(await readFile(new URL('../../models/pie-code-tiny.gguf', import.meta.url)));
const BIG = new Uint8Array(randomBytes(6 << 20)); // 6 MiB: enough to be cut halfway
const SMALL = new Uint8Array(randomBytes(300_000));
// a file kept in git, not LFS, as config.json is on the Hub (bigger than one 64 KiB piece of the server)
const CONFIG = new TextEncoder().encode(JSON.stringify({ architectures: ['Qwen2ForCausalLM'], pad: 'x'.repeat(200_000) }));

let hub: HubServer;
let cacheDir: string;
let opts: HubOptions;

before(async () => {
  hub = await HubServer.start({
    'pie-test/tiny-GGUF': { files: { 'pie-code-tiny-F16.gguf': MODEL, 'other-Q8_0.gguf': SMALL, 'nested/dir/x-Q4_K_M.gguf': SMALL, 'README.md': new TextEncoder().encode('# card') } },
    'pie-test/big-GGUF': { files: { 'big.gguf': BIG } },
    'pie-test/gated-GGUF': { files: { 'gated-Q8_0.gguf': SMALL }, token: 'hf_secret_test_token' },
    'pie-test/huge-GGUF': { files: { 'huge.gguf': SMALL }, claimedSizes: { 'huge.gguf': 9e15 } },
    'pie-test/config': { files: { 'config.json': CONFIG, 'model.gguf': SMALL }, inGit: ['config.json'] },
  });
});
after(() => hub.close());
beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'pie-hub-'));
  opts = { endpoint: hub.url, cacheDir, offline: false };
  hub.faults = {};
  hub.log.length = 0;
});

/** An address where nothing listens (a port that was just closed). */
async function closedEndpoint(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

const cdnRequests = () => hub.log.filter((l) => l.path.startsWith('/cdn/') && l.range !== 'bytes=0-0');

/** Runs f with exactly these Hugging Face variables in process.env (the others unset), then restores them. */
async function withEnv<T>(vars: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const keys = ['HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'XDG_CACHE_HOME', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT', 'HF_HUB_OFFLINE'];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  for (const k of keys) delete process.env[k];
  Object.assign(process.env, vars);
  try {
    return await f();
  } finally {
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

const BIG_REF = { repo: 'pie-test/big-GGUF', file: 'big.gguf' };
const bigLock = () => lockPath(cacheDir, BIG_REF.repo, HubServer.sha256(BIG));
const bigPartial = () => join(repoFolder(cacheDir, BIG_REF.repo), 'blobs', `${HubServer.sha256(BIG)}.incomplete`);
const sha256File = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

/** A pid that was just in use and is not any more. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  assert.ok(p.pid);
  return p.pid;
}

/** A process that stays alive until killed (a live pid that is not this process). */
function livePid(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}

async function writeLock(path: string, body: object | string, ageMs = 0): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, typeof body === 'string' ? body : JSON.stringify(body));
  if (ageMs) await utimes(path, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
}

async function rejects(p: Promise<unknown>, kind: string, text: RegExp): Promise<HubError> {
  const e = await p.then(
    () => assert.fail('expected a failure'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof HubError, `a HubError, got ${String(e)}`);
  assert.equal(e.kind, kind, e.message);
  assert.match(e.message, text);
  return e;
}

describe('references and the environment', () => {
  test('hf:ORG/NAME/FILE, ORG/NAME:QUANT, ORG/NAME (Q4_K_M, as llama.cpp -hf)', () => {
    assert.deepEqual(parseModelRef('hf:ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF/qwen2.5-coder-1.5b-q8_0.gguf'), { repo: 'ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF', file: 'qwen2.5-coder-1.5b-q8_0.gguf', quant: undefined, revision: 'main' });
    assert.deepEqual(parseModelRef('bartowski/starcoder2-3b-GGUF:Q6_K'), { repo: 'bartowski/starcoder2-3b-GGUF', file: undefined, quant: 'Q6_K', revision: 'main' });
    assert.equal(parseModelRef('hf:a/b').quant, 'Q4_K_M');
    assert.equal(parseModelRef('hf:a/b/sub/dir/m.gguf').file, 'sub/dir/m.gguf');
    assert.throws(() => parseModelRef('hf:justaname'), /not a Hub model reference/);
    assert.throws(() => parseModelRef('hf:a/b/../../etc/passwd'), /cannot contain/);
  });

  test('HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HF_TOKEN and its file, HF_ENDPOINT, HF_HUB_OFFLINE as huggingface_hub reads them', async () => {
    const home = await mkdtemp(join(tmpdir(), 'pie-hfhome-'));
    await writeFile(join(home, 'token'), 'hf_from_file\n');
    assert.deepEqual(await withEnv({ HF_HOME: home }, hubOptionsFromEnv), { endpoint: 'https://huggingface.co', cacheDir: join(home, 'hub'), token: 'hf_from_file', offline: false });
    const o = await withEnv({ HF_HOME: home, HF_HUB_CACHE: '/c', HF_TOKEN: 'hf_env', HF_ENDPOINT: 'http://mirror.local/', HF_HUB_OFFLINE: 'ON' }, hubOptionsFromEnv);
    assert.deepEqual(o, { endpoint: 'http://mirror.local', cacheDir: '/c', token: 'hf_env', offline: true });
    assert.equal((await withEnv({ XDG_CACHE_HOME: '/x', HF_TOKEN_PATH: join(home, 'none') }, hubOptionsFromEnv)).cacheDir, '/x/huggingface/hub');
    assert.equal((await withEnv({ HUGGINGFACE_HUB_CACHE: '/old', HF_HOME: home }, hubOptionsFromEnv)).cacheDir, '/old');
    assert.equal((await withEnv({ HF_HUB_OFFLINE: '0', HF_HOME: home }, hubOptionsFromEnv)).offline, false);
    await rm(home, { recursive: true });
  });
});

describe('downloads', () => {
  test('a download lands in the Hugging Face cache layout, loads as a GGUF, and is then found without the network', async () => {
    const seen: number[] = [];
    const r = await resolveModel('hf:pie-test/tiny-GGUF/pie-code-tiny-F16.gguf', opts, { onProgress: (p) => seen.push(p.bytes) });
    const folder = repoFolder(cacheDir, 'pie-test/tiny-GGUF');
    const commit = hub.commitOf('pie-test/tiny-GGUF');
    const sha = HubServer.sha256(MODEL);
    assert.equal(r.cached, false);
    assert.equal(r.path, join(folder, 'snapshots', commit, 'pie-code-tiny-F16.gguf'));
    assert.equal(await readlink(r.path), join('..', '..', 'blobs', sha), 'a relative symlink to the blob, as huggingface_hub makes it');
    assert.deepEqual(new Uint8Array(await readFile(join(folder, 'blobs', sha))), MODEL);
    assert.equal((await readFile(join(folder, 'refs', 'main'), 'utf8')).trim(), commit);
    assert.deepEqual(await readdir(join(folder, 'blobs')), [sha], 'no .incomplete file is left');
    assert.equal(seen.at(-1), MODEL.byteLength);
    const src = await fileSource(r.path);
    try {
      const g = await readGGUF(src);
      assert.equal(g.metadata.get('general.architecture'), 'llama');
    } finally {
      await src.close();
    }
    const requests = hub.log.length;
    const again = await resolveModel('hf:pie-test/tiny-GGUF/pie-code-tiny-F16.gguf', opts);
    assert.equal(again.cached, true);
    assert.equal(again.path, r.path);
    assert.equal(hub.log.length, requests, 'the cache answers before the Hub is asked');
  });

  test('a connection dropped halfway is resumed with a Range request and the result verifies', async () => {
    hub.faults = { dropAfterBytes: BIG.byteLength / 2, dropTimes: 1 };
    const logs: string[] = [];
    const path = await download(opts, { repo: 'pie-test/big-GGUF', file: 'big.gguf' }, { log: (s) => logs.push(s) });
    assert.deepEqual(new Uint8Array(await readFile(path)), BIG);
    const gets = cdnRequests();
    assert.equal(gets.length, 2, JSON.stringify(gets));
    assert.equal(gets[0]!.range, null);
    const resumedAt = Number(/^bytes=(\d+)-/.exec(gets[1]!.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= BIG.byteLength / 2, `resumed at ${gets[1]!.range}`);
    assert.equal(gets[1]!.status, 206);
    assert.ok(logs.some((l) => /connection broke/.test(l)), logs.join('\n'));
  });

  test('a cancelled download keeps its bytes and the next one resumes where it stopped', async () => {
    hub.faults = { bytesPerSecond: 8 << 20 };
    const ac = new AbortController();
    const first = download(opts, { repo: 'pie-test/big-GGUF', file: 'big.gguf' }, { signal: ac.signal, onProgress: (p) => p.bytes > BIG.byteLength / 3 && ac.abort() });
    await rejects(first, 'cancelled', /cancelled at \d+ of 6291456 bytes; the next download of it resumes there/);
    const partial = join(repoFolder(cacheDir, 'pie-test/big-GGUF'), 'blobs', `${HubServer.sha256(BIG)}.incomplete`);
    const kept = (await stat(partial)).size;
    assert.ok(kept > BIG.byteLength / 3 && kept < BIG.byteLength, `kept ${kept}`);
    hub.faults = {};
    let resumedFrom = -1;
    const path = await download(opts, { repo: 'pie-test/big-GGUF', file: 'big.gguf' }, { onProgress: (p) => (resumedFrom = p.resumedFrom) });
    assert.equal(resumedFrom, kept);
    assert.equal(cdnRequests().at(-1)!.range, `bytes=${kept}-${BIG.byteLength - 1}`);
    assert.deepEqual(new Uint8Array(await readFile(path)), BIG);
  });

  test('a server that ignores Range: the download starts over instead of appending the whole file', async () => {
    hub.faults = { dropAfterBytes: 1 << 20, dropTimes: 1, ignoreRange: true };
    const path = await download(opts, { repo: 'pie-test/big-GGUF', file: 'big.gguf' });
    assert.deepEqual(new Uint8Array(await readFile(path)), BIG);
  });

  test('a corrupted file fails the sha256 check and nothing of it is kept', async () => {
    hub.faults = { corruptAt: 12345 };
    await rejects(download(opts, { repo: 'pie-test/big-GGUF', file: 'big.gguf' }), 'checksum', /sha256 is [0-9a-f]{64}, not the [0-9a-f]{64} the Hub lists, so it was deleted/);
    const folder = repoFolder(cacheDir, 'pie-test/big-GGUF');
    assert.deepEqual(await readdir(join(folder, 'blobs')), []);
    assert.equal(existsSync(join(folder, 'snapshots')), false);
    assert.equal(existsSync(join(folder, 'refs')), false);
  });

  test('404s: an unknown repository, an unknown file', async () => {
    await rejects(resolveModel('hf:pie-test/nope-GGUF/x.gguf', opts), 'not-found', /not found on the Hub at http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\)/);
    await rejects(resolveModel('hf:pie-test/tiny-GGUF/missing.gguf', opts), 'not-found', /has no file missing\.gguf/);
  });

  test('a gated repository: 401 says to set HF_TOKEN; a wrong token is named; the right one downloads', async () => {
    await rejects(resolveModel('hf:pie-test/gated-GGUF/gated-Q8_0.gguf', opts), 'unauthorized', /needs a token \(HTTP 401\).*set HF_TOKEN/);
    await rejects(resolveModel('hf:pie-test/gated-GGUF/gated-Q8_0.gguf', { ...opts, token: 'hf_wrong' }), 'unauthorized', /refused the token in HF_TOKEN/);
    const r = await resolveModel('hf:pie-test/gated-GGUF/gated-Q8_0.gguf', { ...opts, token: 'hf_secret_test_token' });
    assert.deepEqual(new Uint8Array(await readFile(r.path)), SMALL);
  });

  test('a file larger than the free disk space is refused before any byte is fetched', async () => {
    await rejects(download(opts, { repo: 'pie-test/huge-GGUF', file: 'huge.gguf' }), 'disk-space', /needs 9000000\.00 GB more on the disk of .* GB free.*HF_HUB_CACHE/);
    assert.equal(cdnRequests().length, 0);
  });

  test('an unreachable endpoint says so and names HF_HUB_OFFLINE', async () => {
    const endpoint = await closedEndpoint();
    await rejects(resolveModel('hf:pie-test/tiny-GGUF/other-Q8_0.gguf', { ...opts, endpoint }), 'network', /cannot reach the Hub at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*HF_HUB_OFFLINE=1/);
  });
});

describe('quantizations, offline mode and other tools\' caches', () => {
  test('ORG/NAME:QUANT picks the file with that quantization, in a folder too; a missing one lists the files', async () => {
    assert.equal((await resolveModel('hf:pie-test/tiny-GGUF:q8_0', opts)).file, 'other-Q8_0.gguf');
    assert.equal((await resolveModel('hf:pie-test/tiny-GGUF', opts)).file, 'nested/dir/x-Q4_K_M.gguf');
    await rejects(resolveModel('hf:pie-test/tiny-GGUF:Q6_K', opts), 'not-found', /has no Q6_K \.gguf file; its \.gguf files: pie-code-tiny-F16\.gguf, other-Q8_0\.gguf, nested\/dir\/x-Q4_K_M\.gguf/);
  });

  test('HF_HUB_OFFLINE: the cache answers with no request; a missing file is named with the cache', async () => {
    await resolveModel('hf:pie-test/tiny-GGUF:Q8_0', opts);
    const requests = hub.log.length;
    const off = { ...opts, offline: true };
    assert.equal((await resolveModel('hf:pie-test/tiny-GGUF/other-Q8_0.gguf', off)).cached, true);
    assert.equal((await resolveModel('hf:pie-test/tiny-GGUF:Q8_0', off)).file, 'other-Q8_0.gguf');
    assert.equal(hub.log.length, requests, 'offline: nothing is fetched');
    await rejects(resolveModel('hf:pie-test/tiny-GGUF/pie-code-tiny-F16.gguf', off), 'offline', new RegExp(`hf:pie-test/tiny-GGUF/pie-code-tiny-F16\\.gguf is not in the Hugging Face cache at ${cacheDir}, and HF_HUB_OFFLINE is set`));
    await rejects(resolveModel('hf:pie-test/tiny-GGUF:Q6_K', off), 'offline', /no Q6_K \.gguf file in the cache/);
    assert.equal(hub.log.length, requests);
  });

  test('a file another tool put in the cache (huggingface_hub layout) is used as it is, and listed', async () => {
    const folder = repoFolder(cacheDir, 'Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF');
    const commit = 'a'.repeat(40);
    await mkdir(join(folder, 'blobs'), { recursive: true });
    await mkdir(join(folder, 'snapshots', commit), { recursive: true });
    await mkdir(join(folder, 'refs'), { recursive: true });
    await writeFile(join(folder, 'blobs', HubServer.sha256(SMALL)), SMALL);
    await symlink(join('..', '..', 'blobs', HubServer.sha256(SMALL)), join(folder, 'snapshots', commit, 'qwen2.5-coder-0.5b-instruct-q8_0.gguf'));
    await writeFile(join(folder, 'refs', 'main'), commit);
    const endpoint = await closedEndpoint(); // nothing may be fetched
    const r = await resolveModel('hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/qwen2.5-coder-0.5b-instruct-q8_0.gguf', { ...opts, endpoint });
    assert.equal(r.cached, true);
    assert.equal((await resolveModel('hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q8_0', { ...opts, endpoint })).path, r.path);
    const listed = await scanCache(opts);
    assert.deepEqual(listed.map((m) => [m.repo, m.file, m.commit, m.bytes, m.refs]), [['Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF', 'qwen2.5-coder-0.5b-instruct-q8_0.gguf', commit, SMALL.byteLength, ['main']]]);
  });
});

describe('one writer per file: the lock in <cache>/.locks, as huggingface_hub takes it', () => {
  test('two downloads of one file at once: one transfer of the bytes, the second waits for the lock, both verified', async () => {
    hub.faults = { bytesPerSecond: 16 << 20 }; // about 0.4 s for the 6 MiB: the second starts while the first downloads
    const logs: string[][] = [[], []];
    const paths = await Promise.all([0, 1].map((i) => download(opts, BIG_REF, { log: (s) => logs[i]!.push(s) })));
    assert.equal(paths[0], paths[1]);
    assert.equal(await sha256File(paths[0]!), HubServer.sha256(BIG));
    const transfers = cdnRequests();
    assert.equal(transfers.length, 1, JSON.stringify(transfers));
    assert.equal(transfers[0]!.bytes, BIG.byteLength, 'each byte sent once');
    const waited = logs.flat().filter((l) => l.startsWith('waiting for another download of hf:pie-test/big-GGUF/big.gguf'));
    assert.equal(waited.length, 1, logs.flat().join('\n'));
    assert.ok(waited[0]!.includes(`${bigLock()} is held by pid ${process.pid} on ${hostname()}`), waited[0]);
    assert.equal(bigLock(), join(cacheDir, '.locks', 'models--pie-test--big-GGUF', `${HubServer.sha256(BIG)}.lock`));
    assert.equal(existsSync(bigLock()), false, 'the lock is deleted when the download ends');
  });

  test('the holder is cancelled: the waiter takes the lock and resumes from its .incomplete', async () => {
    hub.faults = { bytesPerSecond: 16 << 20 };
    const ac = new AbortController();
    const logs: string[] = [];
    let second: Promise<string> | undefined;
    const first = download(opts, BIG_REF, {
      signal: ac.signal,
      onProgress: (p) => {
        second ??= download(opts, BIG_REF, { log: (s) => logs.push(s) }); // once the first holds the lock
        if (p.bytes > BIG.byteLength / 3) ac.abort();
      },
    });
    await rejects(first, 'cancelled', /cancelled at/);
    assert.equal(await sha256File(await second!), HubServer.sha256(BIG));
    assert.ok(logs.some((l) => l.startsWith('waiting for another download')), logs.join('\n'));
    const resumed = logs.map((l) => /^resuming .* at (\d+) of/.exec(l)?.[1]).find(Boolean);
    assert.ok(Number(resumed) > BIG.byteLength / 3, logs.join('\n'));
    const gets = cdnRequests();
    assert.equal(gets.length, 2, JSON.stringify(gets));
    assert.equal(gets[1]!.range, `bytes=${resumed}-${BIG.byteLength - 1}`);
  });

  test('a stale lock is taken over: a pid that is not running, or no change for staleLockMs; a live one makes it wait, then fail naming the lock', async () => {
    // a lock of this machine whose process is gone (a crash)
    const dead = deadPid();
    await writeLock(bigLock(), { pid: dead, host: hostname(), token: 'old', tool: 'pie-complete' });
    const logs: string[] = [];
    await download(opts, BIG_REF, { lockTimeoutMs: 3000, log: (s) => logs.push(s) });
    assert.ok(logs.some((l) => l.includes(`took over the lock ${bigLock()} (pid ${dead} on ${hostname()}): pid ${dead} is not running`)), logs.join('\n'));
    assert.equal(existsSync(bigLock()), false);

    // a live process holds it: the download waits, then gives up with the lock named
    await rm(repoFolder(cacheDir, BIG_REF.repo), { recursive: true });
    hub.log.length = 0;
    const child = livePid();
    try {
      await writeLock(bigLock(), { pid: child.pid, host: hostname(), token: 'live', tool: 'pie-complete' });
      const t0 = Date.now();
      await rejects(download(opts, BIG_REF, { lockTimeoutMs: 1000 }), 'locked', new RegExp(`another download of this file holds the lock ${bigLock().replace(/[.]/g, '\\.')} \\(pid ${child.pid} on .*waited 1 s.*delete that lock file`));
      assert.ok(Date.now() - t0 < 3000);
      assert.equal(cdnRequests().length, 0, 'nothing was downloaded');
      // ... unless neither the lock nor the .incomplete changed for staleLockMs (a stopped process, another machine)
      await writeLock(bigLock(), { pid: child.pid, host: 'another-machine', token: 'far' }, 120_000);
      const aged: string[] = [];
      await download(opts, BIG_REF, { lockTimeoutMs: 3000, staleLockMs: 60_000, log: (s) => aged.push(s) });
      assert.ok(aged.some((l) => /took over the lock .* \(pid \d+ on another-machine\): neither it nor [0-9a-f]{64}\.incomplete changed in 12\d s/.test(l)), aged.join('\n'));
    } finally {
      child.kill();
    }
  });

  test('a holder whose lock was taken over stops writing, waits, and resumes', async () => {
    hub.faults = { bytesPerSecond: 8 << 20 };
    const child = livePid();
    const logs: string[] = [];
    let replaced = false;
    try {
      const path = await download(opts, BIG_REF, {
        log: (s) => logs.push(s),
        onProgress: (p) => {
          // another downloader (a live process) replaces the lock file, as a take-over or huggingface_hub would
          if (!replaced && !p.waitingFor && p.bytes > BIG.byteLength / 4) {
            replaced = true;
            void writeLock(bigLock(), { pid: child.pid, host: hostname(), token: 'theirs' }).then(() => setTimeout(() => child.kill(), 1000));
          }
        },
      });
      assert.equal(await sha256File(path), HubServer.sha256(BIG));
    } finally {
      child.kill();
    }
    const i = logs.findIndex((l) => l.startsWith(`another download took the lock ${bigLock()}`));
    assert.ok(i >= 0, logs.join('\n'));
    assert.match(logs.slice(i).join('\n'), /waiting for another download[^]*took over the lock .* is not running[^]*resuming hf:pie-test\/big-GGUF\/big\.gguf at \d+/);
  });

  test("huggingface_hub's lock (Linux, python3): a flock on the file makes us wait; the empty file it leaves behind is taken over", async (t) => {
    if (process.platform !== 'linux' || spawnSync('python3', ['-c', 'import fcntl'], { stdio: 'ignore' }).status !== 0) return skipOrFail(t, 'needs Linux and python3');
    // what filelock's UnixFileLock does: open(O_RDWR | O_CREAT | O_TRUNC), then flock(LOCK_EX | LOCK_NB)
    await mkdir(dirname(bigLock()), { recursive: true });
    const py = spawn('python3', ['-c', 'import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)\nfcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nprint("held", flush=True)\nsys.stdin.read()', bigLock()], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((r) => py.stdout!.once('data', () => r()));
    try {
      await rejects(download(opts, BIG_REF, { lockTimeoutMs: 1000 }), 'locked', new RegExp(`holds the lock .*\\(pid ${py.pid} \\(a flock, as huggingface_hub takes it\\)`));
    } finally {
      py.stdin!.end(); // the process exits: the flock goes, the empty file stays (as filelock before it deleted its files)
      await new Promise((r) => py.once('exit', r));
    }
    await utimes(bigLock(), new Date(Date.now() - 5000), new Date(Date.now() - 5000));
    const logs: string[] = [];
    const path = await download(opts, BIG_REF, { lockTimeoutMs: 3000, log: (s) => logs.push(s) });
    assert.equal(await sha256File(path), HubServer.sha256(BIG));
    assert.ok(logs.some((l) => l.includes('no process holds it')), logs.join('\n'));
  });
});

describe('stalls', () => {
  test('a server that stops sending mid-body: no data for the stall timeout fails the attempt, naming the host; the .incomplete is resumed', { timeout: 30_000 }, async () => {
    hub.faults = { stallAfterBytes: 1 << 20, stallTimes: 1 };
    const t0 = Date.now();
    await rejects(download(opts, BIG_REF, { stallTimeoutMs: 1000, retries: 0 }), 'network', new RegExp(`no data for 1 s from ${new URL(hub.url).host} \\(stopped at 1048576 of 6291456 bytes; the next download resumes there\\)`));
    assert.ok(Date.now() - t0 < 5000, `failed after ${Date.now() - t0} ms`);
    assert.equal((await stat(bigPartial())).size, 1 << 20, 'what arrived is kept');
    assert.equal(existsSync(bigLock()), false, 'the lock is released');
    // with retries (the default), a stall is resumed like a broken connection
    hub.faults = { stallAfterBytes: 1 << 20, stallTimes: 1 };
    const logs: string[] = [];
    const path = await download(opts, BIG_REF, { stallTimeoutMs: 1000, log: (s) => logs.push(s) });
    assert.equal(await sha256File(path), HubServer.sha256(BIG));
    assert.deepEqual(cdnRequests().map((r) => r.range), [null, `bytes=${1 << 20}-${BIG.byteLength - 1}`, `bytes=${2 << 20}-${BIG.byteLength - 1}`]);
    assert.ok(logs.some((l) => l.startsWith('no data for 1 s from 127.0.0.1')), logs.join('\n'));
  });
});

describe('a file kept in git (not LFS): checked by its git blob sha1', () => {
  test('config.json downloads into blobs/<git sha1>, verified; a corrupted body fails the sha1 check and is deleted', async () => {
    const sha1 = gitBlobSha1(CONFIG);
    const path = await download(opts, { repo: 'pie-test/config', file: 'config.json' });
    const folder = repoFolder(cacheDir, 'pie-test/config');
    assert.equal(await readlink(path), join('..', '..', 'blobs', sha1));
    assert.deepEqual(new Uint8Array(await readFile(path)), CONFIG);
    assert.ok(hub.log.some((l) => l.path === `/pie-test/config/resolve/${hub.commitOf('pie-test/config')}/config.json` && l.status === 200 && l.bytes === CONFIG.byteLength), 'served by the resolve URL itself, no CDN');
    await rm(folder, { recursive: true });
    hub.faults = { corruptAt: 100_000 };
    await rejects(download(opts, { repo: 'pie-test/config', file: 'config.json' }), 'checksum', new RegExp(`sha1 is [0-9a-f]{40}, not the ${sha1} the Hub lists, so it was deleted`));
    assert.deepEqual(await readdir(join(folder, 'blobs')), []);
  });
});

describe('the cache scan (ours, not @huggingface/hub scanCacheDir)', () => {
  test('lists files in snapshot folders, repositories without refs/, and snapshots beside a ref to a missing one; a missing cache is empty', async () => {
    const add = async (repo: string, file: string, opt: { refs?: string | null } = {}) => {
      const folder = repoFolder(cacheDir, repo);
      const commit = 'c'.repeat(40);
      await mkdir(join(folder, 'blobs'), { recursive: true });
      await writeFile(join(folder, 'blobs', HubServer.sha256(SMALL)), SMALL);
      const snap = join(folder, 'snapshots', commit, file);
      await mkdir(dirname(snap), { recursive: true });
      await symlink(join(...file.split('/').map(() => '..'), '..', 'blobs', HubServer.sha256(SMALL)), snap);
      if (opt.refs !== null) {
        await mkdir(join(folder, 'refs'), { recursive: true });
        await writeFile(join(folder, 'refs', 'main'), opt.refs ?? commit);
      }
    };
    await add('o/nested-GGUF', 'Q4_K_M/m-Q4_K_M.gguf'); // scanCacheDir skips files in subfolders
    await add('o/by-commit-GGUF', 'm-Q8_0.gguf', { refs: null }); // scanCacheDir drops a repository without refs/
    await add('o/moved-GGUF', 'm-Q8_0.gguf', { refs: 'd'.repeat(40) }); // ... and one whose ref names a missing snapshot
    const listed = (await scanCache(opts)).map((m) => [m.repo, m.file, m.bytes, m.refs]);
    assert.deepEqual(listed, [
      ['o/by-commit-GGUF', 'm-Q8_0.gguf', SMALL.byteLength, []],
      ['o/moved-GGUF', 'm-Q8_0.gguf', SMALL.byteLength, []],
      ['o/nested-GGUF', 'Q4_K_M/m-Q4_K_M.gguf', SMALL.byteLength, ['main']],
    ]);
    assert.equal((await resolveModel('hf:o/nested-GGUF:Q4_K_M', { ...opts, offline: true })).file, 'Q4_K_M/m-Q4_K_M.gguf');
    assert.deepEqual(await scanCache({ ...opts, cacheDir: join(cacheDir, 'absent') }), []);
  });
});
