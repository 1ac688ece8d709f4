// Test-only: a GGUF v3 writer for synthetic models. Metadata values carry explicit GGUF types, or are copied byte for
// byte from another GGUF file (e.g. a vocabulary's `tokenizer.*` keys, each keeping its exact type). Tensors are given
// as ggml dims (dims[0] innermost), a ggml type and raw bytes, or a callback that produces the bytes when they are
// written (whole, or in chunks), so that a large model can be streamed to a file one tensor at a time.
//
// Layout (as ggml's gguf.cpp writes it): "GGUF", u32 3, u64 tensor count, u64 kv count, kv pairs, tensor infos, zero
// padding to the alignment (32), then each tensor's bytes followed by zero padding to the alignment.
import { open } from 'node:fs/promises';
import { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../../src/engine/model/gguf.js';

export const GGUF_ALIGNMENT = 32;

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
export const GGUF_VALUE_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GGUFScalarType = Exclude<keyof typeof GGUF_VALUE_TYPE, 'array'>;
type Scalar = number | bigint | boolean | string;

export type GGUFValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; of: GGUFScalarType; value: readonly Scalar[] };

/** A tensor's bytes: given, or produced when written (a single array, or chunks that add up to the tensor). */
export type TensorData = Uint8Array | (() => Uint8Array | Iterable<Uint8Array>);

interface TensorEntry {
  name: string;
  dims: readonly number[];
  type: GGMLType;
  byteLength: number;
  data: TensorData;
}

const enc = new TextEncoder();

/** Little-endian byte sink that grows as needed. */
class Bytes {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.dv.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  string(s: string): void {
    const b = enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  scalar(type: GGUFScalarType, v: Scalar, key: string): void {
    const bad = (): never => {
      throw new Error(`gguf-writer: ${key}: ${String(v)} is not a valid ${type}`);
    };
    const int = (lo: number, hi: number): number => (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : bad());
    const n = this.length;
    switch (type) {
      case 'string':
        return typeof v === 'string' ? this.string(v) : bad();
      case 'bool':
        this.reserve(1);
        this.dv.setUint8(n, typeof v === 'boolean' ? Number(v) : bad());
        this.length += 1;
        return;
      case 'u8':
      case 'i8':
        this.reserve(1);
        if (type === 'u8') this.dv.setUint8(n, int(0, 255));
        else this.dv.setInt8(n, int(-128, 127));
        this.length += 1;
        return;
      case 'u16':
      case 'i16':
        this.reserve(2);
        if (type === 'u16') this.dv.setUint16(n, int(0, 65535), true);
        else this.dv.setInt16(n, int(-32768, 32767), true);
        this.length += 2;
        return;
      case 'u32':
        return this.u32(int(0, 2 ** 32 - 1));
      case 'i32':
        this.reserve(4);
        this.dv.setInt32(n, int(-(2 ** 31), 2 ** 31 - 1), true);
        this.length += 4;
        return;
      case 'f32':
      case 'f64':
        if (typeof v !== 'number') bad();
        this.reserve(type === 'f32' ? 4 : 8);
        if (type === 'f32') this.dv.setFloat32(n, v as number, true);
        else this.dv.setFloat64(n, v as number, true);
        this.length += type === 'f32' ? 4 : 8;
        return;
      case 'u64':
      case 'i64': {
        if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) bad();
        const b = BigInt(v as number | bigint);
        if (type === 'u64' ? b < 0n || b >= 1n << 64n : b < -(1n << 63n) || b >= 1n << 63n) bad();
        this.reserve(8);
        if (type === 'u64') this.dv.setBigUint64(n, b, true);
        else this.dv.setBigInt64(n, b, true);
        this.length += 8;
        return;
      }
    }
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** The metadata entries of a GGUF file: key, and the raw bytes of its value type and value. */
export function rawMetadata(file: Uint8Array): { key: string; raw: Uint8Array }[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = String.fromCharCode(...file.subarray(0, 4));
  if (magic !== 'GGUF') throw new Error(`gguf-writer: not a GGUF file (magic ${JSON.stringify(magic)})`);
  const version = dv.getUint32(4, true);
  if (version !== 2 && version !== 3) throw new Error(`gguf-writer: GGUF version ${version}`);
  const kvCount = Number(dv.getBigUint64(16, true));
  const dec = new TextDecoder('utf-8', { fatal: true });
  let o = 24;
  const need = (n: number): void => {
    if (o + n > file.length) throw new Error('gguf-writer: the metadata runs past the end of the file');
  };
  const skip = (type: number): void => {
    const fixed = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][type];
    if (fixed === undefined) throw new Error(`gguf-writer: value type ${type} at offset ${o}`);
    if (fixed) {
      need(fixed);
      o += fixed;
    } else if (type === GGUF_VALUE_TYPE.string) {
      need(8);
      o += 8 + Number(dv.getBigUint64(o, true));
      need(0);
    } else {
      need(12);
      const et = dv.getUint32(o, true);
      const n = Number(dv.getBigUint64(o + 4, true));
      o += 12;
      for (let i = 0; i < n; i++) skip(et);
    }
  };
  const out: { key: string; raw: Uint8Array }[] = [];
  for (let i = 0; i < kvCount; i++) {
    need(8);
    const len = Number(dv.getBigUint64(o, true));
    need(8 + len);
    const key = dec.decode(file.subarray(o + 8, o + 8 + len));
    o += 8 + len;
    const start = o;
    need(4);
    const type = dv.getUint32(o, true);
    o += 4;
    skip(type);
    out.push({ key, raw: file.slice(start, o) });
  }
  return out;
}

export class GGUFWriter {
  private readonly kv = new Map<string, Uint8Array>(); // key -> value type + value bytes, in insertion order
  private readonly tensors: TensorEntry[] = [];
  private readonly tensorNames = new Set<string>();

