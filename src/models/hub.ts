// Models from the Hugging Face Hub, for the Node hosts (the CLI and the extension host): `hf:` references, the shared
// Hugging Face cache, and verified, resumable downloads through the Hub's JS client (@huggingface/hub).
//
// The cache is the one the Python `huggingface_hub` and llama.cpp's `-hf` use, so a file any of them downloaded is
// found and reused, and ours is found by them:
//   <cache>/models--ORG--NAME/blobs/<etag>               the file's bytes, named by the Hub's LFS sha256 (git sha1 for a
//                                                         small file kept in git)
//   <cache>/models--ORG--NAME/snapshots/<commit>/<FILE>  a relative symlink to the blob (a copy where links fail)
//   <cache>/models--ORG--NAME/refs/<revision>            the commit the revision named when it was downloaded
//   <cache>/.locks/models--ORG--NAME/<etag>.lock         held while a download writes blobs/<etag>.incomplete
// A download takes the lock, goes to blobs/<etag>.incomplete, resumes from it with an HTTP Range request after a cancel,
// a broken connection or a stall, and becomes the blob only once its checksum equals the Hub's.
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { copyFile, link as hardLink, mkdir, open, readFile, readdir, rename, rm, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { downloadFile, getHFHubCachePath, getRepoFolderName, HubApiError, listFiles, modelInfo, pathsInfo } from '@huggingface/hub';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  /** HF_ENDPOINT (a mirror), else huggingface.co. */
  endpoint: string;
  /** HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
   *  ~/.cache/huggingface/hub (`getHFHubCachePath` of @huggingface/hub). */
  cacheDir: string;
  /** HF_TOKEN, else the token file `huggingface-cli login` writes (HF_TOKEN_PATH, else HF_HOME/token). */
  token?: string;
  /** HF_HUB_OFFLINE: only the cache is read; nothing is fetched. */
  offline: boolean;
}

const truthy = (v: string | undefined) => !!v && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());

/** The options the Python `huggingface_hub` would take from the environment (process.env): the cache folder as
 *  @huggingface/hub's `getHFHubCachePath` finds it (which, like Python, reads only process.env and takes a variable set
 *  to the empty string as set), the rest as huggingface_hub reads them. */
export async function hubOptionsFromEnv(): Promise<HubOptions> {
  const env = process.env;
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  let token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  if (!token) {
    token = (await readFile(env.HF_TOKEN_PATH || join(hfHome, 'token'), 'utf8').catch(() => '')).trim() || undefined;
  }
  return { endpoint: (env.HF_ENDPOINT || DEFAULT_ENDPOINT).replace(/\/+$/, ''), cacheDir: getHFHubCachePath(), token, offline: truthy(env.HF_HUB_OFFLINE) };
}

export type HubErrorKind = 'not-found' | 'unauthorized' | 'offline' | 'network' | 'checksum' | 'disk-space' | 'cancelled' | 'bad-reference' | 'locked';

