// A Hugging Face Hub on 127.0.0.1 for the download tests: a real HTTP server with the Hub's URL layout and headers, so
// that @huggingface/hub and our cache code talk to it exactly as to huggingface.co (HF_ENDPOINT / pie.hubEndpoint).
//
//   GET  /api/models/ORG/NAME/revision/REV          {id, sha, siblings}
//   POST /api/models/ORG/NAME/paths-info/REV        [{type, path, size, oid, lfs: {oid, size}}]
//   GET  /api/models/ORG/NAME/tree/REV?recursive=   [{type, path, size, oid, lfs}]
//   GET|HEAD /ORG/NAME/resolve/REV/FILE             an LFS file: 302 to /cdn/SHA256 with X-Repo-Commit, X-Linked-Etag,
//                                                   X-Linked-Size; a file kept in git (`inGit`): the bytes themselves,
//                                                   with its git blob sha1 as ETag, as the Hub serves config.json
//   GET|HEAD /cdn/SHA256                            the bytes, with Range (206, Content-Range)
// Every request is logged with the body bytes sent. Faults for the tests: a connection dropped after some bytes, a
// body that stalls after some bytes, corrupted bytes, a gated repository (401 without the right token), a Range
// header ignored, slow delivery (for the progress, cancel and lock tests).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  files: Record<string, Uint8Array>;
  /** The commit `main` points at (40 hex digits; made from the repo name when absent). */
  commit?: string;
  /** A gated repository: requests need `Authorization: Bearer <token>`. */
  token?: string;
  /** Sizes the metadata claims instead of the real ones (the disk-space check). */
  claimedSizes?: Record<string, number>;
  /** Files kept in git rather than LFS (config.json, README.md): no `lfs` in their metadata, and their id is the git
   *  blob sha1. */
  inGit?: string[];
}

/** The git blob id of a file's bytes: sha1 over "blob <size>\0" and the bytes. */
export function gitBlobSha1(b: Uint8Array): string {
  return createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');
}

export interface Faults {
  /** The next N file downloads close the connection after this many bytes of the body. */
  dropAfterBytes?: number;
  dropTimes?: number;
  /** Byte offset to flip in every download (the sha256 then fails). */
  corruptAt?: number;
  /** Answer Range requests that do not start at 0 with the whole file (200), as a server that cannot resume. */
  ignoreRange?: boolean;
  /** Bytes per second for file bodies (sent in 64 KiB pieces). */
  bytesPerSecond?: number;
  /** The next N file downloads send this many bytes of the body, then nothing more, keeping the connection open. */
  stallAfterBytes?: number;
  stallTimes?: number;
}

export interface Logged {
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
  status: number;
  /** Bytes of the body sent. */
  bytes: number;
}