  /** Adds a metadata entry (keys are unique). */
  set(key: string, v: GGUFValue): this {
    const b = new Bytes();
    if (v.type === 'array') {
      b.u32(GGUF_VALUE_TYPE.array);
      b.u32(GGUF_VALUE_TYPE[v.of]);
      b.u64(v.value.length);
      for (const x of v.value) b.scalar(v.of, x, key);
    } else {
      b.u32(GGUF_VALUE_TYPE[v.type]);
      b.scalar(v.type, v.value, key);
    }
    return this.setRaw(key, b.result());
  }

  string(key: string, value: string): this {
    return this.set(key, { type: 'string', value });
  }
  u32(key: string, value: number): this {
    return this.set(key, { type: 'u32', value });
  }
  i32(key: string, value: number): this {
    return this.set(key, { type: 'i32', value });
  }
  f32(key: string, value: number): this {
    return this.set(key, { type: 'f32', value });
  }
  bool(key: string, value: boolean): this {
    return this.set(key, { type: 'bool', value });
  }

  /** Adds an entry from its raw bytes (u32 value type, then the value as GGUF stores it). */
  setRaw(key: string, raw: Uint8Array): this {
    if (this.kv.has(key)) throw new Error(`gguf-writer: duplicate metadata key ${key}`);
    this.kv.set(key, raw);
    return this;
  }

  /** Copies the metadata entries of another GGUF file whose key passes `keep`, byte for byte; returns their keys. */
  copyMetadata(file: Uint8Array, keep: (key: string) => boolean): string[] {
    const keys: string[] = [];
    for (const { key, raw } of rawMetadata(file)) {
      if (!keep(key)) continue;
      this.setRaw(key, raw);
      keys.push(key);
    }
    return keys;
  }