/** A failure with what happened and what to do, in one sentence each. */
export class HubError extends Error {
  constructor(
    readonly kind: HubErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// References: hf:ORG/NAME/FILE, hf:ORG/NAME:QUANT

export interface ModelRef {
  repo: string;
  /** A file in the repository (may be in a folder). */
  file?: string;
  /** Or a quantization to pick among the repository's .gguf files (`Q4_K_M`). */
  quant?: string;
  revision: string;
}

export const isHubRef = (s: string) => s.startsWith('hf:');

/** Parses `ORG/NAME/FILE` or `ORG/NAME:QUANT` (with or without `hf:`); a missing file or quantization means Q4_K_M,
 *  as llama.cpp's `-hf` takes it. */
export function parseModelRef(spec: string): ModelRef {
  const s = spec.replace(/^hf:/, '');
  const m = /^([\w.-]+)\/([\w.-]+?)(?::([\w.-]+)|\/(.+))?$/.exec(s);
  if (!m) throw new HubError('bad-reference', `"${spec}" is not a Hub model reference: write ORG/NAME/FILE.gguf or ORG/NAME:QUANT (for example hf:ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF:Q8_0)`);
  const [, org, name, quant, file] = m;
  if (file?.split('/').includes('..')) throw new HubError('bad-reference', `"${spec}": a file name cannot contain ".."`);
  return { repo: `${org}/${name}`, file, quant: file ? undefined : (quant ?? 'Q4_K_M'), revision: 'main' };
}

export function formatRef(r: { repo: string; file: string }): string {
  return `hf:${r.repo}/${r.file}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The cache

/** A model repository's folder in the cache (`models--ORG--NAME`, @huggingface/hub's `getRepoFolderName`). */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ name: repo, type: 'model' }));
}

const COMMIT = /^[0-9a-f]{40}$/;

/** The cached file for a repository, file and revision (a branch read through refs/, or a commit), or null. */
export async function cachedFile(o: HubOptions, repo: string, file: string, revision = 'main'): Promise<string | null> {
  const folder = repoFolder(o.cacheDir, repo);
  const commit = COMMIT.test(revision) ? revision : (await readFile(join(folder, 'refs', revision), 'utf8').catch(() => '')).trim();
  if (!commit) return null;
  const path = join(folder, 'snapshots', commit, file);
  return (await stat(path).catch(() => null))?.isFile() ? path : null;
}

export interface CachedModel {
  repo: string;
  file: string;
  commit: string;
  /** The snapshot path (a symlink to the blob). */
  path: string;
  bytes: number;
  /** The revisions (refs) that point at this commit. */
  refs: string[];
}

/** Every .gguf file in the cache, of every repository and snapshot.
 *
 *  Not @huggingface/hub's `scanCacheDir` (2.17), which lists less: it skips files in a snapshot's subfolders
 *  (`nested/dir/x-Q4_K_M.gguf`), drops a whole repository that has no refs/ folder (a download by commit) or whose ref
 *  names a snapshot that is not there (what an interrupted huggingface_hub download leaves), and throws when the cache
 *  folder does not exist yet. */
export async function scanCache(o: HubOptions): Promise<CachedModel[]> {
  const out: CachedModel[] = [];
  const repos = await readdir(o.cacheDir).catch(() => [] as string[]);
  for (const dir of repos.filter((d) => d.startsWith('models--')).sort()) {
    const repo = dir.slice('models--'.length).split('--').join('/');
    const folder = join(o.cacheDir, dir);
    const refsByCommit = new Map<string, string[]>();
    for (const ref of await readdir(join(folder, 'refs')).catch(() => [] as string[])) {
      const c = (await readFile(join(folder, 'refs', ref), 'utf8').catch(() => '')).trim();
      refsByCommit.set(c, [...(refsByCommit.get(c) ?? []), ref]);
    }
    for (const commit of await readdir(join(folder, 'snapshots')).catch(() => [] as string[])) {
      const snap = join(folder, 'snapshots', commit);
      for (const file of await walk(snap)) {
        if (!file.toLowerCase().endsWith('.gguf')) continue;
        const st = await stat(join(snap, file)).catch(() => null);
        if (st?.isFile()) out.push({ repo, file, commit, path: join(snap, file), bytes: st.size, refs: refsByCommit.get(commit) ?? [] });
      }
    }
  }
  return out;
}

async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The Hub

/** What the Hub's client calls need from the options. */
const client = (o: HubOptions) => ({ hubUrl: o.endpoint, ...(o.token ? { accessToken: o.token } : {}) });

/** Turns the client's errors (HTTP statuses, network failures) into what happened and what to do. */
function hubFailure(e: unknown, o: HubOptions, what: string): Error {
  if (e instanceof HubError) return e;
  if (e instanceof HubApiError) {
    if (e.statusCode === 401 || e.statusCode === 403) {
      return new HubError('unauthorized', o.token
        ? `${what}: the Hub at ${o.endpoint} refused the token in HF_TOKEN (HTTP ${e.statusCode}). A gated repository needs its license accepted on its Hub page with the account of that token.`
        : `${what}: the Hub at ${o.endpoint} needs a token (HTTP ${e.statusCode}): the repository is gated or private. Accept its license on its Hub page, then set HF_TOKEN (or run huggingface-cli login).`);
    }
    if (e.statusCode === 404) {
      return new HubError('not-found', `${what}: not found on the Hub at ${o.endpoint} (HTTP 404). Check the repository and file names (a private repository also answers 404 without HF_TOKEN).`);
    }
    return new HubError('network', `${what}: the Hub at ${o.endpoint} answered HTTP ${e.statusCode} (${e.message}). Try again later.`);
  }
  const msg = (e as Error)?.message ?? String(e);
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return new HubError('network', `${what}: cannot reach the Hub at ${o.endpoint} (${cause?.code ?? cause?.message ?? msg}). Check the connection or HF_ENDPOINT; HF_HUB_OFFLINE=1 uses only the cache.`);
}

export interface RepoFile {
  file: string;
  bytes: number;
}

/** The .gguf files of a repository: from the Hub, or from the cache when offline. */
export async function repoGgufFiles(o: HubOptions, repo: string, revision = 'main'): Promise<RepoFile[]> {
  if (o.offline) {
    return (await scanCache(o)).filter((m) => m.repo === repo).map((m) => ({ file: m.file, bytes: m.bytes }));
  }
  const out: RepoFile[] = [];
  try {
    for await (const f of listFiles({ repo, revision, recursive: true, ...client(o) })) {
      if (f.type === 'file' && f.path.toLowerCase().endsWith('.gguf')) out.push({ file: f.path, bytes: f.lfs?.size ?? f.size });
    }
  } catch (e) {
    throw hubFailure(e, o, `listing ${repo}`);
  }
  return out;
}

/** Whether a .gguf file's name ends in the quantization (`-Q4_K_M.gguf`, `.q8_0.gguf`, any case). */
function hasQuant(file: string, quant: string): boolean {
  return new RegExp(`[-._]${quant.replace(/[.]/g, '\\.')}\\.gguf$`, 'i').test(file);
}

/** The file a reference names: its own, or the .gguf file whose name carries its quantization (`-Q4_K_M.gguf`,
 *  `.q4_k_m.gguf`); split files (`-00001-of-00003`) are refused: the engine reads one file. */
export async function resolveRefFile(o: HubOptions, ref: ModelRef): Promise<string> {
  if (ref.file) return ref.file;
  const files = await repoGgufFiles(o, ref.repo, ref.revision);
  const q = ref.quant!.toLowerCase();
  const match = files.filter((f) => hasQuant(f.file, q));
  if (match.length === 1) return match[0]!.file;
  const names = files.map((f) => f.file).join(', ') || 'none';
  if (match.length > 1) throw new HubError('bad-reference', `${ref.repo} has several ${ref.quant} files (${names}): name one, as hf:${ref.repo}/FILE.`);
  if (files.some((f) => /-\d{5}-of-\d{5}\.gguf$/i.test(f.file) && f.file.toLowerCase().includes(q))) {
    throw new HubError('bad-reference', `${ref.repo}'s ${ref.quant} is split into several files, which pie-complete does not read; choose a single-file quantization (${names}).`);
  }
  throw new HubError(o.offline ? 'offline' : 'not-found', `${ref.repo} has no ${ref.quant} .gguf file${o.offline ? ` in the cache at ${o.cacheDir} (HF_HUB_OFFLINE is set)` : ''}; its .gguf files: ${names}.`);
}

export interface DownloadProgress {
  /** Bytes of the file on disk so far (resumed bytes included). */
  bytes: number;
  total: number;
  /** Bytes that were on disk from an earlier attempt when this one started. */
  resumedFrom: number;
  /** Bytes per second over this attempt. */
  rate: number;
  /** Set while another download of the file (another process, or huggingface_hub) holds its lock: who holds it. The
   *  bytes are then that download's. */
  waitingFor?: string;
}

export interface DownloadOptions {
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Log lines (a resume, a retry, a wait for the lock). */
  log?: (s: string) => void;
  /** Attempts after a broken or stalled connection before giving up (each resumes where the last stopped). */
  retries?: number;
  /** A connection that sends no data for this long counts as broken (default 60 s). */
  stallTimeoutMs?: number;
  /** How long to wait for another download of the same file to release its lock before giving up (default 1 hour). */
  lockTimeoutMs?: number;
  /** A lock is taken over when neither it nor the .incomplete file has changed for this long (default 10 minutes). */
  staleLockMs?: number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 60 * 60_000;
export const DEFAULT_STALE_LOCK_MS = 10 * 60_000;

export interface Resolved {
  path: string;
  repo: string;
  file: string;
  /** It was in the cache already (nothing was downloaded). */
  cached: boolean;
}

/**
 * The local path of a model: a plain path as it is; an `hf:` reference from the cache when it is there (for its
 * revision's commit, or any snapshot when offline), else downloaded into the cache.
 */
export async function resolveModel(spec: string, o: HubOptions, d: DownloadOptions = {}): Promise<Resolved> {
  if (!isHubRef(spec)) return { path: spec, repo: '', file: spec, cached: true };
  const ref = parseModelRef(spec);
  // the cache first: a file downloaded before is used without asking the Hub
  const cached = ref.file ? await cachedFile(o, ref.repo, ref.file, ref.revision) : null;
  if (cached) return { path: cached, repo: ref.repo, file: ref.file!, cached: true };
  if (ref.quant) {
    const local = (await scanCache(o)).filter((m) => m.repo === ref.repo && hasQuant(m.file, ref.quant!));
    const pick = local.find((m) => m.refs.includes(ref.revision)) ?? (o.offline ? local[0] : undefined);
    if (pick) return { path: pick.path, repo: ref.repo, file: pick.file, cached: true };
  }
  const file = await resolveRefFile(o, ref);
  return { path: await download(o, { repo: ref.repo, file, revision: ref.revision }, d), repo: ref.repo, file, cached: false };
}

/** The lock huggingface_hub takes while it downloads a blob: `<cache>/.locks/models--ORG--NAME/<blob name>.lock`. */
export function lockPath(cacheDir: string, repo: string, blobName: string): string {
  return join(cacheDir, '.locks', getRepoFolderName({ name: repo, type: 'model' }), `${blobName}.lock`);
}

/** Downloads one file into the cache (or finds it there) and returns its snapshot path. */
export async function download(o: HubOptions, r: { repo: string; file: string; revision?: string }, d: DownloadOptions = {}): Promise<string> {
  const revision = r.revision ?? 'main';
  const what = `hf:${r.repo}/${r.file}`;
  if (o.offline) {
    const hit = (await cachedFile(o, r.repo, r.file, revision)) ?? (await scanCache(o)).find((m) => m.repo === r.repo && m.file === r.file)?.path;
    if (hit) return hit;
    throw new HubError('offline', `${what} is not in the Hugging Face cache at ${o.cacheDir}, and HF_HUB_OFFLINE is set: unset it to download the file, or download it where the Hub can be reached.`);
  }
  let commit: string;
  let info: Awaited<ReturnType<typeof pathsInfo>>[number] | undefined;
  try {
    commit = COMMIT.test(revision) ? revision : (await modelInfo({ name: r.repo, revision, additionalFields: ['sha'], ...client(o) })).sha;
    [info] = await pathsInfo({ repo: r.repo, paths: [r.file], revision: commit, expand: true, ...client(o) });
  } catch (e) {
    throw hubFailure(e, o, what);
  }
  if (!info || info.type !== 'file') throw new HubError('not-found', `${what}: ${r.repo} has no file ${r.file} (at ${revision}). Check the name (pie models lists the catalog; the repository's page lists its files).`);
  const folder = repoFolder(o.cacheDir, r.repo);
  const pointer = join(folder, 'snapshots', commit, r.file);
  // LFS files (every model file) are checked by their sha256, which also names the blob; a small file kept in git is
  // checked by its git blob id (sha1 over "blob <size>\0" and the bytes), as the Hub names it.
  const oid = info.lfs?.oid ?? info.oid;
  if (!oid) throw new HubError('checksum', `${what}: the Hub at ${o.endpoint} lists no checksum for the file, so it cannot be verified; it was not downloaded.`);
  const expected: Expected = { algo: info.lfs ? 'sha256' : 'sha1', digest: oid };
  const size = info.lfs?.size ?? info.size;
  const blob = join(folder, 'blobs', oid);
  const done = async () => {
    await mkdir(dirname(pointer), { recursive: true });
    await link(blob, pointer);
    if (!COMMIT.test(revision)) {
      await mkdir(join(folder, 'refs'), { recursive: true });
      await writeFile(join(folder, 'refs', revision), commit);
    }
    return pointer;
  };
  const finished = async () => (await stat(blob).catch(() => null))?.size === size;
  if ((await stat(pointer).catch(() => null))?.isFile()) return done();
  if (await finished()) return done();
  await mkdir(dirname(blob), { recursive: true });
  const partial = `${blob}.incomplete`;
  // One writer per .incomplete: the lock is huggingface_hub's, and whoever held it may have finished the blob.
  for (;;) {
    const lock = await acquireLock(lockPath(o.cacheDir, r.repo, oid), partial, what, size, d);
    try {
      if (await finished()) {
        d.log?.(`${what} was downloaded by the holder of its lock; using it`);
        return await done();
      }
      await transfer(o, r.repo, r.file, commit, folder, blob, partial, size, expected, what, lock, d);
      return await done();
    } catch (e) {
      if (!(e instanceof LockLost)) throw e;
      d.log?.(`${e.message}; waiting for it`);
    } finally {
      await lock.release();
    }
  }
}

interface Expected {
  algo: 'sha256' | 'sha1';
  digest: string;
}

/** Downloads (or resumes) the file into `partial` under the lock, checks it and renames it to the blob. */
async function transfer(o: HubOptions, repo: string, file: string, commit: string, folder: string, blob: string, partial: string, size: number, expected: Expected, what: string, lock: HeldLock, d: DownloadOptions): Promise<void> {
  let have = (await stat(partial).catch(() => null))?.size ?? 0;
  if (have > size) {
    await rm(partial, { force: true });
    have = 0;
  }
  await checkDiskSpace(folder, size - have, what);
  const started = have;
  if (have > 0) d.log?.(`resuming ${what} at ${have} of ${size} bytes`);
  let hash = await hashOf(partial, have, expected.algo, size);
  const retries = d.retries ?? 3;
  for (let attempt = 0; have < size; attempt++) {
    try {
      have = await fetchInto(o, repo, file, commit, partial, have, size, hash, started, lock, d);
    } catch (e) {
      if (e instanceof LockLost) throw e;
      have = (await stat(partial).catch(() => null))?.size ?? 0;
      if (e instanceof RangeIgnored && attempt < retries) {
        d.log?.(`the server does not resume downloads (it ignored the Range request); downloading ${what} from the start`);
        await rm(partial, { force: true });
        have = 0;
        hash = await hashOf(partial, 0, expected.algo, size);
        continue;
      }
      if (d.signal?.aborted) throw new HubError('cancelled', `the download of ${what} was cancelled at ${have} of ${size} bytes; the next download of it resumes there.`);
      if (e instanceof Stalled && attempt >= retries) {
        throw new HubError('network', `downloading ${what}: ${e.message} (stopped at ${have} of ${size} bytes; the next download resumes there). The connection or the server stalled: try again later.`);
      }
      if (e instanceof HubError || attempt >= retries) {
        throw e instanceof HubError ? e : hubFailure(e, o, `downloading ${what} (stopped at ${have} of ${size} bytes; the next attempt resumes there)`);
      }
      d.log?.(e instanceof Stalled ? `${e.message} at ${have} of ${size} bytes; resuming` : `the connection broke at ${have} of ${size} bytes (${(e as Error).message}); resuming`);
    }
  }
  const got = hash.digest('hex');
  if (got !== expected.digest) {
    await rm(partial, { force: true });
    throw new HubError('checksum', `${what}: the downloaded file's ${expected.algo} is ${got}, not the ${expected.digest} the Hub lists, so it was deleted. Download it again; if this repeats, the mirror or a proxy is altering the file.`);
  }
  // The hash is of the bytes this process wrote; the file is those bytes only if nobody else wrote to it.
  await lock.check();
  const onDisk = (await stat(partial)).size;
  if (onDisk !== size) {
    await rm(partial, { force: true });
    throw new HubError('checksum', `${what}: ${basename(partial)} has ${onDisk} bytes, not the ${size} this download wrote: another program wrote to it, so it was deleted. Download it again.`);
  }
  await rename(partial, blob);
}

class RangeIgnored extends Error {}

/** No data arrived for the stall timeout. */
class Stalled extends Error {}

/** The hash of the first `have` bytes of `partial` (the bytes an earlier attempt left), ready for the rest. */
async function hashOf(partial: string, have: number, algo: string, size: number): Promise<Hash> {
  const hash = createHash(algo);
  if (algo === 'sha1') hash.update(`blob ${size}\0`);
  if (have > 0) for await (const c of createReadStream(partial, { end: have - 1 })) hash.update(c as Buffer);
  return hash;
}

const hostOf = (u: string) => {
  try {
    return new URL(u).host;
  } catch {
    return u;
  }
};

/** Appends bytes [have, size) of the file to `partial` (one HTTP request), updating the hash; returns the bytes now on
 *  disk. Throws on a broken connection, and with Stalled when no data came for the stall timeout, leaving what arrived
 *  on disk. */
async function fetchInto(o: HubOptions, repo: string, file: string, commit: string, partial: string, have: number, size: number, hash: Hash, started: number, lock: HeldLock, d: DownloadOptions): Promise<number> {
  // The watchdog: the time since the last data (or since the start), over every request of this attempt.
  const stallMs = d.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  let host = hostOf(o.endpoint);
  const watchdog = new AbortController();
  const stalled = new Promise<never>((_, reject) => watchdog.signal.addEventListener('abort', () => reject(new Stalled(`no data for ${stallMs / 1000} s from ${host}`))));
  stalled.catch(() => undefined);
  const timer = setTimeout(() => watchdog.abort(), stallMs);
  const signal = d.signal ? AbortSignal.any([d.signal, watchdog.signal]) : watchdog.signal;
  // A server that ignores the Range header would answer the whole file: appending it would corrupt the partial one.
  let ignoredRange = false;
  const ranged: typeof fetch = async (input, init) => {
    host = hostOf(input instanceof Request ? input.url : String(input));
    const res = await fetch(input, { ...init, signal });
    if (res.url) host = hostOf(res.url);
    const range = new Headers(init?.headers).get('range');
    if (range && !range.startsWith('bytes=0-') && res.status === 200) ignoredRange = true;
    return res;
  };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let out: Awaited<ReturnType<typeof open>> | undefined;
  try {
    let remote: Blob | null;
    try {
      remote = await Promise.race([downloadFile({ repo, path: file, revision: commit, xet: false, fetch: ranged, ...client(o) }), stalled]);
    } catch (e) {
      throw e instanceof Stalled || watchdog.signal.aborted ? await stalled.catch((s: Stalled) => s) : hubFailure(e, o, `hf:${repo}/${file}`);
    }
    if (!remote) throw new HubError('not-found', `hf:${repo}/${file}: the Hub has no such file at ${commit}.`);
    reader = (have > 0 ? remote.slice(have, size) : remote).stream().getReader();
    out = await open(partial, 'a');
    const t0 = performance.now();
    let checked = performance.now();
    for (;;) {
      if (d.signal?.aborted) throw new Error('cancelled');
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), stalled]);
      } catch (e) {
        throw watchdog.signal.aborted ? await stalled.catch((s: Stalled) => s) : e;
      }
      timer.refresh();
      const { done, value } = chunk;
      if (ignoredRange) throw new RangeIgnored();
      if (done) break;
      if (have + value.byteLength > size) throw new Error(`the server sent more than the ${size} bytes the Hub lists`);
      // still the lock's holder? (huggingface_hub, which knows only flock, empties the file when it takes the lock)
      if (performance.now() - checked > 500) {
        await lock.check();
        checked = performance.now();
      }
      await out.write(value);
      hash.update(value);
      have += value.byteLength;
      d.onProgress?.({ bytes: have, total: size, resumedFrom: started, rate: ((have - started) / Math.max(1, performance.now() - t0)) * 1000 });
    }
  } finally {
    clearTimeout(timer);
    await reader?.cancel().catch(() => undefined);
    await out?.close();
  }
  if (have < size) throw new Error(`the connection closed at ${have} of ${size} bytes`);
  return have;
}

