// Our own GGUF reader rather than @huggingface/gguf: it runs unchanged in Node and in a browser webview over a streamed
// ByteSource; it checks every length, count and offset against the file size, so a corrupted or truncated file gives a
// named GGUFError (never a crash, a hang or a giant allocation); and it keeps the bundle lean (no dependencies).
//
// Format (little-endian): "GGUF", u32 version (2|3), u64 tensor_count, u64 kv_count, kv pairs, tensor infos, padding to
// general.alignment, tensor data. Only the header is read here; tensor data is read on demand by readTensorData.
import { EngineError } from '../errors.js';
import { ggmlTypeName, ggmlTypeTraits, REMOVED_TYPES, type GGMLType } from '../formats/ggml-types.js';

export type MetadataValue = number | bigint | string | boolean | MetadataValue[];
export type Metadata = ReadonlyMap<string, MetadataValue>;

export { GGMLType, ggmlTypeName, ggmlTypeTraits } from '../formats/ggml-types.js';

export interface TensorInfo {
  name: string;
  /** ggml order: dims[0] is the innermost (contiguous) dimension; a weight (out=N, in=K) has dims [K, N]. */
  dims: number[];
  type: GGMLType;
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  /** Computed from dims and type. */
  byteLength: number;
}

export interface GGUFFile {
  version: number;
  metadata: Metadata;
  tensors: TensorInfo[];
  tensorByName: ReadonlyMap<string, TensorInfo>;
  alignment: number;
  /** Absolute offset of the data section (header end rounded up to the alignment). */
  dataOffset: number;
  fileSize: number;
}

export class GGUFError extends EngineError {
  constructor(message: string) {
    super('model-unreadable', message);
    this.name = 'GGUFError';
  }
}

