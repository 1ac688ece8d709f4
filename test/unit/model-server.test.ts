// The model file over HTTP for the webview (src/extension/model-server.ts), fetched as the webview fetches it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelFileServer } from '../../src/extension/model-server.js';

test('Range requests answer exact bytes with CORS headers; only the token path is served; a removed file says so', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pie-model-server-'));
  const path = join(dir, 'm.gguf');
  const bytes = new Uint8Array(randomBytes(3 << 20));
  await writeFile(path, bytes);
  const s = await ModelFileServer.start(path);
  try {
    assert.match(s.origin, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(s.path, /^[0-9a-f]{32}\/model\.gguf$/);
    const url = s.url;
    const part = await fetch(url, { headers: { Range: 'bytes=1000-1048575' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-1048575/${bytes.length}`);
    assert.equal(part.headers.get('access-control-allow-origin'), '*');
    assert.match(part.headers.get('access-control-expose-headers') ?? '', /Content-Range/);
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(1000, 1048576));
    const tail = await fetch(url, { headers: { Range: `bytes=${bytes.length - 10}-` } });
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal((await whole.arrayBuffer()).byteLength, bytes.length);
    const pre = await fetch(url, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Range/);
    assert.equal((await fetch(url, { headers: { Range: `bytes=${bytes.length}-` } })).status, 416);
    assert.equal((await fetch(url.replace(/[0-9a-f]{32}/, '0'.repeat(32)))).status, 404, 'another token');
    assert.equal((await fetch(new URL('/etc/passwd', url))).status, 404);
    assert.equal((await fetch(url, { method: 'POST' })).status, 404);
    await rm(path);
    const gone = await fetch(url, { headers: { Range: 'bytes=0-3' } });
    assert.equal(gone.status, 410);
    assert.match(await gone.text(), /the model file is gone/);
  } finally {
    s.close();
    await rm(dir, { recursive: true, force: true });
  }
});
