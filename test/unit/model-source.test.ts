// The webview's model source (src/webview/model-source.ts): read-ahead chunks over host range reads give the exact
// bytes for any read pattern, keep several requests in flight, hold a bounded window (never the file), fall back to one
// request per read when a chunk fails, and stop on cancel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirectSource, LoadCancelled, ReadaheadSource } from '../../src/webview/model-source.js';

const KiB = 1024;
function file(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 255;
  return b;
}

/** A host that answers range reads after a tick, counting what is in flight. */
function host(bytes: Uint8Array, fail?: (offset: number) => boolean) {
  const h = { inFlight: 0, maxInFlight: 0, requests: [] as [number, number][] };
  const read = async (offset: number, length: number) => {
    h.requests.push([offset, length]);
    h.inFlight++;
    h.maxInFlight = Math.max(h.maxInFlight, h.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    h.inFlight--;
    if (fail?.(offset)) throw new Error(`no bytes at ${offset}`);
    return bytes.slice(offset, Math.min(bytes.length, offset + length));
  };
  return { h, read };
}

const opts = { chunkBytes: 64 * KiB, aheadBytes: 256 * KiB, behindBytes: 128 * KiB };

test('sequential reads: exact bytes, requests in flight ahead, a bounded window', async () => {
  const bytes = file(3 * 1024 * KiB + 123);
  const { h, read } = host(bytes);
  const src = new ReadaheadSource(bytes.length, read, opts);
  let maxHeld = 0;
  for (let o = 0; o < bytes.length; o += 100 * KiB) {
    const n = Math.min(100 * KiB, bytes.length - o);
    assert.deepEqual(await src.read(o, n), bytes.subarray(o, o + n));
    maxHeld = Math.max(maxHeld, src.heldChunks);
  }
  assert.ok(h.maxInFlight >= 4, `in flight: ${h.maxInFlight}`);
  // behind + ahead + the read's own chunks (100 KiB spans at most 3 chunks of 64 KiB)
  assert.ok(maxHeld <= (opts.behindBytes + opts.aheadBytes) / opts.chunkBytes + 3, `held ${maxHeld} chunks`);
  // every chunk fetched once
  assert.equal(src.stats.bytesFetched, bytes.length);
  assert.equal(src.stats.bytesRead, bytes.length);
});

test("a layer's tensors out of file order, jumps back and forth, reads past the end", async () => {
  const bytes = file(2 * 1024 * KiB);
  const { read } = host(bytes);
  const src = new ReadaheadSource(bytes.length, read, opts);
  const pattern: [number, number][] = [[0, 24], [24, 1000], [300 * KiB, 50 * KiB], [200 * KiB, 90 * KiB], [350 * KiB, 3], [1900 * KiB, 148 * KiB], [10, 70 * KiB], [0, 0]];
  for (const [o, n] of pattern) assert.deepEqual(await src.read(o, n), bytes.subarray(o, o + n), `read (${o}, ${n})`);
  // past the end: shorter (the GGUF reader reports it as truncated)
  assert.equal((await src.read(bytes.length - 10, 100)).length, 10);
});

test('a failed chunk falls back to one request per read, said once', async () => {
  const bytes = file(1024 * KiB);
  // the chunk at 128 KiB never comes (a read-ahead that failed is asked again when a read needs it)
  const { read } = host(bytes, (o) => o === 128 * KiB);
  const src = new ReadaheadSource(bytes.length, read, opts);
  const said: string[] = [];
  src.onFallback = (r) => said.push(r);
  assert.deepEqual(await src.read(0, 100 * KiB), bytes.subarray(0, 100 * KiB));
  // the read that needs the failed chunk is served directly; later ones too
  assert.deepEqual(await src.read(100 * KiB, 100 * KiB), bytes.subarray(100 * KiB, 200 * KiB));
  assert.deepEqual(await src.read(500 * KiB, 10), bytes.subarray(500 * KiB, 500 * KiB + 10));
  assert.equal(said.length, 1);
  assert.match(said[0]!, /no bytes at 131072/);
  assert.equal(src.stats.directReads, 2);
  assert.equal(src.heldChunks, 0);
});

test('cancel: the pending read rejects, later reads too, nothing is held', async () => {
  const bytes = file(1024 * KiB);
  const { read } = host(bytes);
  const src = new ReadaheadSource(bytes.length, read, opts);
  const pending = src.read(0, 300 * KiB);
  src.cancel('another model');
  await assert.rejects(pending, LoadCancelled);
  await assert.rejects(src.read(0, 1), /loading cancelled: another model/);
  assert.equal(src.heldChunks, 0);

  const direct = new DirectSource(bytes.length, read);
  const p = direct.read(0, 10);
  direct.cancel('another model');
  await assert.rejects(p, LoadCancelled);
});
