// The model file over HTTP for the engine's webview: a server on 127.0.0.1 that answers Range requests for one file at
// a path with a random token, so that the webview reads the bytes with fetch (read from disk and sent by the kernel)
// instead of as messages through the extension host (every byte copied, and in code-server compressed for its
// WebSocket: about 25 MB/s on one core). Free of 'vscode' for the unit tests; the host makes the address reachable
// from the webview with vscode.env.asExternalUri (code-server: its /proxy/PORT/ route).
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export class ModelFileServer {
  private constructor(
    private readonly server: Server,
    /** http://127.0.0.1:PORT/ */
    readonly origin: string,
    /** TOKEN/model.gguf: the file's path under the origin (asExternalUri maps the origin alone, so they stay apart). */
    readonly path: string,
  ) {}

  get url(): string {
    return this.origin + this.path;
  }

  /** Serves `path` (GET and HEAD, with Range) at `url`; anything else is 404. */
  static async start(path: string): Promise<ModelFileServer> {
    const token = randomBytes(16).toString('hex');
    const server = createServer((req, res) => void serve(req, res, path, `/${token}/model.gguf`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return new ModelFileServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, `${token}/model.gguf`);
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

async function serve(req: IncomingMessage, res: ServerResponse, path: string, route: string): Promise<void> {
  // The webview's origin is not this server's: its fetch is cross-origin, and a Range header may need a preflight.
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', 'Range');
  res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges');
  // code-server's proxy forwards /proxy/PORT/TOKEN/... as /TOKEN/...; the path alone decides
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'OPTIONS') return void res.writeHead(204).end();
  if (url.pathname !== route || (req.method !== 'GET' && req.method !== 'HEAD')) return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not served: ${req.method} ${url.pathname}`);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    return void res.writeHead(410, { 'Content-Type': 'text/plain' }).end(`the model file is gone: ${(e as Error).message}`);
  }
  let start = 0;
  let end = size - 1;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (range) {
    start = Number(range[1]);
    if (range[2]) end = Math.min(end, Number(range[2]));
    if (start > end) return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
  }
  res.writeHead(range ? 206 : 200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(end - start + 1),
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'no-store',
    ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
  });
  if (req.method === 'HEAD' || end < start) return void res.end();
  const stream = createReadStream(path, { start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}