export class HubServer {
  readonly log: Logged[] = [];
  faults: Faults = {};
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly repos: Map<string, HubRepo>,
  ) {}

  static async start(repos: Record<string, HubRepo>): Promise<HubServer> {
    const map = new Map(Object.entries(repos));
    let hub!: HubServer;
    const server = createServer((req, res) => void hub.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    hub = new HubServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, map);
    return hub;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  static sha256(b: Uint8Array): string {
    return createHash('sha256').update(b).digest('hex');
  }

  commitOf(repo: string): string {
    return this.repos.get(repo)?.commit ?? createHash('sha1').update(repo).digest('hex');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.url);
    const path = decodeURIComponent(url.pathname);
    const entry: Logged = { method: req.method!, path, range: req.headers.range ?? null, auth: req.headers.authorization ?? null, status: 0, bytes: 0 };
    this.log.push(entry);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    let m: RegExpExecArray | null;
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(path))) {
      const data = this.blob(m[1]!);
      if (!data) return send(404, { error: 'blob not found' });
      return this.serveBytes(req, res, data, entry, `"${m[1]!}"`);
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|paths-info|tree)\/([^/]+)(?:\/(.*))?$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repoId = api?.[1] ?? resolve?.[1];
    if (!repoId) return send(404, { error: 'not found' });
    const repo = this.repos.get(repoId);
    if (!repo) return send(404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      return send(401, { error: `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, { 'X-Error-Code': 'GatedRepo' });
    }
    const commit = this.commitOf(repoId);
    const rev = api?.[3] ?? resolve![2]!;
    if (rev !== 'main' && rev !== 'HEAD' && rev !== commit) return send(404, { error: `Invalid rev id: ${rev}` }, { 'X-Error-Code': 'RevisionNotFound' });
    const describe = (name: string) => {
      const b = repo.files[name]!;
      const size = repo.claimedSizes?.[name] ?? b.byteLength;
      if (repo.inGit?.includes(name)) return { type: 'file', path: name, size, oid: gitBlobSha1(b) };
      return { type: 'file', path: name, size, oid: gitBlobSha1(new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${HubServer.sha256(b)}\nsize ${size}\n`)), lfs: { oid: HubServer.sha256(b), size, pointerSize: 134 } };
    };
    if (api?.[2] === 'revision') return send(200, { id: repoId, modelId: repoId, sha: commit, private: false, gated: repo.token ? 'manual' : false, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
    if (api?.[2] === 'tree') return send(200, Object.keys(repo.files).map(describe));
    if (api?.[2] === 'paths-info') {
      const body = JSON.parse(await readBody(req)) as { paths: string[] };
      return send(200, body.paths.filter((p) => p in repo.files).map(describe));
    }
    const file = resolve![3]!;
    const data = repo.files[file];
    if (!data) return send(404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    if (repo.inGit?.includes(file)) return this.serveBytes(req, res, data, entry, `"${gitBlobSha1(data)}"`, { 'X-Repo-Commit': commit });
    const sha = HubServer.sha256(data);
    entry.status = 302;
    res.writeHead(302, { Location: `/cdn/${sha}`, 'X-Repo-Commit': commit, 'X-Linked-Etag': `"${sha}"`, 'X-Linked-Size': String(data.byteLength), ETag: `"${sha}"` });
    res.end();
  }

  private blob(sha: string): Uint8Array | undefined {
    for (const r of this.repos.values()) for (const b of Object.values(r.files)) if (HubServer.sha256(b) === sha) return b;
    return undefined;
  }

  private async serveBytes(req: IncomingMessage, res: ServerResponse, data: Uint8Array, entry: Logged, etag: string, headers: Record<string, string> = {}): Promise<void> {
    let start = 0;
    let end = data.byteLength - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const partial = !!range && !(this.faults.ignoreRange && range[1] !== '0');
    if (partial) {
      start = Number(range![1]);
      if (range![2]) end = Math.min(end, Number(range![2]));
      if (start > end) {
        entry.status = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${data.byteLength}` });
        return void res.end();
      }
    }
    let body = data.subarray(start, end + 1);
    const f = this.faults;
    if (f.corruptAt !== undefined && f.corruptAt >= start && f.corruptAt <= end) {
      body = new Uint8Array(body);
      body[f.corruptAt - start]! ^= 0xff;
    }
    entry.status = partial ? 206 : 200;
    res.writeHead(entry.status, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(body.byteLength),
      'Accept-Ranges': 'bytes',
      ETag: etag,
      ...headers,
      ...(partial ? { 'Content-Range': `bytes ${start}-${end}/${data.byteLength}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    // the probe for the size (bytes=0-0) is never dropped: the faults are for the body of a download
    const drop = body.byteLength > 1 && (f.dropTimes ?? 0) > 0 && f.dropAfterBytes !== undefined;
    if (drop) f.dropTimes!--;
    const stall = !drop && body.byteLength > 1 && (f.stallTimes ?? 0) > 0 && f.stallAfterBytes !== undefined;
    if (stall) f.stallTimes!--;
    const limit = drop ? Math.min(f.dropAfterBytes!, body.byteLength) : stall ? Math.min(f.stallAfterBytes!, body.byteLength) : body.byteLength;
    const piece = 64 << 10;
    for (let off = 0; off < limit; off += piece) {
      if (res.destroyed) return;
      const chunk = body.subarray(off, Math.min(limit, off + piece));
      entry.bytes += chunk.byteLength;
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      if (f.bytesPerSecond) await new Promise((r) => setTimeout(r, (chunk.byteLength / f.bytesPerSecond!) * 1000));
    }
    if (drop) res.socket?.destroy();
    // a stall: nothing more until the client gives up and closes the connection
    else if (stall) await new Promise((r) => res.once('close', r));
    else res.end();
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
