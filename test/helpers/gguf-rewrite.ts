// Test-only: derive new GGUF files from real ones. The metadata section is copied byte for byte (so every value keeps
// its GGUF type), tensors may change type (e.g. F32 -> Q8_0 with ggml's reference quantizer), u32 metadata keys can be
// added, and u32 values and i32 array elements patched. Used to make fixtures that the project has no file for (a Q8_0
// model, a partial-rotary model, a model with FIM tokens), which llama.cpp then loads as the oracle where it can.
import { readGGUF, bytesSource, readTensorData, GGMLType, ggmlTypeTraits, type TensorInfo } from '../../src/engine/model/gguf.js';

const enc = new TextEncoder();

/** Byte length of the metadata section (after the 24-byte preamble) and where it ends. */
function metadataEnd(b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const kvCount = Number(dv.getBigUint64(16, true));
  let o = 24;
  const skip = (type: number): void => {
    switch (type) {
      case 0:
      case 1:
      case 7:
        o += 1;
        return;
      case 2:
      case 3:
        o += 2;
        return;
      case 4:
      case 5:
      case 6:
        o += 4;
        return;
      case 10:
      case 11:
      case 12:
        o += 8;
        return;
      case 8:
        o += 8 + Number(dv.getBigUint64(o, true));
        return;
      case 9: {
        const et = dv.getUint32(o, true);
        const n = Number(dv.getBigUint64(o + 4, true));
        o += 12;
        for (let i = 0; i < n; i++) skip(et);
        return;
      }
      default:
        throw new Error(`gguf-rewrite: value type ${type}`);
    }
  };
  for (let i = 0; i < kvCount; i++) {
    o += 8 + Number(dv.getBigUint64(o, true)); // key
    const type = dv.getUint32(o, true);
    o += 4;
    skip(type);
  }
  return o;
}

/** ggml's reference Q8_0 quantizer: per block of 32, d = amax / 127 (stored as f16), q = round(x / d). */
export function quantizeQ8_0Bytes(x: Float32Array): Uint8Array {
  if (x.length % 32) throw new Error('Q8_0 needs a multiple of 32 elements');
  const out = new Uint8Array((x.length / 32) * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 34, f32ToF16Bits(d), true);
    for (let i = 0; i < 32; i++) {
      const v = x[b * 32 + i]! * id;
      dv.setInt8(b * 34 + 2 + i, Math.sign(v) * Math.round(Math.abs(v))); // roundf: half away from zero
    }
  }
  return out;
}

const f16Scratch = new Float32Array(1);
const f16ScratchBits = new Uint32Array(f16Scratch.buffer);

export function f32ToF16Bits(v: number): number {
  f16Scratch[0] = v;
  const x = f16ScratchBits[0]!;
  const sign = (x >>> 16) & 0x8000;
  let e = ((x >>> 23) & 0xff) - 127 + 15;
  let m = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * Rewrites a GGUF file with some tensors converted (`convert` returns the new type and bytes, or null to keep it) and
 * the u32 metadata keys of `addU32` appended after the existing ones.
 */
export async function rewriteGGUF(
  bytes: Uint8Array,
  convert: (t: TensorInfo, data: Uint8Array) => { type: GGMLType; data: Uint8Array } | null,
  addU32: Readonly<Record<string, number>> = {},
): Promise<Uint8Array> {
  const f = await readGGUF(bytesSource(bytes));
  const src = bytesSource(bytes);
  const tensors: { t: TensorInfo; type: number; data: Uint8Array }[] = [];
  for (const t of f.tensors) {
    const data = await readTensorData(src, t);
    const c = convert(t, data);
    tensors.push({ t, type: c ? c.type : t.type, data: c ? c.data : data });
  }
  const head: number[] = [];
  const u32 = (v: number) => head.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
  const u64 = (v: number) => {
    u32(v % 2 ** 32);
    u32(Math.floor(v / 2 ** 32));
  };
  const mdEnd = metadataEnd(bytes);
  head.push(...bytes.subarray(0, mdEnd));
  const added = Object.entries(addU32);
  const kvCount = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(16, true) + BigInt(added.length);
  const count = new Uint8Array(8);
  new DataView(count.buffer).setBigUint64(0, kvCount, true);
  head.splice(16, 8, ...count);
  for (const [key, value] of added) {
    const k = enc.encode(key);
    u64(k.length);
    head.push(...k);
    u32(4); // GGUF u32
    u32(value);
  }
  const align = f.alignment;
  let offset = 0;
  const offsets: number[] = [];
  for (const { t, type, data } of tensors) {
    const name = enc.encode(t.name);
    u64(name.length);
    head.push(...name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(type);
    u64(offset);
    offsets.push(offset);
    const tr = ggmlTypeTraits(type)!;
    const expected = (t.dims.reduce((a, b) => a * b, 1) / tr.blockSize) * tr.typeSize;
    if (expected !== data.length) throw new Error(`${t.name}: ${data.length} bytes for type ${type}, expected ${expected}`);
    offset = Math.ceil((offset + data.length) / align) * align;
  }
  const dataStart = Math.ceil(head.length / align) * align;
  const out = new Uint8Array(dataStart + offset);
  out.set(head);
  tensors.forEach(({ data }, i) => out.set(data, dataStart + offsets[i]!));
  return out;
}

/** Offset of the value type of metadata key `key` (a search for the length-prefixed key; it must exist). */
function valueTypeAt(bytes: Uint8Array, key: string): number {
  const k = enc.encode(key);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 8; i + k.length + 8 < bytes.length; i++) {
    let hit = true;
    for (let j = 0; j < k.length && hit; j++) hit = bytes[i + j] === k[j];
    if (hit && Number(dv.getBigUint64(i - 8, true)) === k.length) return i + k.length;
  }
  throw new Error(`key ${key} not found`);
}

/** Sets a u32 metadata value in place (the key must exist with type u32). */
export function patchU32(bytes: Uint8Array, key: string, value: number): Uint8Array {
  const out = new Uint8Array(bytes); // a copy with its own buffer, also for a Node Buffer (whose slice() is a view)
  const at = valueTypeAt(out, key);
  const dv = new DataView(out.buffer);
  if (dv.getUint32(at, true) !== 4) throw new Error(`${key} is not a u32`);
  dv.setUint32(at + 4, value, true);
  return out;
}

/** Sets elements of an i32 array metadata value in place: index -> value. */
export function patchI32Array(bytes: Uint8Array, key: string, values: ReadonlyMap<number, number>): Uint8Array {
  const out = new Uint8Array(bytes);
  const at = valueTypeAt(out, key);
  const dv = new DataView(out.buffer);
  if (dv.getUint32(at, true) !== 9 || dv.getUint32(at + 4, true) !== 5) throw new Error(`${key} is not an i32 array`);
  const n = Number(dv.getBigUint64(at + 8, true));
  for (const [i, v] of values) {
    if (!(i >= 0 && i < n)) throw new Error(`${key}[${i}] outside the array (${n})`);
    dv.setInt32(at + 16 + 4 * i, v, true);
  }
  return out;
}