// ---------------------------------------------------------------------------------------------------------------
// The lock: huggingface_hub's file, taken our way
//
// huggingface_hub holds <cache>/.locks/models--ORG--NAME/<blob>.lock with filelock (flock(2) on the open file; recent
// filelock versions delete the file on release, older ones leave it empty) while it writes blobs/<blob>.incomplete.
// Node cannot flock, so ours is the file's existence: created exclusively (open 'wx') holding our pid, host and a
// token, deleted on release. A downloader that finds it waits, polling, until it goes; it takes it over when it is
// stale: our format from this machine with a pid that is not running, a file without our format that no process
// holds (Linux: /proc/locks lists the flock holders), or a lock that neither changed nor saw the .incomplete grow for
// `staleLockMs`. The holder checks every half second that the file is still its own, and stops (then waits) when not.

/** The tokens of the locks this process holds (a lock file with our own pid but another token is stale). */
const heldHere = new Set<string>();

interface LockBody {
  pid: number;
  host: string;
  token: string;
}

/** A lock this process holds. */
class HeldLock {
  constructor(
    readonly path: string,
    readonly token: string,
    readonly what: string,
  ) {}

  /** Throws LockLost when the lock file is no longer this one (taken over as stale, or emptied by huggingface_hub). */
  async check(): Promise<void> {
    const body = parseLock(await readFile(this.path, 'utf8').catch(() => ''));
    if (body?.token !== this.token) throw new LockLost(`another download took the lock ${this.path} of ${this.what}`);
  }