  /** Adds a tensor; `data` must be exactly the bytes its dims and type take (checked when written). */
  tensor(name: string, dims: readonly number[], type: GGMLType, data: TensorData): this {
    if (this.tensorNames.has(name)) throw new Error(`gguf-writer: duplicate tensor ${name}`);
    const tr = ggmlTypeTraits(type);
    if (!tr) throw new Error(`gguf-writer: ${name}: unknown ggml type ${type}`);
    if (dims.length < 1 || dims.length > 4 || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new Error(`gguf-writer: ${name}: bad dims [${dims.join(', ')}]`);
    }
    if (dims[0]! % tr.blockSize) {
      throw new Error(`gguf-writer: ${name}: dims[0] = ${dims[0]} is not a multiple of the ${ggmlTypeName(type)} block size ${tr.blockSize}`);
    }
    const byteLength = (dims.reduce((a, b) => a * b, 1) / tr.blockSize) * tr.typeSize;
    if (data instanceof Uint8Array && data.length !== byteLength) {
      throw new Error(`gguf-writer: ${name}: ${data.length} bytes, ${ggmlTypeName(type)} [${dims.join(', ')}] takes ${byteLength}`);
    }
    this.tensors.push({ name, dims: [...dims], type, byteLength, data });
    this.tensorNames.add(name);
    return this;
  }

  /** Everything before the tensor data: preamble, metadata, tensor infos and the padding to the data section. */
  header(): Uint8Array {
    const b = new Bytes();
    b.bytes(enc.encode('GGUF'));
    b.u32(3);
    b.u64(this.tensors.length);
    b.u64(this.kv.size);
    for (const [key, raw] of this.kv) {
      b.string(key);
      b.bytes(raw);
    }
    let offset = 0;
    for (const t of this.tensors) {
      b.string(t.name);
      b.u32(t.dims.length);
      for (const d of t.dims) b.u64(d);
      b.u32(t.type);
      b.u64(offset);
      offset += padded(t.byteLength);
    }
    b.pad(GGUF_ALIGNMENT);
    return b.result();
  }

  /** Size of the whole file in bytes. */
  get size(): number {
    return this.header().length + this.tensors.reduce((a, t) => a + padded(t.byteLength), 0);
  }

  /** The whole file in memory (for small models). */
  toBytes(): Uint8Array {
    const head = this.header();
    const out = new Uint8Array(head.length + this.tensors.reduce((a, t) => a + padded(t.byteLength), 0));
    out.set(head);
    let o = head.length;
    for (const t of this.tensors) {
      let n = 0;
      for (const chunk of chunks(t)) {
        if (n + chunk.length > t.byteLength) tooLong(t, n + chunk.length);
        out.set(chunk, o + n);
        n += chunk.length;
      }
      if (n !== t.byteLength) tooLong(t, n);
      o += padded(t.byteLength);
    }
    return out;
  }

  /** Streams the file to `path`: the header, then each tensor's bytes as they are produced. Returns the file size. */
  async writeFile(path: string): Promise<number> {
    const fh = await open(path, 'w');
    try {
      const head = this.header();
      await writeAll(fh, head);
      let size = head.length;
      const zeros = new Uint8Array(GGUF_ALIGNMENT);
      for (const t of this.tensors) {
        let n = 0;
        for (const chunk of chunks(t)) {
          n += chunk.length;
          if (n > t.byteLength) tooLong(t, n);
          await writeAll(fh, chunk);
        }
        if (n !== t.byteLength) tooLong(t, n);
        const pad = padded(n) - n;
        if (pad) await writeAll(fh, zeros.subarray(0, pad));
        size += n + pad;
      }
      return size;
    } finally {
      await fh.close();
    }
  }
}

function padded(n: number): number {
  return Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
}

function chunks(t: TensorEntry): Iterable<Uint8Array> {
  if (t.data instanceof Uint8Array) return [t.data];
  const d = t.data();
  return d instanceof Uint8Array ? [d] : d;
}

function tooLong(t: TensorEntry, n: number): never {
  throw new Error(`gguf-writer: ${t.name}: produced ${n} bytes, ${ggmlTypeName(t.type)} [${t.dims.join(', ')}] takes ${t.byteLength}`);
}

async function writeAll(fh: import('node:fs/promises').FileHandle, b: Uint8Array): Promise<void> {
  let o = 0;
  while (o < b.length) {
    const { bytesWritten } = await fh.write(b, o, b.length - o);
    o += bytesWritten;
  }
}
