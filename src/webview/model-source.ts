// The model file as the webview's loader reads it: a ByteSource over range reads answered by the extension host.
//
// The loader (TransformerModel.load) reads the header, then each tensor in 16 MB row ranges, uploading each before asking
// for the next; one request at a time leaves the host idle while the GPU uploads and the GPU idle while bytes travel.
// ReadaheadSource splits the file into fixed chunks and keeps the ones after the last read in flight (aheadBytes), and
// a few behind it (behindBytes: the loader reads a layer's tensors in its own order, which is not quite file order, so
// it steps back a little), so that at most aheadBytes + behindBytes + one read's chunks are ever held: never the file.
// A read that cannot be served that way (a chunk failed) falls back to one direct request per read, as before.

import { EngineError } from '../engine/errors.js';
import type { ByteSource } from '../engine/model/gguf.js';

/** Reads `length` bytes at `offset` (may resolve shorter only at the end of the file). */
export type RangeReader = (offset: number, length: number) => Promise<Uint8Array>;

export interface ReadaheadOptions {
  chunkBytes: number;
  aheadBytes: number;
  behindBytes: number;
}

export const DEFAULT_READAHEAD: ReadaheadOptions = { chunkBytes: 4 << 20, aheadBytes: 32 << 20, behindBytes: 16 << 20 };

export interface SourceStats {
  /** Reads the loader made and the bytes it got. */
  reads: number;
  bytesRead: number;
  /** Chunk requests sent and the bytes they carried (read-ahead that was never used shows as fetched > read). */
  chunks: number;
  bytesFetched: number;
  /** Reads served by a direct request after a chunk failed. */
  directReads: number;
}

export class LoadCancelled extends EngineError {
  constructor(reason: string) {
    super('cancelled', `loading cancelled: ${reason}`);
    this.name = 'LoadCancelled';
  }
}

/** One range request per read, in the order asked (the transport before read-ahead). */
export class DirectSource implements ByteSource {
  readonly stats: SourceStats = { reads: 0, bytesRead: 0, chunks: 0, bytesFetched: 0, directReads: 0 };
  private cancelled: string | null = null;
  constructor(
    readonly size: number,
    private readonly readRange: RangeReader,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.cancelled) throw new LoadCancelled(this.cancelled);
    const b = await this.readRange(offset, length);
    if (this.cancelled) throw new LoadCancelled(this.cancelled);
    this.stats.reads++;
    this.stats.chunks++;
    this.stats.bytesRead += b.length;
    this.stats.bytesFetched += b.length;
    return b;
  }

  cancel(reason: string): void {
    this.cancelled = reason;
  }
}

export class ReadaheadSource implements ByteSource {
  readonly stats: SourceStats = { reads: 0, bytesRead: 0, chunks: 0, bytesFetched: 0, directReads: 0 };
  /** Chunk index -> its bytes (a settled or pending request). */
  private readonly chunks = new Map<number, Promise<Uint8Array>>();
  private cancelled: string | null = null;
  /** Set when a chunk failed: from then on every read is one direct request. */
  fallback: string | null = null;
  /** Told once when the source falls back (for the panel and the log). */
  onFallback: ((reason: string) => void) | null = null;

  constructor(
    readonly size: number,
    private readonly readRange: RangeReader,
    readonly options: ReadaheadOptions = DEFAULT_READAHEAD,
  ) {
    if (!(options.chunkBytes > 0) || options.aheadBytes < 0 || options.behindBytes < 0) throw new RangeError('ReadaheadSource: bad options');
  }

  /** The chunks currently held or in flight (for tests: the memory bound). */
  get heldChunks(): number {
    return this.chunks.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.cancelled) throw new LoadCancelled(this.cancelled);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) throw new RangeError(`bad read (${offset}, ${length})`);
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return new Uint8Array(0);
    if (this.fallback) return this.direct(offset, length);
    const C = this.options.chunkBytes;
    const first = Math.floor(offset / C);
    const last = Math.floor((end - 1) / C);
    this.evict(offset, end);
    const wanted: Promise<Uint8Array>[] = [];
    for (let i = first; i <= last; i++) wanted.push(this.chunk(i));
    // Read-ahead: the chunks after this read, up to aheadBytes past its end.
    const aheadLast = Math.floor((Math.min(this.size, end + this.options.aheadBytes) - 1) / C);
    for (let i = last + 1; i <= aheadLast; i++) this.chunk(i);
    let parts: Uint8Array[];
    try {
      parts = await Promise.all(wanted);
    } catch (e) {
      if (this.cancelled) throw new LoadCancelled(this.cancelled);
      this.fallBack(`a ${fmtMiB(C)} chunk read failed (${(e as Error).message})`);
      return this.direct(offset, length);
    }
    if (this.cancelled) throw new LoadCancelled(this.cancelled);
    this.stats.reads++;
    this.stats.bytesRead += end - offset;
    if (parts.length === 1) {
      const s = offset - first * C;
      return parts[0]!.subarray(s, s + (end - offset));
    }
    const out = new Uint8Array(end - offset);
    let o = 0;
    for (let k = 0; k < parts.length; k++) {
      const base = (first + k) * C;
      const s = Math.max(offset, base) - base;
      const e = Math.min(end, base + C) - base;
      out.set(parts[k]!.subarray(s, e), o);
      o += e - s;
    }
    return out;
  }

  /** Stops: pending and later reads reject with LoadCancelled, and every chunk is dropped. */
  cancel(reason: string): void {
    this.cancelled = reason;
    this.chunks.clear();
  }

  private chunk(i: number): Promise<Uint8Array> {
    let p = this.chunks.get(i);
    if (p) return p;
    const C = this.options.chunkBytes;
    const start = i * C;
    const length = Math.min(C, this.size - start);
    this.stats.chunks++;
    p = this.readRange(start, length).then((b) => {
      if (b.length !== length) throw new Error(`short read: ${b.length} of ${length} bytes at ${start}`);
      this.stats.bytesFetched += b.length;
      return b;
    });
    this.chunks.set(i, p);
    // A failed chunk is forgotten (and a read-ahead nobody waits for must not be an unhandled rejection).
    p.catch(() => {
      if (this.chunks.get(i) === p) this.chunks.delete(i);
    });
    return p;
  }

  /** Drops the chunks outside [offset - behind, end + ahead) (the read's own chunks stay). */
  private evict(offset: number, end: number): void {
    const C = this.options.chunkBytes;
    const lo = Math.floor(Math.max(0, offset - this.options.behindBytes) / C);
    const hi = Math.floor((end - 1 + this.options.aheadBytes) / C);
    for (const i of this.chunks.keys()) if (i < lo || i > hi) this.chunks.delete(i);
  }

  private fallBack(reason: string): void {
    if (this.fallback) return;
    this.fallback = reason;
    this.chunks.clear();
    this.onFallback?.(reason);
  }

  private async direct(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.readRange(offset, Math.min(length, this.size - offset));
    if (this.cancelled) throw new LoadCancelled(this.cancelled);
    this.stats.reads++;
    this.stats.directReads++;
    this.stats.bytesRead += b.length;
    this.stats.bytesFetched += b.length;
    return b;
  }
}

export function fmtMiB(n: number): string {
  return `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB`;
}