  async release(): Promise<void> {
    if (parseLock(await readFile(this.path, 'utf8').catch(() => ''))?.token === this.token) await rm(this.path, { force: true });
    heldHere.delete(this.token);
  }
}

class LockLost extends Error {}

function parseLock(text: string): LockBody | null {
  try {
    const b = JSON.parse(text) as Partial<LockBody>;
    return typeof b?.pid === 'number' && typeof b.token === 'string' ? { pid: b.pid, host: String(b.host ?? ''), token: b.token } : null;
  } catch {
    return null;
  }
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pids holding a flock or POSIX lock on the file with this inode (Linux's /proc/locks), or null where that
 *  cannot be known. */
async function lockHolders(ino: number): Promise<number[] | null> {
  if (process.platform !== 'linux') return null;
  const text = await readFile('/proc/locks', 'utf8').catch(() => null);
  if (text === null) return null;
  const pids: number[] = [];
  // "1: FLOCK  ADVISORY  WRITE 24691 fe:00:2146913 0 EOF"; "1: -> FLOCK ..." is a process waiting for it
  for (const m of text.matchAll(/^\d+:\s+(->\s+)?\S+\s+\S+\s+\S+\s+(-?\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/gm)) {
    if (!m[1] && Number(m[3]) === ino) pids.push(Number(m[2]));
  }
  return pids;
}

interface LockState {
  st: Stats;
  /** Who holds it, in words. */
  who: string;
  /** Why it is stale, or null when it is held. */
  stale: string | null;
}

async function inspectLock(path: string, partial: string, staleMs: number): Promise<LockState | null> {
  const st = await stat(path).catch(() => null);
  if (!st) return null;
  const body = parseLock(await readFile(path, 'utf8').catch(() => ''));
  const grown = (await stat(partial).catch(() => null))?.mtimeMs ?? 0;
  const idle = Date.now() - Math.max(st.mtimeMs, grown);
  let who: string;
  if (body) {
    who = `pid ${body.pid} on ${body.host}`;
    if (body.host === hostname()) {
      if (body.pid === process.pid ? !heldHere.has(body.token) : !pidRunning(body.pid)) return { st, who, stale: `pid ${body.pid} is not running` };
    }
  } else {
    // not ours: huggingface_hub's (held with flock, or left by an older filelock), or ours in the instant it is written
    const holders = await lockHolders(st.ino);
    who = holders?.length ? `pid ${holders.join(', ')} (a flock, as huggingface_hub takes it)` : 'another program (huggingface_hub?)';
    if (holders && !holders.length && Date.now() - st.mtimeMs > 2000) return { st, who, stale: 'no process holds it (huggingface_hub left it behind)' };
  }
  if (idle > staleMs) return { st, who, stale: `neither it nor ${basename(partial)} changed in ${Math.round(idle / 1000)} s` };
  return { st, who, stale: null };
}

/** Removes a stale lock file if it is still the file judged stale (another downloader may have replaced it); false
 *  when it could not be removed (held open on Windows, another user's) or was not the same file. */
async function removeStale(path: string, judged: Stats): Promise<boolean> {
  const aside = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT'; // gone already
  }
  const st = await stat(aside).catch(() => null);
  const same = !!st && st.ino === judged.ino && st.mtimeMs === judged.mtimeMs;
  // a fresh lock moved aside by mistake goes back, unless yet another one was created meanwhile
  if (!same) await hardLink(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
  return same;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

/** Takes the lock of a blob's download, waiting while another download holds it. */
async function acquireLock(path: string, partial: string, what: string, size: number, d: DownloadOptions): Promise<HeldLock> {
  await mkdir(dirname(path), { recursive: true });
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  const body = `${JSON.stringify({ pid: process.pid, host: hostname(), token, tool: 'pie-complete', since: new Date().toISOString() })}\n`;
  const timeout = d.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const staleMs = d.staleLockMs ?? DEFAULT_STALE_LOCK_MS;
  const t0 = Date.now();
  let announced = '';
  let waitFrom = -1;
  for (;;) {
    if (d.signal?.aborted) throw new HubError('cancelled', `the download of ${what} was cancelled while it waited for the lock ${path}.`);
    try {
      const fh = await open(path, 'wx');
      try {
        heldHere.add(token);
        await fh.writeFile(body);
      } finally {
        await fh.close();
      }
      return new HeldLock(path, token, what);
    } catch (e) {
      heldHere.delete(token);
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const state = await inspectLock(path, partial, staleMs);
    if (!state) continue;
    if (state.stale && (await removeStale(path, state.st))) {
      d.log?.(`took over the lock ${path} (${state.who}): ${state.stale}`);
      continue;
    }
    const have = (await stat(partial).catch(() => null))?.size ?? 0;
    if (announced !== state.who) {
      d.log?.(`waiting for another download of ${what}: ${path} is held by ${state.who}`);
      announced = state.who;
    }
    if (waitFrom < 0) waitFrom = have;
    const waited = Date.now() - t0;
    if (waited >= timeout) {
      throw new HubError('locked', `${what}: another download of this file holds the lock ${path} (${state.who}; its file is at ${have} of ${size} bytes); waited ${Math.round(waited / 1000)} s. Try again when it has finished; if no other download is running, delete that lock file.`);
    }
    d.onProgress?.({ bytes: have, total: size, resumedFrom: waitFrom, rate: ((have - waitFrom) / Math.max(1, waited)) * 1000, waitingFor: state.who });
    await sleep(Math.min(250, timeout - waited), d.signal);
  }
}

async function checkDiskSpace(folder: string, need: number, what: string): Promise<void> {
  let dir = folder;
  for (;;) {
    const st = await statfs(dir).catch(() => null);
    if (st) {
      const free = st.bavail * st.bsize;
      if (free < need) {
        const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
        throw new HubError('disk-space', `${what} needs ${gb(need)} more on the disk of ${folder}, which has ${gb(free)} free. Free some space, or set HF_HUB_CACHE to a folder on another disk.`);
      }
      return;
    }
    const up = dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

/** A relative symlink from the snapshot to the blob, as huggingface_hub makes it; a copy where links are refused. */
async function link(blob: string, pointer: string): Promise<void> {
  if ((await stat(pointer).catch(() => null))?.isFile()) return;
  await rm(pointer, { force: true });
  try {
    await symlink(relative(dirname(pointer), blob), pointer);
  } catch {
    await copyFile(blob, pointer);
  }
}