export interface ByteSource {
  readonly size: number;
  /** Resolves to exactly `length` bytes from `offset` (a shorter result is reported as a read error). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)),
  };
}

// Limits that keep a corrupted header from causing a giant allocation even inside a large file.
const MAX_STRING_BYTES = 64 << 20;
const MAX_STRING_BYTES_BIG = BigInt(MAX_STRING_BYTES);
const MAX_ARRAY_ELEMENTS = 1 << 24;
const MAX_ARRAY_DEPTH = 16;
const MAX_DIMS = 4;
const DEFAULT_ALIGNMENT = 32;
const MIN_KV_BYTES = 13; // u64 key length + u32 type + 1-byte value
const MIN_TENSOR_INFO_BYTES = 24;
const FIRST_CHUNK = 1 << 20;
const MAX_CHUNK = 32 << 20;

const enum VT {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}
const VALUE_TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
/** The fewest bytes a value of each type takes (string: its length; array: element type and count). */
const MIN_VALUE_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];
/** Bytes of a fixed-size value, 0 for string and array. */
const FIXED_VALUE_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Sequential little-endian reader over a ByteSource, with a window that is refilled (and grown) as needed. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.buf.buffer);
  private bufStart = 0;
  private chunk = FIRST_CHUNK;

  constructor(private readonly src: ByteSource) {}

  get size(): number {
    return this.src.size;
  }

  get remaining(): number {
    return this.src.size - this.pos;
  }

  /** Makes [pos, pos + n) available in the window; `what` names the item for the error message. */
  async need(n: number, what: string): Promise<void> {
    const start = this.pos - this.bufStart;
    if (start >= 0 && start + n <= this.buf.length) return;
    if (n > this.remaining) {
      throw new GGUFError(
        `file truncated: ${what} needs bytes ${this.pos}..${this.pos + n} but the file has ${this.src.size} bytes`,
      );
    }
    const len = Math.min(Math.max(n, this.chunk), this.remaining);
    this.chunk = Math.min(this.chunk * 2, MAX_CHUNK);
    const bytes = await this.src.read(this.pos, len);
    if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
      throw new GGUFError(`read error: asked for ${len} bytes at offset ${this.pos}, got ${bytes?.length ?? 'none'}`);
    }
    // A plain Uint8Array view (a Node Buffer's subarray is much slower).
    this.buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bufStart = this.pos;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** True when [pos, pos + n) is already in the window (lets hot loops skip the await). */
  has(n: number): boolean {
    const start = this.pos - this.bufStart;
    return start >= 0 && start + n <= this.buf.length;
  }

  // The following read from the window; the caller has called need() first.
  private at(n: number): number {
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }
  u8(): number {
    return this.view.getUint8(this.at(1));
  }
  i8(): number {
    return this.view.getInt8(this.at(1));
  }
  u16(): number {
    return this.view.getUint16(this.at(2), true);
  }
  i16(): number {
    return this.view.getInt16(this.at(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.at(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.at(4), true);
  }
  f32(): number {
    return this.view.getFloat32(this.at(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.at(8), true);
  }
  u64(): bigint {
    return this.view.getBigUint64(this.at(8), true);
  }
  i64(): bigint {
    return this.view.getBigInt64(this.at(8), true);
  }
  /** A short all-ASCII string of n bytes (consumed), or undefined (nothing consumed): skips TextDecoder's overhead. */
  asciiOrUndefined(n: number): string | undefined {
    if (n > 64) return undefined;
    const i = this.pos - this.bufStart;
    const b = this.buf;
    let s = '';
    for (let j = i; j < i + n; j++) {
      const ch = b[j]!;
      if (ch >= 0x80) return undefined;
      s += String.fromCharCode(ch);
    }
    this.pos += n;
    return s;
  }
  bytes(n: number): Uint8Array {
    const i = this.at(n);
    return this.buf.subarray(i, i + n);
  }
}

function safeU64(v: bigint): number | bigint {
  return v <= MAX_SAFE ? Number(v) : v;
}

function safeI64(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

async function readU32(c: Cursor, what: string): Promise<number> {
  if (!c.has(4)) await c.need(4, what);
  return c.u32();
}

async function readU64(c: Cursor, what: string): Promise<bigint> {
  if (!c.has(8)) await c.need(8, what);
  return c.u64();
}

function checkStringLength(c: Cursor, at: number, len: bigint, what: string): number {
  if (len > BigInt(c.remaining)) {
    throw new GGUFError(
      `${what} at offset ${at} claims a length of ${len} bytes, beyond the end of the file (${c.size} bytes)`,
    );
  }
  const n = Number(len);
  if (n > MAX_STRING_BYTES) {
    throw new GGUFError(`${what} at offset ${at} claims a length of ${n} bytes (limit ${MAX_STRING_BYTES})`);
  }
  return n;
}

function decodeString(c: Cursor, n: number, what: string): string {
  const at = c.pos;
  try {
    return utf8.decode(c.bytes(n));
  } catch {
    throw new GGUFError(`invalid UTF-8 in ${what} at offset ${at}`);
  }
}

/** Reads a string when it is entirely in the window (the common case: no await); undefined, consuming nothing, if not. */
function tryReadString(c: Cursor, what: string, index: number): string | undefined {
  if (!c.has(8)) return undefined;
  const at = c.pos;
  const len = c.u64();
  const n = len <= BigInt(c.remaining) && len <= MAX_STRING_BYTES_BIG ? Number(len) : -1;
  if (n < 0 || !c.has(n)) {
    c.pos = at; // let readString read it again (and report any error)
    return undefined;
  }
  const s = c.asciiOrUndefined(n) ?? decodeString(c, n, `${what}[${index}]`);
  return s;
}

async function readString(c: Cursor, what: string): Promise<string> {
  const at = c.pos;
  const len = await readU64(c, `length of ${what}`);
  const n = checkStringLength(c, at, len, what);
  if (!c.has(n)) await c.need(n, what);
  return decodeString(c, n, what);
}

function checkValueType(t: number, at: number, what: string): void {
  if (t > VT.F64) throw new GGUFError(`invalid value type ${t} for ${what} at offset ${at}`);
}

/** Reads one value of type `t` (already validated). */
async function readValue(c: Cursor, t: number, what: string, depth: number): Promise<MetadataValue> {
  const fixed = FIXED_VALUE_BYTES[t]!;
  if (fixed > 0) {
    if (!c.has(fixed)) await c.need(fixed, what);
    return readFixed(c, t, what);
  }
  if (t === VT.STRING) return readString(c, what);
  return readArray(c, what, depth);
}

function readFixed(c: Cursor, t: number, what: string): number | bigint | boolean {
  switch (t) {
    case VT.U8:
      return c.u8();
    case VT.I8:
      return c.i8();
    case VT.U16:
      return c.u16();
    case VT.I16:
      return c.i16();
    case VT.U32:
      return c.u32();
    case VT.I32:
      return c.i32();
    case VT.F32:
      return c.f32();
    case VT.BOOL: {
      const at = c.pos;
      const b = c.u8();
      if (b > 1) throw new GGUFError(`invalid bool byte ${b} in ${what} at offset ${at}`);
      return b === 1;
    }
    case VT.U64:
      return safeU64(c.u64());
    case VT.I64:
      return safeI64(c.i64());
    case VT.F64:
      return c.f64();
    default:
      throw new GGUFError(`internal: not a fixed-size value type ${t}`);
  }
}

async function readArray(c: Cursor, what: string, depth: number): Promise<MetadataValue[]> {
  if (depth >= MAX_ARRAY_DEPTH) throw new GGUFError(`${what} at offset ${c.pos}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  const at = c.pos;
  const et = await readU32(c, `array element type of ${what}`);
  checkValueType(et, at, `array element type of ${what}`);
  const count = await readU64(c, `array length of ${what}`);
  const minBytes = count * BigInt(MIN_VALUE_BYTES[et]!);
  if (minBytes > BigInt(c.remaining)) {
    throw new GGUFError(
      `${what} at offset ${at}: array of ${count} ${VALUE_TYPE_NAMES[et]} values (at least ${minBytes} bytes) runs past the end of the file (${c.size} bytes)`,
    );
  }
  const n = Number(count);
  if (n > MAX_ARRAY_ELEMENTS) {
    throw new GGUFError(`${what} at offset ${at}: array of ${n} values exceeds the limit of ${MAX_ARRAY_ELEMENTS}`);
  }
  const out: MetadataValue[] = new Array(n);
  const fixed = FIXED_VALUE_BYTES[et]!;
  if (fixed > 0) {
    await c.need(n * fixed, what);
    for (let i = 0; i < n; i++) out[i] = readFixed(c, et, what);
    return out;
  }
  for (let i = 0; i < n; i++) {
    if (et === VT.STRING) out[i] = tryReadString(c, what, i) ?? (await readString(c, `${what}[${i}]`));
    else out[i] = await readArray(c, `${what}[${i}]`, depth + 1);
  }
  return out;
}

function tensorByteLength(dims: readonly number[], blockSize: number, typeSize: number): number {
  let n = 1;
  for (const d of dims) n *= d;
  return (n / blockSize) * typeSize;
}

/**
 * Reads and validates the header of a GGUF file: metadata and tensor infos, never the tensor data. Throws GGUFError,
 * naming the problem (and, where it helps, the byte offset and the key or tensor), for anything malformed.
 */
export async function readGGUF(src: ByteSource): Promise<GGUFFile> {
  const size = src.size;
  if (!Number.isSafeInteger(size) || size < 0) throw new GGUFError(`invalid source size ${size}`);
  const c = new Cursor(src);

  // Magic.
  if (size < 4) {
    const head = size > 0 ? await src.read(0, size) : new Uint8Array(0);
    const isPrefix = head.every((b, i) => b === 'GGUF'.charCodeAt(i));
    throw new GGUFError(
      isPrefix
        ? `file truncated: the header needs at least 24 bytes but the file has ${size} bytes`
        : `not a GGUF file: expected the magic "GGUF" at offset 0, found bytes ${hex(head)}`,
    );
  }
  await c.need(4, 'magic');
  const magic = c.bytes(4);
  if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46) {
    throw new GGUFError(`not a GGUF file: expected the magic "GGUF" at offset 0, found bytes ${hex(magic)}`);
  }

  // Version (and big-endian detection: a big-endian version 3 reads as 0x03000000).
  const version = await readU32(c, 'version');
  if (version !== 2 && version !== 3) {
    const swapped = bswap32(version);
    if ((version & 0xffff) === 0 && swapped >= 1 && swapped <= 0xffff) {
      throw new GGUFError(
        `big-endian GGUF file (the version reads as ${version}, byte-swapped ${swapped}); only little-endian GGUF files are supported`,
      );
    }
    throw new GGUFError(`unsupported GGUF version ${version} (supported: 2 and 3)`);
  }

  // Counts: checked against the file size before any loop.
  const tensorCount = await readU64(c, 'tensor count');
  const kvCount = await readU64(c, 'metadata entry count');
  const minBytes = tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) + kvCount * BigInt(MIN_KV_BYTES);
  if (minBytes > BigInt(c.remaining)) {
    throw new GGUFError(
      `the header claims ${tensorCount} tensors and ${kvCount} metadata entries, which cannot fit in a file of ${size} bytes`,
    );
  }

  // Metadata.
  const metadata = new Map<string, MetadataValue>();
  const valueTypes = new Map<string, number>();
  for (let i = 0, n = Number(kvCount); i < n; i++) {
    const keyAt = c.pos;
    const key = await readString(c, `metadata key #${i}`);
    if (metadata.has(key)) throw new GGUFError(`duplicate metadata key "${key}" at offset ${keyAt}`);
    const what = `metadata value "${key}"`;
    const typeAt = c.pos;
    const t = await readU32(c, `value type of metadata key "${key}"`);
    checkValueType(t, typeAt, `metadata key "${key}"`);
    metadata.set(key, await readValue(c, t, what, 0));
    valueTypes.set(key, t);
  }

  // Alignment.
  let alignment = DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    const t = valueTypes.get('general.alignment')!;
    if (t !== VT.U32) throw new GGUFError(`general.alignment must be a u32, found a ${VALUE_TYPE_NAMES[t]}`);
    const a = al as number;
    if (a === 0 || (a & (a - 1)) !== 0) throw new GGUFError(`general.alignment ${a} is not a power of two`);
    alignment = a;
  }

  // Tensor infos.
  const tensors: TensorInfo[] = [];
  const relOffsets: number[] = [];
  const tensorByName = new Map<string, TensorInfo>();
  for (let i = 0, n = Number(tensorCount); i < n; i++) {
    const infoAt = c.pos;
    const name = await readString(c, `name of tensor #${i}`);
    if (tensorByName.has(name)) throw new GGUFError(`duplicate tensor name "${name}" at offset ${infoAt}`);
    const nDims = await readU32(c, `dimension count of tensor "${name}"`);
    if (nDims < 1 || nDims > MAX_DIMS) {
      throw new GGUFError(`tensor "${name}" at offset ${infoAt}: ${nDims} dimensions (must be 1..${MAX_DIMS})`);
    }
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const v = await readU64(c, `dimensions of tensor "${name}"`);
      if (v === 0n) throw new GGUFError(`tensor "${name}" at offset ${infoAt}: dimension ${d} is 0`);
      elements *= v;
      // The smallest ggml type takes more than 1/8 byte per element, so more elements than 8 × file size is absurd.
      if (v > MAX_SAFE || elements > BigInt(size) * 8n) {
        throw new GGUFError(
          `tensor "${name}" at offset ${infoAt}: absurd dimensions (dimension ${d} is ${v}) for a file of ${size} bytes`,
        );
      }
      dims.push(Number(v));
    }
    const typeAt = c.pos;
    const type = await readU32(c, `type of tensor "${name}"`);
    const traits = ggmlTypeTraits(type);
    if (!traits) {
      const removed = REMOVED_TYPES.get(type);
      throw new GGUFError(
        removed
          ? `tensor "${name}" has ggml type ${type} (${removed}), which ggml no longer supports (offset ${typeAt})`
          : `tensor "${name}" has unknown ggml type id ${type} (offset ${typeAt})`,
      );
    }
    const { blockSize, typeSize } = traits;
    if (dims[0]! % blockSize !== 0) {
      throw new GGUFError(
        `tensor "${name}": dims[0] = ${dims[0]} is not a multiple of the ${ggmlTypeName(type)} block size ${blockSize}`,
      );
    }
    const rel = await readU64(c, `data offset of tensor "${name}"`);
    if (rel > BigInt(size)) {
      throw new GGUFError(`tensor "${name}": data offset ${rel} is beyond the end of the file (${size} bytes): the file is truncated or corrupted`);
    }
    if (Number(rel) % alignment !== 0) {
      throw new GGUFError(`tensor "${name}": data offset ${rel} is not a multiple of the alignment ${alignment}`);
    }
    const info: TensorInfo = { name, dims, type, offset: 0, byteLength: tensorByteLength(dims, blockSize, typeSize) };
    tensors.push(info);
    relOffsets.push(Number(rel));
    tensorByName.set(name, info);
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  tensors.forEach((t, i) => {
    t.offset = dataOffset + relOffsets[i]!;
    const end = t.offset + t.byteLength;
    if (end > size) {
      throw new GGUFError(`file truncated: tensor ${t.name} needs bytes ${t.offset}..${end} but the file has ${size} bytes`);
    }
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.offset < a.offset + a.byteLength) {
      throw new GGUFError(
        `tensors ${a.name} (bytes ${a.offset}..${a.offset + a.byteLength}) and ${b.name} (bytes ${b.offset}..${b.offset + b.byteLength}) overlap`,
      );
    }
  }

  return { version, metadata, tensors, tensorByName, alignment, dataOffset, fileSize: size };
}

/** Reads one tensor's raw bytes (ggml layout). */
export async function readTensorData(src: ByteSource, t: TensorInfo): Promise<Uint8Array> {
  const end = t.offset + t.byteLength;
  if (end > src.size) {
    throw new GGUFError(`file truncated: tensor ${t.name} needs bytes ${t.offset}..${end} but the file has ${src.size} bytes`);
  }
  const bytes = await src.read(t.offset, t.byteLength);
  if (bytes.length !== t.byteLength) {
    throw new GGUFError(
      `read error: tensor ${t.name} needs ${t.byteLength} bytes at offset ${t.offset}, the source returned ${bytes.length}`,
    );
  }
  return bytes;
}
