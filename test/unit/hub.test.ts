// Downloads from the Hub, against a real HTTP server on 127.0.0.1 that serves the Hub's URL layout
// (test/helpers/hub-server.ts): the cache layout, resuming, checksums, errors, offline mode, the environment.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { readGGUF } from '../../src/engine/model/gguf.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { download, HubError, type HubOptions, hubOptionsFromEnv, parseModelRef, repoFolder, resolveModel, scanCache } from '../../src/models/hub.js';
import { HubServer } from '../helpers/hub-server.js';

const MODEL = new Uint8Array(await readFile(new URL('../../models/pie-code-tiny.gguf', import.meta.url)));
const BIG = new Uint8Array(randomBytes(6 << 20)); // 6 MiB: enough to be cut halfway
const SMALL = new Uint8Array(randomBytes(300_000));

let hub: HubServer;
let cacheDir: string;
let opts: HubOptions;

before(async () => {
  hub = await HubServer.start({
    'pie-test/tiny-GGUF': { files: { 'pie-code-tiny-F16.gguf': MODEL, 'other-Q8_0.gguf': SMALL, 'nested/dir/x-Q4_K_M.gguf': SMALL, 'README.md': new TextEncoder().encode('# card') } },
    'pie-test/big-GGUF': { files: { 'big.gguf': BIG } },
    'pie-test/gated-GGUF': { files: { 'gated-Q8_0.gguf': SMALL }, token: 'hf_secret_test_token' },
    'pie-test/huge-GGUF': { files: { 'huge.gguf': SMALL }, claimedSizes: { 'huge.gguf': 9e15 } },
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
    assert.deepEqual(await hubOptionsFromEnv({ HF_HOME: home }), { endpoint: 'https://huggingface.co', cacheDir: join(home, 'hub'), token: 'hf_from_file', offline: false });
    const o = await hubOptionsFromEnv({ HF_HOME: home, HF_HUB_CACHE: '/c', HF_TOKEN: 'hf_env', HF_ENDPOINT: 'http://mirror.local/', HF_HUB_OFFLINE: 'ON' });
    assert.deepEqual(o, { endpoint: 'http://mirror.local', cacheDir: '/c', token: 'hf_env', offline: true });
    assert.equal((await hubOptionsFromEnv({ XDG_CACHE_HOME: '/x', HF_TOKEN_PATH: join(home, 'none') })).cacheDir, '/x/huggingface/hub');
    assert.equal((await hubOptionsFromEnv({ HF_HUB_OFFLINE: '0', HF_HOME: home })).offline, false);
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
