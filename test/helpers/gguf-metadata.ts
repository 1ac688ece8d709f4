// Test-only GGUF metadata reader for the tokenizer tests (the lead may swap it for the real reader in
// src/engine/model/gguf.ts; keep the signature). Reads the whole file, parses the GGUF v2/v3 header and key/value
// section: "GGUF", u32 version, u64 tensor_count, u64 kv_count, then kv_count (string key, u32 type, value). Strings are
// u64 length + UTF-8 bytes; arrays are u32 element type + u64 count + elements. u64/i64 come back as number when safe,
// else as bigint. Tensor infos and data are not read.
import { readFileSync } from 'node:fs';
import type { MetadataValue } from '../../src/engine/model/tokenizer.js';

export type { MetadataValue };

export function readGGUFMetadata(path: string): Map<string, MetadataValue> {
  const buf = readFileSync(path);
  const b = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dec = new TextDecoder('utf-8');
  let o = 0;

  const need = (n: number, what: string): void => {
    if (o + n > b.length) throw new Error(`${path}: truncated while reading ${what} at offset ${o}`);
  };
  const u32 = (what: string): number => {
    need(4, what);
    const v = dv.getUint32(o, true);
    o += 4;
    return v;
  };
  const u64 = (what: string): bigint => {
    need(8, what);
    const v = dv.getBigUint64(o, true);
    o += 8;
    return v;
  };
  const big = (v: bigint): number | bigint =>
    v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  const str = (what: string): string => {
    const n = Number(u64(`${what} length`));
    need(n, what);
    const s = dec.decode(b.subarray(o, o + n));
    o += n;
    return s;
  };

  const value = (t: number, what: string, depth: number): MetadataValue => {
    switch (t) {
      case 0: need(1, what); return dv.getUint8(o++);
      case 1: need(1, what); return dv.getInt8(o++);
      case 2: { need(2, what); const v = dv.getUint16(o, true); o += 2; return v; }
      case 3: { need(2, what); const v = dv.getInt16(o, true); o += 2; return v; }
      case 4: return u32(what);
      case 5: { need(4, what); const v = dv.getInt32(o, true); o += 4; return v; }
      case 6: { need(4, what); const v = dv.getFloat32(o, true); o += 4; return v; }
      case 7: need(1, what); return dv.getUint8(o++) !== 0;
      case 8: return str(what);
      case 9: {
        if (depth > 4) throw new Error(`${path}: arrays nested too deep in ${what}`);
        const et = u32(`${what} element type`);
        const n = Number(u64(`${what} count`));
        if (n > b.length - o) throw new Error(`${path}: array ${what} claims ${n} elements, more than the file holds`);
        const out: MetadataValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = value(et, what, depth + 1);
        return out;
      }
      case 10: return big(u64(what));
      case 11: { need(8, what); const v = dv.getBigInt64(o, true); o += 8; return big(v); }
      case 12: { need(8, what); const v = dv.getFloat64(o, true); o += 8; return v; }
      default: throw new Error(`${path}: unknown GGUF value type ${t} for ${what}`);
    }
  };

  need(4, 'magic');
  const magic = String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!);
  if (magic !== 'GGUF') throw new Error(`${path}: not a GGUF file (magic ${JSON.stringify(magic)})`);
  o = 4;
  const version = u32('version');
  if (version !== 2 && version !== 3) throw new Error(`${path}: unsupported GGUF version ${version}`);
  u64('tensor count');
  const kvCount = Number(u64('kv count'));
  const md = new Map<string, MetadataValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = str(`key #${i}`);
    const t = u32(`type of ${key}`);
    md.set(key, value(t, key, 0));
  }
  return md;
}

/**
 * The bytes of the GGUF file at `path` with the string value of `key` replaced by `value` (the key must exist and hold
 * a string). Only for files without tensors (the vocab fixtures): a longer or shorter value would shift tensor data.
 * Used to make vocab files with another tokenizer.ggml.pre for the cross-check against llama.cpp.
 */
export function ggufWithStringValue(path: string, key: string, value: string): Uint8Array {
  const buf = readFileSync(path);
  const b = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getBigUint64(8, true) !== 0n) throw new Error(`${path}: has tensors; ggufWithStringValue only rewrites tensor-less files`);
  const kvCount = Number(dv.getBigUint64(16, true));
  const dec = new TextDecoder();
  let o = 24;
  const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (t: number): void => {
    if (t === 8) {
      o += 8 + Number(dv.getBigUint64(o, true));
    } else if (t === 9) {
      const et = dv.getUint32(o, true);
      const n = Number(dv.getBigUint64(o + 4, true));
      o += 12;
      if (et !== 8 && et !== 9) o += n * sizes[et]!;
      else for (let i = 0; i < n; i++) skip(et);
    } else {
      const s = sizes[t];
      if (s === undefined) throw new Error(`${path}: unknown GGUF value type ${t}`);
      o += s;
    }
  };
  for (let i = 0; i < kvCount; i++) {
    const klen = Number(dv.getBigUint64(o, true));
    const k = dec.decode(b.subarray(o + 8, o + 8 + klen));
    o += 8 + klen;
    const t = dv.getUint32(o, true);
    o += 4;
    if (k === key) {
      if (t !== 8) throw new Error(`${path}: ${key} is not a string`);
      const oldLen = Number(dv.getBigUint64(o, true));
      const enc = new TextEncoder().encode(value);
      const out = new Uint8Array(b.length - oldLen + enc.length);
      out.set(b.subarray(0, o), 0);
      new DataView(out.buffer).setBigUint64(o, BigInt(enc.length), true);
      out.set(enc, o + 8);
      out.set(b.subarray(o + 8 + oldLen), o + 8 + enc.length);
      return out;
    }
    skip(t);
  }
  throw new Error(`${path}: no key ${key}`);
}
