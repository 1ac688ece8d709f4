// The GGUF reader and the llama config: the fixture models parse to the documented facts; every metadata key and tensor
// info agrees with node-llama-cpp's independent reader (and token counts with llama.cpp itself); truncated, bit-flipped
// and hand-made malformed files give a named error (GGUFError / ModelFormatError), never a crash, a hang or another type.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ModelFormatError, modelConfigFromGGUF, tensorNamesForLayer } from '../../src/engine/model/config.js';
import {
  bytesSource,
  GGMLType,
  GGUFError,
  ggmlTypeName,
  ggmlTypeTraits,
  readGGUF,
  readTensorData,
} from '../../src/engine/model/gguf.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { sharedFixtures } from '../../src/cli/models.js';
import { rng } from '../../src/engine/util/rng.js';
import { skipOrFail } from '../helpers/fixtures.js';

const FIXTURES = sharedFixtures();
const STORIES = join(FIXTURES, 'models', 'stories260K.gguf');
const TINY = join(FIXTURES, 'models', 'llama-2-tiny-random.gguf');
const VOCAB_DIR = join(FIXTURES, 'vocab');
const VOCAB_FILES = existsSync(VOCAB_DIR) ? readdirSync(VOCAB_DIR).filter((f) => f.endsWith('.gguf')).sort() : [];

const missing = (p: string) => `missing fixture ${p}`;

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

async function withTimeout<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: hung for more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything a model load reads: header, config, every tensor's data. */
async function loadFully(bytes: Uint8Array): Promise<void> {
  const src = bytesSource(bytes);
  const f = await readGGUF(src);
  modelConfigFromGGUF(f);
  for (const t of f.tensors) {
    const d = await readTensorData(src, t);
    assert.equal(d.length, t.byteLength);
  }
}

/** Loads `bytes`; resolves to the error (null when the load succeeded); fails on a non-named error or a hang. */
async function loadOutcome(bytes: Uint8Array, label: string): Promise<Error | null> {
  const err = await withTimeout(
    loadFully(bytes).then(
      () => null,
      (e: unknown) => e,
    ),
    10_000,
    label,
  );
  if (err === null) return null;
  if (!(err instanceof GGUFError || err instanceof ModelFormatError)) {
    assert.fail(`${label}: expected GGUFError or ModelFormatError, got ${String((err as Error)?.stack ?? err)}`);
  }
  assert.ok(err.message.length > 0, `${label}: empty message`);
  return err;
}

async function rejectsWith(p: Promise<unknown>, cls: typeof GGUFError | typeof ModelFormatError, message: string) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as Error).message, message);
    return true;
  });
}

const parse = (bytes: Uint8Array) => readGGUF(bytesSource(bytes));
const parseConfig = async (bytes: Uint8Array) => modelConfigFromGGUF(await parse(bytes));

const enc = new TextEncoder();

/** Offset of a tensor info's fields in a GGUF file (found by its length-prefixed name). */
function tensorInfoAt(bytes: Uint8Array, name: string): { name: number; nDims: number; dims: number; type: number } {
  const needle = Buffer.alloc(8 + name.length);
  needle.writeBigUInt64LE(BigInt(name.length));
  needle.write(name, 8, 'utf8');
  const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).lastIndexOf(needle);
  assert.ok(at >= 0, `tensor info ${name} not found`);
  const nDimsAt = at + 8 + name.length;
  const nDims = new DataView(bytes.buffer, bytes.byteOffset).getUint32(nDimsAt, true);
  return { name: at, nDims: nDimsAt, dims: nDimsAt + 4, type: nDimsAt + 4 + 8 * nDims };
}

function indexOf(bytes: Uint8Array, s: string): number {
  const i = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(s, 0, 'utf8');
  assert.ok(i >= 0, `${s} not found`);
  return i;
}

// A tiny GGUF writer for synthetic files.
const VT = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STR: 8, ARR: 9, U64: 10, I64: 11, F64: 12 };
type Arr = { arr: number; items: unknown[] };
type KV = { key: string; type: number; value?: unknown; raw?: number[] };
type TI = { name: string; dims: number[]; type?: number; offset?: number; nDims?: number };

class Writer {
  readonly b: number[] = [];
  u8(v: number) {
    this.b.push(v & 255);
  }
  u16(v: number) {
    for (let i = 0; i < 2; i++) this.u8(v >> (8 * i));
  }
  u32(v: number) {
    for (let i = 0; i < 4; i++) this.u8(Number((BigInt(v) >> BigInt(8 * i)) & 255n));
  }
  u64(v: number | bigint) {
    const x = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 8; i++) this.u8(Number((x >> BigInt(8 * i)) & 255n));
  }
  f(v: number, bytes: 4 | 8) {
    const dv = new DataView(new ArrayBuffer(bytes));
    if (bytes === 4) dv.setFloat32(0, v, true);
    else dv.setFloat64(0, v, true);
    for (let i = 0; i < bytes; i++) this.u8(dv.getUint8(i));
  }
  str(s: string | number[]) {
    const e = typeof s === 'string' ? Array.from(enc.encode(s)) : s;
    this.u64(e.length);
    this.b.push(...e);
  }
  value(type: number, v: unknown) {
    switch (type) {
      case VT.U8:
      case VT.I8:
        return this.u8(v as number);
      case VT.U16:
      case VT.I16:
        return this.u16(v as number);
      case VT.U32:
      case VT.I32:
        return this.u32(v as number);
      case VT.F32:
        return this.f(v as number, 4);
      case VT.BOOL:
        return this.u8(v ? 1 : 0);
      case VT.STR:
        return this.str(v as string);
      case VT.ARR: {
        const a = v as Arr;
        this.u32(a.arr);
        this.u64(a.items.length);
        for (const it of a.items) this.value(a.arr, it);
        return;
      }
      case VT.U64:
      case VT.I64:
        return this.u64(v as number | bigint);
      case VT.F64:
        return this.f(v as number, 8);
      default:
        throw new Error(`writer: type ${type}`);
    }
  }
}

const u64le = (v: number) => {
  const w = new Writer();
  w.u64(v);
  return w.b;
};

/** A GGUF file: header, then zero-filled tensor data laid out in order (`size` overrides the file's length). */
function writeGGUF(o: { kv: KV[]; tensors?: TI[]; version?: number; layoutAlignment?: number; size?: number }): Uint8Array {
  const tensors = o.tensors ?? [];
  const align = o.layoutAlignment ?? 32;
  const w = new Writer();
  w.b.push(...enc.encode('GGUF'));
  w.u32(o.version ?? 3);
  w.u64(tensors.length);
  w.u64(o.kv.length);
  for (const kv of o.kv) {
    w.str(kv.key);
    w.u32(kv.type);
    if (kv.raw) w.b.push(...kv.raw);
    else w.value(kv.type, kv.value);
  }
  let next = 0;
  const placed: { offset: number; len: number }[] = [];
  for (const t of tensors) {
    const type = t.type ?? GGMLType.F32;
    const tr = ggmlTypeTraits(type) ?? { blockSize: 1, typeSize: 4 };
    const len = Math.ceil(t.dims.reduce((a, b) => a * b, 1) / tr.blockSize) * tr.typeSize;
    const offset = t.offset ?? next;
    next = Math.ceil((offset + len) / align) * align;
    placed.push({ offset, len });
    w.str(t.name);
    w.u32(t.nDims ?? t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(type);
    w.u64(offset);
  }
  const dataOffset = Math.ceil(w.b.length / align) * align;
  const end = o.size ?? placed.reduce((m, p) => Math.max(m, dataOffset + p.offset + p.len), w.b.length);
  const out = new Uint8Array(end);
  out.set(w.b);
  return out;
}

const arr = (type: number, items: unknown[]): Arr => ({ arr: type, items });

interface SynthOptions {
  dim?: number;
  nHeads?: number;
  nKvHeads?: number;
  ffn?: number;
  vocab?: number;
  layers?: number;
  /** Replaces (or with null removes) metadata entries; new keys are appended. */
  kv?: Record<string, [number, unknown] | null>;
  /** Replaces fields of (or with null removes) tensors. */
  tensors?: Record<string, Partial<TI> | null>;
  extraTensors?: TI[];
  output?: boolean;
}

/** A valid small llama GGUF (F32 weights of zeros) with the given overrides. */
function synthLlama(o: SynthOptions = {}): Uint8Array {
  const dim = o.dim ?? 32;
  const nHeads = o.nHeads ?? 4;
  const nKv = o.nKvHeads ?? 2;
  const ffn = o.ffn ?? 64;
  const vocab = o.vocab ?? 16;
  const layers = o.layers ?? 1;
  const headDim = dim / nHeads;
  const kvs = new Map<string, [number, unknown]>([
    ['general.architecture', [VT.STR, 'llama']],
    ['general.name', [VT.STR, 'synth']],
    ['llama.block_count', [VT.U32, layers]],
    ['llama.context_length', [VT.U32, 256]],
    ['llama.embedding_length', [VT.U32, dim]],
    ['llama.feed_forward_length', [VT.U32, ffn]],
    ['llama.attention.head_count', [VT.U32, nHeads]],
    ['llama.attention.head_count_kv', [VT.U32, nKv]],
    ['llama.attention.layer_norm_rms_epsilon', [VT.F32, 1e-6]],
    ['tokenizer.ggml.tokens', [VT.ARR, arr(VT.STR, Array.from({ length: vocab }, (_, i) => `t${i}`))]],
  ]);
  for (const [k, v] of Object.entries(o.kv ?? {})) {
    if (v === null) kvs.delete(k);
    else kvs.set(k, v);
  }
  let tensors: TI[] = [{ name: 'token_embd.weight', dims: [dim, vocab] }];
  for (let i = 0; i < layers; i++) {
    const n = tensorNamesForLayer(i);
    tensors.push(
      { name: n.attnNorm, dims: [dim] },
      { name: n.wq, dims: [dim, nHeads * headDim] },
      { name: n.wk, dims: [dim, nKv * headDim] },
      { name: n.wv, dims: [dim, nKv * headDim] },
      { name: n.wo, dims: [nHeads * headDim, dim] },
      { name: n.ffnNorm, dims: [dim] },
      { name: n.wGate, dims: [dim, ffn] },
      { name: n.wUp, dims: [dim, ffn] },
      { name: n.wDown, dims: [ffn, dim] },
    );
  }
  tensors.push({ name: 'output_norm.weight', dims: [dim] });
  if (o.output) tensors.push({ name: 'output.weight', dims: [dim, vocab] });
  tensors.push(...(o.extraTensors ?? []));
  tensors = tensors.flatMap((t) => {
    const over = o.tensors?.[t.name];
    if (over === null) return [];
    return [{ ...t, ...over }];
  });
  return writeGGUF({ kv: [...kvs].map(([key, [type, value]]) => ({ key, type, value })), tensors });
}

// ---------------------------------------------------------------------------------------------------------------------
// The fixture models: the facts below are the spec (from the models' published configs), not what the code printed.

test('stories260K.gguf: header, config and tensor data', async (t) => {
  if (!existsSync(STORIES)) return skipOrFail(t, missing(STORIES));
  const src = await fileSource(STORIES);
  try {
    const f = await readGGUF(src);
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 32);
    assert.equal(f.fileSize, 1185376);
    assert.equal(f.dataOffset % 32, 0);
    assert.equal(f.tensors.length, 3 + 5 * 9); // token_embd, output_norm, output + 9 per layer
    const c = modelConfigFromGGUF(f);
    assert.deepEqual(
      c,
      {
        architecture: 'llama',
        name: 'llama',
        nLayers: 5,
        dim: 64,
        ffnDim: 172,
        nHeads: 8,
        nKvHeads: 4,
        headDim: 8,
        vocabSize: 512,
        contextLength: 2048,
        trainedContext: 2048,
        ropeDim: 8,
        ropeBase: 10000, // llama.rope.freq_base is absent
        ropeScale: 1,
        ropeLayout: 'normal',
        norm: 'rms',
        normEps: c.normEps, // checked below
        ffn: 'swiglu',
        // The converted file stores output.weight (a copy of token_embd.weight: llama2.c shares the classifier), so
        // by the config's definition the output is not tied.
        tiedOutput: false,
      },
    );
    assert.equal(c.normEps, Math.fround(1e-5));

    const embd = f.tensorByName.get('token_embd.weight')!;
    assert.deepEqual(embd.dims, [64, 512]);
    assert.equal(embd.type, GGMLType.F32);
    assert.equal(embd.byteLength, 64 * 512 * 4);
    const data = await readTensorData(src, embd);
    assert.equal(data.length, 64 * 512 * 4);
    const x = new Float32Array(data.slice().buffer);
    assert.equal(x.length, 64 * 512);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    assert.ok(Number.isFinite(mean), `mean ${mean}`);
    assert.ok(
      x.some((v) => v !== 0),
      'token_embd is all zeros',
    );
    const out = new Float32Array((await readTensorData(src, f.tensorByName.get('output.weight')!)).slice().buffer);
    assert.deepEqual(out, x, 'output.weight is a copy of token_embd.weight');
    for (const t of f.tensors) assert.equal(t.type, GGMLType.F32, t.name);
  } finally {
    await src.close();
  }
});

test('llama-2-tiny-random.gguf: header, config and tensor data', async (t) => {
  if (!existsSync(TINY)) return skipOrFail(t, missing(TINY));
  const src = await fileSource(TINY);
  try {
    const f = await readGGUF(src);
    assert.equal(f.version, 3);
    const c = modelConfigFromGGUF(f);
    assert.deepEqual(
      c,
      {
        architecture: 'llama',
        name: 'LLaMA v2',
        nLayers: 1,
        dim: 8,
        ffnDim: 32,
        nHeads: 2,
        nKvHeads: 2,
        headDim: 4, // 8 / 2 (no llama.attention.key_length)
        vocabSize: 32000,
        contextLength: 4096,
        trainedContext: 4096,
        ropeDim: 4, // llama.rope.dimension_count 4 (equal to the head dim of 4 here)
        ropeBase: 10000,
        ropeScale: 1,
        ropeLayout: 'normal',
        norm: 'rms',
        normEps: c.normEps, // checked below
        ffn: 'swiglu',
        tiedOutput: false,
      },
    );
    assert.equal(c.normEps, Math.fround(1e-5));
    // Matrices are F16, norms F32.
    assert.equal(f.tensorByName.get('blk.0.attn_q.weight')!.type, GGMLType.F16);
    assert.equal(f.tensorByName.get('blk.0.attn_norm.weight')!.type, GGMLType.F32);
    const embd = f.tensorByName.get('token_embd.weight')!;
    assert.equal(embd.type, GGMLType.F16);
    assert.deepEqual(embd.dims, [8, 32000]);
    assert.equal(embd.byteLength, 8 * 32000 * 2);
    assert.equal((await readTensorData(src, embd)).length, 8 * 32000 * 2);
    const norm = f.tensorByName.get('output_norm.weight')!;
    const w = new Float32Array((await readTensorData(src, norm)).slice().buffer);
    assert.equal(w.length, 8);
    assert.ok(w.every(Number.isFinite));
    // The last tensor ends exactly at the end of the file.
    assert.equal(Math.max(...f.tensors.map((t) => t.offset + t.byteLength)), f.fileSize);
  } finally {
    await src.close();
  }
});

test('vocab fixtures: metadata only, tokens read', async (t) => {
  if (VOCAB_FILES.length === 0) return skipOrFail(t, missing(join(VOCAB_DIR, '*.gguf')));
  for (const file of VOCAB_FILES) {
    const f = await parse(readFileSync(join(VOCAB_DIR, file)));
    assert.equal(f.tensors.length, 0, file);
    const tokens = f.metadata.get('tokenizer.ggml.tokens');
    assert.ok(Array.isArray(tokens) && tokens.length > 0 && tokens.every((s) => typeof s === 'string'), file);
    assert.equal(typeof f.metadata.get('tokenizer.ggml.model'), 'string', file);
    if (file === 'ggml-vocab-deepseek-coder.gguf') {
      assert.equal(tokens.length, 32256);
      assert.equal(f.metadata.get('llama.vocab_size'), 32256);
      assert.equal(f.metadata.get('llama.rope.scaling.type'), 'linear');
      assert.equal(f.metadata.get('llama.rope.scaling.factor'), 4);
    }
    if (file === 'ggml-vocab-llama-spm.gguf') assert.equal(tokens.length, 32000);
    if (file === 'ggml-vocab-llama-bpe.gguf') assert.equal(tokens.length, 128256);
  }
});

test('fileSource: a missing file is named in the error', async () => {
  const p = join(FIXTURES, 'no-such-model.gguf');
  await assert.rejects(fileSource(p), (e: Error) => e.message.includes(p) && e.message.includes('does not exist'));
});

// ---------------------------------------------------------------------------------------------------------------------
// Independent oracles: node-llama-cpp's GGUF reader (every key and tensor info) and llama.cpp (token counts, shapes).

function flatten(o: object, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix + k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, key + '.', out);
    else out.set(key, v);
  }
  return out;
}

const normalize = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(normalize)
    : typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(v)
      : v;

const ALL_FIXTURES = [STORIES, TINY, ...VOCAB_FILES.map((f) => join(VOCAB_DIR, f))];

test('every metadata key and tensor info equals node-llama-cpp readGgufFileInfo', async (t) => {
  const { readGgufFileInfo } = await import('node-llama-cpp');
  for (const p of ALL_FIXTURES) {
    if (!existsSync(p)) {
      t.diagnostic(missing(p));
      continue;
    }
    const ours = await parse(readFileSync(p));
    const theirs = await readGgufFileInfo(p, { logWarnings: false, spliceSplitFiles: false });
    assert.equal(ours.version, theirs.version, p);
    const md = flatten(theirs.metadata);
    assert.deepEqual([...ours.metadata.keys()].sort(), [...md.keys()].sort(), p);
    for (const [k, v] of ours.metadata) assert.deepEqual(normalize(v), normalize(md.get(k)), `${p}: ${k}`);
    const ti = theirs.tensorInfo ?? [];
    assert.equal(ours.tensors.length, ti.length, p);
    ours.tensors.forEach((o, i) => {
      const th = ti[i]!;
      assert.equal(o.name, th.name, p);
      assert.deepEqual(o.dims, th.dimensions.map(Number), `${p}: ${o.name}`);
      assert.equal(o.type, th.ggmlType, `${p}: ${o.name}`);
      assert.equal(o.offset, Number(th.fileOffset), `${p}: ${o.name}`);
    });
    if (ti.length > 0) assert.equal(ours.dataOffset, theirs.infoEndOffset, p);
  }
});

type Llama = Awaited<ReturnType<(typeof import('node-llama-cpp'))['getLlama']>>;
let llamaPromise: Promise<Llama | string> | null = null;

/** llama.cpp on the CPU through node-llama-cpp's prebuilt binary (loaded once), or why it is unavailable. */
function llamaCpp(): Promise<Llama | string> {
  llamaPromise ??= import('node-llama-cpp').then(
    ({ getLlama, LlamaLogLevel }) => getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled }),
  ).catch((e: unknown) => `llama.cpp prebuilt binary unavailable: ${(e as Error).message}`);
  return llamaPromise;
}

after(async () => {
  const llama = await llamaPromise;
  if (llama && typeof llama !== 'string') await llama.dispose();
});

test('token counts and model shapes equal llama.cpp (node-llama-cpp, CPU)', async (t) => {
  const llama = await llamaCpp();
  if (typeof llama === 'string') return skipOrFail(t, llama);
  for (const p of ALL_FIXTURES) {
    if (!existsSync(p)) {
      t.diagnostic(missing(p));
      continue;
    }
    const isModel = p === STORIES || p === TINY;
    const f = await parse(readFileSync(p));
    const m = await llama.loadModel({ modelPath: p, vocabOnly: !isModel, gpuLayers: 0 });
    try {
      let n = 0;
      for (const _ of m.iterateAllTokens()) n++;
      assert.equal((f.metadata.get('tokenizer.ggml.tokens') as unknown[]).length, n, p);
      if (isModel) {
        const c = modelConfigFromGGUF(f);
        assert.equal(c.vocabSize, n, p);
        assert.equal(c.contextLength, m.trainContextSize, p);
        assert.equal(c.dim, m.embeddingVectorSize, p);
      }
    } finally {
      await m.dispose();
    }
  }
});

test('ggml type table: names, and block/type sizes equal ggml (via node-llama-cpp bindings)', async (t) => {
  assert.equal(ggmlTypeName(GGMLType.Q4_K), 'Q4_K');
  assert.equal(ggmlTypeName(30), 'BF16');
  assert.equal(ggmlTypeName(99), 'unknown type 99');
  assert.equal(ggmlTypeName(4), 'unknown type 4'); // Q4_2, removed from ggml
  assert.deepEqual(ggmlTypeTraits(GGMLType.Q8_0), { blockSize: 32, typeSize: 34 });
  const llama = await llamaCpp();
  if (typeof llama === 'string') return skipOrFail(t, llama);
  // Internal but stable bindings used by node-llama-cpp's own size estimates.
  const b = (llama as unknown as { _bindings: Record<string, (t: number) => number | undefined> })._bindings;
  for (let id = 0; id < 64; id++) {
    const blockSize = b.getBlockSizeForGgmlType!(id);
    const typeSize = b.getTypeSizeForGgmlType!(id);
    const known = blockSize !== undefined && blockSize > 0;
    assert.deepEqual(ggmlTypeTraits(id), known ? { blockSize, typeSize } : undefined, `type ${id}`);
  }
});

// ---------------------------------------------------------------------------------------------------------------------
// Corruption: truncation and bit flips of the real models.

for (const path of [STORIES, TINY]) {
  const base = path.split('/').pop()!;

  test(`${base}: truncated copies all fail with a named error`, async (t) => {
    if (!existsSync(path)) return skipOrFail(t, missing(path));
    const bytes = new Uint8Array(readFileSync(path));
    const f = await parse(bytes);
    const size = bytes.length;
    const first = f.tensors[0]!;
    const last = f.tensors[f.tensors.length - 1]!;
    const firstInfo = tensorInfoAt(bytes, first.name);
    const lastInfo = tensorInfoAt(bytes, last.name);
    const tokensKey = indexOf(bytes, 'tokenizer.ggml.tokens');
    const tokensArray = tokensKey + 'tokenizer.ggml.tokens'.length + 4; // element type, count, strings
    const arch = indexOf(bytes, 'general.architecture');
    const cuts = new Set<number>([
      1, 2, 3, // inside the magic
      4, 6, // the version
      8, 12, 16, // the tensor count
      20, 23, // the metadata count
      24, 30, 35, // the first key's length and text
      arch + 10, // inside a key
      arch + 'general.architecture'.length + 2, // inside a value type
      arch + 'general.architecture'.length + 4 + 8 + 2, // inside a string value
      tokensKey + 5, // inside the key of the tokens array
      tokensArray + 2, // inside the array element type
      tokensArray + 4 + 5, // inside the array count
      tokensArray + 12 + 9, // inside the first token
      firstInfo.name + 3, // inside the first tensor name's length
      firstInfo.nDims - 2, // inside the first tensor name
      firstInfo.nDims + 2, // inside n_dims
      firstInfo.dims + 5, // inside a dimension
      firstInfo.type + 1, // inside the type
      lastInfo.type + 4 + 3, // inside the last tensor's offset
      f.dataOffset - 1, // in the padding before the data (or the end of the header)
      f.dataOffset, // no tensor data at all
      f.dataOffset + 1,
      first.offset + Math.floor(first.byteLength / 2), // in the middle of a tensor
      Math.floor((f.dataOffset + size) / 2),
      size - last.byteLength, // the last tensor missing
      size - 1, // one byte short
    ]);
    for (let i = 1; i <= 8; i++) cuts.add(24 + Math.floor(((f.dataOffset - 24) * i) / 9)); // spread over the header
    assert.ok(cuts.size >= 30, `${cuts.size} cut points`);
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      assert.ok(cut > 0 && cut < size);
      const err = await loadOutcome(bytes.subarray(0, cut), `${base} truncated to ${cut} bytes`);
      assert.ok(err, `${base} truncated to ${cut} bytes loaded without error`);
    }
  });

  test(`${base}: 300 bit-flipped headers either load or fail with a named error`, async (t) => {
    if (!existsSync(path)) return skipOrFail(t, missing(path));
    const bytes = new Uint8Array(readFileSync(path));
    const { dataOffset } = await parse(bytes);
    const rand = rng(base.length * 7919 + 17);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const copy = bytes.slice();
      const flips = 1 + Math.floor(rand() * 8);
      const where: number[] = [];
      for (let j = 0; j < flips; j++) {
        const at = Math.floor(rand() * dataOffset);
        copy[at]! ^= 1 << Math.floor(rand() * 8);
        where.push(at);
      }
      const err = await loadOutcome(copy, `${base} flip #${i} at bytes ${where.join(', ')}`);
      const kind = err ? err.name : 'loaded';
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    }
    t.diagnostic(JSON.stringify(Object.fromEntries(outcomes)));
  });

  test(`${base}: 200 bit-flipped copies aimed at the tensor infos and the small metadata`, async (t) => {
    if (!existsSync(path)) return skipOrFail(t, missing(path));
    const bytes = new Uint8Array(readFileSync(path));
    const f = await parse(bytes);
    // Most of the header is the vocabulary; aim at the structure: the counts and the keys before the vocabulary,
    // and the tensor infos.
    const ranges = [
      [8, indexOf(bytes, 'tokenizer.ggml.tokens')],
      [tensorInfoAt(bytes, f.tensors[0]!.name).name, f.dataOffset],
    ] as const;
    const rand = rng(base.length * 104729 + 3);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const copy = bytes.slice();
      const flips = 1 + Math.floor(rand() * 3);
      const where: number[] = [];
      for (let j = 0; j < flips; j++) {
        const [lo, hi] = ranges[Math.floor(rand() * 2)]!;
        const at = lo + Math.floor(rand() * (hi - lo));
        copy[at]! ^= 1 << Math.floor(rand() * 8);
        where.push(at);
      }
      const err = await loadOutcome(copy, `${base} aimed flip #${i} at bytes ${where.join(', ')}`);
      const kind = err ? err.name : 'loaded';
      outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
    }
    t.diagnostic(JSON.stringify(Object.fromEntries(outcomes)));
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Hand-made malformed files with exact messages.

async function storiesBytes(t: { skip(msg: string): void }): Promise<Uint8Array | null> {
  if (!existsSync(STORIES)) {
    skipOrFail(t, missing(STORIES));
    return null;
  }
  return new Uint8Array(readFileSync(STORIES));
}

test('header errors on patched stories260K: magic, versions, big-endian, counts, huge string', async (t) => {
  const orig = await storiesBytes(t);
  if (!orig) return;
  const patched = (fn: (b: Uint8Array, dv: DataView) => void) => {
    const b = orig.slice();
    fn(b, new DataView(b.buffer));
    return b;
  };
  await rejectsWith(
    parse(patched((b) => b.set(enc.encode('GGML'), 0))),
    GGUFError,
    'not a GGUF file: expected the magic "GGUF" at offset 0, found bytes 47 47 4d 4c',
  );
  await rejectsWith(parse(patched((_, dv) => dv.setUint32(4, 1, true))), GGUFError, 'unsupported GGUF version 1 (supported: 2 and 3)');
  await rejectsWith(parse(patched((_, dv) => dv.setUint32(4, 4, true))), GGUFError, 'unsupported GGUF version 4 (supported: 2 and 3)');
  await rejectsWith(
    parse(patched((_, dv) => dv.setUint32(4, 3, false))),
    GGUFError,
    'big-endian GGUF file (the version reads as 50331648, byte-swapped 3); only little-endian GGUF files are supported',
  );
  // Version 2 has the same layout as 3.
  assert.equal((await parse(patched((_, dv) => dv.setUint32(4, 2, true)))).version, 2);
  await rejectsWith(
    parse(patched((_, dv) => dv.setBigUint64(8, 1n << 40n, true))),
    GGUFError,
    'the header claims 1099511627776 tensors and 19 metadata entries, which cannot fit in a file of 1185376 bytes',
  );
  await rejectsWith(
    parse(patched((_, dv) => dv.setBigUint64(16, 100_000n, true))),
    GGUFError,
    'the header claims 48 tensors and 100000 metadata entries, which cannot fit in a file of 1185376 bytes',
  );
  await rejectsWith(
    parse(patched((_, dv) => dv.setBigUint64(24, 1n << 40n, true))),
    GGUFError,
    'metadata key #0 at offset 24 claims a length of 1099511627776 bytes, beyond the end of the file (1185376 bytes)',
  );
  await rejectsWith(
    parse(patched((_, dv) => dv.setBigUint64(24, 0xffff_ffff_ffff_ffffn, true))),
    GGUFError,
    'metadata key #0 at offset 24 claims a length of 18446744073709551615 bytes, beyond the end of the file (1185376 bytes)',
  );
  await rejectsWith(parse(new Uint8Array([0x47, 0x47])), GGUFError, 'file truncated: the header needs at least 24 bytes but the file has 2 bytes');
  await rejectsWith(parse(new Uint8Array(0)), GGUFError, 'file truncated: the header needs at least 24 bytes but the file has 0 bytes');
  await rejectsWith(parse(enc.encode('{"a":')), GGUFError, 'not a GGUF file: expected the magic "GGUF" at offset 0, found bytes 7b 22 61 22');
});

test('tensor errors on patched stories260K: unsupported IQ4_NL, unknown type, truncated data', async (t) => {
  const orig = await storiesBytes(t);
  if (!orig) return;
  const q = tensorInfoAt(orig, 'blk.0.attn_q.weight');
  const b = orig.slice();
  new DataView(b.buffer).setUint32(q.type, GGMLType.IQ4_NL, true); // [64, 64] IQ4_NL is smaller: layout stays valid
  const f = await parse(b);
  assert.equal(f.tensorByName.get('blk.0.attn_q.weight')!.type, GGMLType.IQ4_NL); // the reader is generic
  assert.throws(
    () => modelConfigFromGGUF(f),
    (e: Error) =>
      e instanceof ModelFormatError &&
      e.message ===
        "tensor blk.0.attn_q.weight has type IQ4_NL, which pie-complete does not support yet (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16); re-quantize or convert with llama.cpp's llama-quantize to Q4_K_M, Q8_0 or F16",
  );
  new DataView(b.buffer).setUint32(q.type, 99, true);
  await rejectsWith(parse(b), GGUFError, `tensor "blk.0.attn_q.weight" has unknown ggml type id 99 (offset ${q.type})`);
  new DataView(b.buffer).setUint32(q.type, 31, true);
  await rejectsWith(
    parse(b),
    GGUFError,
    `tensor "blk.0.attn_q.weight" has ggml type 31 (Q4_0_4_4), which ggml no longer supports (offset ${q.type})`,
  );
  new DataView(b.buffer).setUint32(q.type, GGMLType.Q4_K, true); // 64 is not a multiple of 256
  await rejectsWith(parse(b), GGUFError, 'tensor "blk.0.attn_q.weight": dims[0] = 64 is not a multiple of the Q4_K block size 256');
  const full = await parse(orig);
  const last = full.tensors[full.tensors.length - 1]!;
  await rejectsWith(
    parse(orig.subarray(0, orig.length - 1)),
    GGUFError,
    `file truncated: tensor ${last.name} needs bytes ${last.offset}..${orig.length} but the file has ${orig.length - 1} bytes`,
  );
  // readTensorData checks too (a source that shrank after the header was read).
  await rejectsWith(
    readTensorData(bytesSource(orig.subarray(0, orig.length - 4)), last),
    GGUFError,
    `file truncated: tensor ${last.name} needs bytes ${last.offset}..${orig.length} but the file has ${orig.length - 4} bytes`,
  );
});

test('synthetic llama: loads, tied output, metadata value types', async () => {
  const bytes = synthLlama({
    kv: {
      'x.u8': [VT.U8, 200],
      'x.i8': [VT.I8, -5 & 255],
      'x.u16': [VT.U16, 65535],
      'x.i16': [VT.I16, -2 & 0xffff],
      'x.i32': [VT.I32, -7 >>> 0],
      'x.bool': [VT.BOOL, true],
      'x.u64.small': [VT.U64, 12345],
      'x.u64.big': [VT.U64, 1n << 60n],
      'x.i64.neg': [VT.I64, -3n],
      'x.i64.min': [VT.I64, -(1n << 63n)],
      'x.f64': [VT.F64, 0.1],
      'x.nested': [VT.ARR, arr(VT.ARR, [arr(VT.U8, [1, 2]), arr(VT.STR, ['a', 'é']), arr(VT.BOOL, [])])],
      'x.empty': [VT.STR, ''],
      'x.bom': [VT.STR, '\ufeffhi'],
    },
  });
  const f = await parse(bytes);
  const md = f.metadata;
  assert.equal(md.get('x.u8'), 200);
  assert.equal(md.get('x.i8'), -5);
  assert.equal(md.get('x.u16'), 65535);
  assert.equal(md.get('x.i16'), -2);
  assert.equal(md.get('x.i32'), -7);
  assert.equal(md.get('x.bool'), true);
  assert.equal(md.get('x.u64.small'), 12345);
  assert.equal(md.get('x.u64.big'), 1n << 60n);
  assert.equal(md.get('x.i64.neg'), -3);
  assert.equal(md.get('x.i64.min'), -(1n << 63n));
  assert.equal(md.get('x.f64'), 0.1);
  assert.deepEqual(md.get('x.nested'), [[1, 2], ['a', 'é'], []]);
  assert.equal(md.get('x.empty'), '');
  assert.equal(md.get('x.bom'), '\ufeffhi');
  const c = modelConfigFromGGUF(f);
  assert.equal(c.tiedOutput, true);
  assert.equal(c.headDim, 8);
  assert.equal(c.nKvHeads, 2);
  assert.equal(c.vocabSize, 16);
  assert.equal(c.normEps, Math.fround(1e-6));
  assert.equal(modelConfigFromGGUF(await parse(synthLlama({ output: true }))).tiedOutput, false);
  // head_count_kv defaults to head_count; key_length overrides dim / heads.
  const mha = modelConfigFromGGUF(await parse(synthLlama({ nKvHeads: 4, kv: { 'llama.attention.head_count_kv': null } })));
  assert.equal(mha.nKvHeads, 4);
  const kl = modelConfigFromGGUF(
    await parse(
      synthLlama({
        kv: { 'llama.attention.key_length': [VT.U32, 16] },
        tensors: {
          'blk.0.attn_q.weight': { dims: [32, 64] },
          'blk.0.attn_k.weight': { dims: [32, 32] },
          'blk.0.attn_v.weight': { dims: [32, 32] },
          'blk.0.attn_output.weight': { dims: [64, 32] },
        },
      }),
    ),
  );
  assert.equal(kl.headDim, 16);
  assert.equal(kl.ropeDim, 16);
  // Q8_0 and F16 are accepted.
  const q8 = await parse(synthLlama({ tensors: { 'blk.0.ffn_up.weight': { type: GGMLType.Q8_0 }, 'blk.0.ffn_gate.weight': { type: GGMLType.F16 } } }));
  assert.equal(q8.tensorByName.get('blk.0.ffn_up.weight')!.byteLength, (32 / 32) * 34 * 64);
  modelConfigFromGGUF(q8);
});

test('synthetic llama: RoPE settings', async () => {
  const cfg = async (kv: SynthOptions['kv']) => modelConfigFromGGUF(await parse(synthLlama({ kv })));
  assert.equal((await cfg({})).ropeScale, 1);
  assert.equal((await cfg({})).ropeBase, 10000);
  assert.equal((await cfg({ 'llama.rope.freq_base': [VT.F32, 500000] })).ropeBase, 500000);
  assert.equal((await cfg({ 'llama.rope.scaling.type': [VT.STR, 'linear'], 'llama.rope.scaling.factor': [VT.F32, 4] })).ropeScale, 0.25);
  assert.equal((await cfg({ 'llama.rope.scaling.factor': [VT.F32, 2] })).ropeScale, 0.5);
  assert.equal((await cfg({ 'llama.rope.scale_linear': [VT.F32, 8] })).ropeScale, 0.125);
  assert.equal((await cfg({ 'llama.rope.scaling.type': [VT.STR, 'none'], 'llama.rope.scaling.factor': [VT.F32, 4] })).ropeScale, 1);
  assert.equal((await cfg({ 'llama.rope.dimension_count': [VT.U32, 4] })).ropeDim, 4);
  await assert.rejects(cfg({ 'llama.rope.scaling.type': [VT.STR, 'yarn'] }), {
    name: 'ModelFormatError',
    message: 'unsupported RoPE scaling type yarn (supported: linear, none)',
  });
  await assert.rejects(cfg({ 'llama.rope.dimension_count': [VT.U32, 5] }), {
    message: 'llama.rope.dimension_count 5 must be even and at most the head dimension 8',
  });
  await assert.rejects(cfg({ 'llama.rope.dimension_count': [VT.U32, 16] }), {
    message: 'llama.rope.dimension_count 16 must be even and at most the head dimension 8',
  });
});

test('synthetic llama: config errors', async () => {
  const cfgErr = async (o: SynthOptions, message: string) => rejectsWith(parseConfig(synthLlama(o)), ModelFormatError, message);
  await cfgErr({ kv: { 'general.architecture': [VT.STR, 'gpt2'] } }, 'unsupported architecture "gpt2" (supported: llama, qwen2, starcoder2)');
  await cfgErr({ kv: { 'general.architecture': null } }, 'missing required key general.architecture');
  await cfgErr({ kv: { 'llama.block_count': null } }, 'missing required key llama.block_count');
  await cfgErr({ kv: { 'llama.attention.layer_norm_rms_epsilon': null } }, 'missing required key llama.attention.layer_norm_rms_epsilon');
  await cfgErr({ kv: { 'llama.block_count': [VT.STR, '1'] } }, 'key llama.block_count must be an integer >= 1, found the string "1"');
  await cfgErr({ kv: { 'llama.feed_forward_length': [VT.ARR, arr(VT.U32, [64])] } }, 'key llama.feed_forward_length is an array of 1 values: per-layer values are not supported');
  await cfgErr({ kv: { 'llama.expert_count': [VT.U32, 8] } }, 'mixture-of-experts models are not supported (llama.expert_count = 8)');
  await cfgErr(
    { nKvHeads: 3, tensors: { 'blk.0.attn_k.weight': { dims: [32, 24] }, 'blk.0.attn_v.weight': { dims: [32, 24] } } },
    'llama.attention.head_count 4 is not a multiple of llama.attention.head_count_kv 3',
  );
  await cfgErr({ tensors: { 'blk.0.ffn_up.weight': null } }, 'missing tensor blk.0.ffn_up.weight');
  await cfgErr({ tensors: { 'token_embd.weight': null } }, 'missing tensor token_embd.weight');
  await cfgErr({ tensors: { 'blk.0.attn_k.weight': { dims: [32, 32] } } }, 'tensor blk.0.attn_k.weight has shape [32, 32], expected [32, 16]');
  await cfgErr({ tensors: { 'blk.0.ffn_down.weight': { dims: [32, 64] } } }, 'tensor blk.0.ffn_down.weight has shape [32, 64], expected [64, 32]');
  await cfgErr({ output: true, tensors: { 'output.weight': { dims: [32, 8] } } }, 'tensor output.weight has shape [32, 8], expected [32, 16]');
  await cfgErr({ kv: { 'llama.vocab_size': [VT.U32, 17] } }, 'llama.vocab_size 17 differs from token_embd.weight [32, 16]');
  await cfgErr(
    { kv: { 'tokenizer.ggml.tokens': [VT.ARR, arr(VT.STR, ['a'])] } },
    'tokenizer.ggml.tokens is an array of 1 values, expected 16 tokens (the rows of token_embd.weight)',
  );
  await cfgErr(
    { extraTensors: [{ name: 'rope_freqs.weight', dims: [4] }] },
    'tensor rope_freqs.weight (per-dimension RoPE frequency factors, e.g. llama 3.1 RoPE scaling) is not supported yet',
  );
  await cfgErr(
    { extraTensors: [{ name: 'blk.0.ffn_up.bias', dims: [32] }] },
    'unexpected tensor blk.0.ffn_up.bias (not part of a 1-layer llama model as pie-complete implements it)',
  );
  await cfgErr(
    { tensors: { 'blk.0.attn_q.weight': { type: GGMLType.I8 } } },
    "tensor blk.0.attn_q.weight has type I8, which pie-complete does not support yet (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16); re-quantize or convert with llama.cpp's llama-quantize to Q4_K_M, Q8_0 or F16",
  );
  // Q3_K needs rows that are a multiple of 256: a model with dim 256.
  await cfgErr(
    { dim: 256, nHeads: 32, nKvHeads: 4, ffn: 32, tensors: { 'blk.0.attn_q.weight': { type: GGMLType.Q3_K } } },
    "tensor blk.0.attn_q.weight has type Q3_K, which pie-complete does not support yet (supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16); re-quantize or convert with llama.cpp's llama-quantize to Q4_K_M, Q8_0 or F16",
  );
});

test('synthetic files: reader errors', async () => {
  const llamaKv: KV[] = [{ key: 'general.architecture', type: VT.STR, value: 'llama' }];
  const err = (o: Parameters<typeof writeGGUF>[0], message: string) => rejectsWith(parse(writeGGUF(o)), GGUFError, message);
  await err(
    { kv: [...llamaKv, { key: 'general.alignment', type: VT.U32, value: 3 }] },
    'general.alignment 3 is not a power of two',
  );
  await err({ kv: [{ key: 'general.alignment', type: VT.U32, value: 0 }] }, 'general.alignment 0 is not a power of two');
  await err({ kv: [{ key: 'general.alignment', type: VT.U64, value: 64 }] }, 'general.alignment must be a u32, found a u64');
  await err({ kv: [{ key: 'k', type: 13, raw: [0] }] }, 'invalid value type 13 for metadata key "k" at offset 33');
  await err({ kv: [{ key: 'k', type: VT.ARR, raw: [13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }] }, 'invalid value type 13 for array element type of metadata value "k" at offset 37');
  await err({ kv: [{ key: 'k', type: VT.BOOL, raw: [2] }] }, 'invalid bool byte 2 in metadata value "k" at offset 37');
  await err({ kv: [{ key: 'k', type: VT.STR, raw: [2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0x28] }] }, 'invalid UTF-8 in metadata value "k" at offset 45');
  await err(
    { kv: [{ key: 'k', type: VT.ARR, raw: [VT.STR, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, ...u64le(2), 0x6f, 0x6b, ...u64le(2), 0xc3, 0x28] }] },
    'invalid UTF-8 in metadata value "k"[1] at offset 67',
  );
  await err({ kv: [{ key: 'k', type: VT.U8, value: 1 }, { key: 'k', type: VT.U8, value: 2 }] }, 'duplicate metadata key "k" at offset 38');
  await err(
    { kv: [{ key: 'k', type: VT.ARR, raw: [VT.U32, 0, 0, 0, ...u64le(2 ** 40)] }] },
    'metadata value "k" at offset 37: array of 1099511627776 u32 values (at least 4398046511104 bytes) runs past the end of the file (49 bytes)',
  );
  let nested: Arr = arr(VT.U8, [1]);
  for (let i = 0; i < 20; i++) nested = arr(VT.ARR, [nested]);
  await rejectsWith(
    parse(writeGGUF({ kv: [{ key: 'k', type: VT.ARR, value: nested }] })),
    GGUFError,
    'metadata value "k"[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0] at offset 229: arrays nested deeper than 16',
  );
  const t = (ti: TI[]) => ({ kv: llamaKv, tensors: ti });
  await err(t([{ name: 'a', dims: [4] }, { name: 'a', dims: [4] }]), 'duplicate tensor name "a" at offset 102');
  await err(t([{ name: 'a', dims: [1, 1, 1, 1, 1] }]), 'tensor "a" at offset 69: 5 dimensions (must be 1..4)');
  await err(t([{ name: 'a', dims: [], nDims: 0 }]), 'tensor "a" at offset 69: 0 dimensions (must be 1..4)');
  await err(t([{ name: 'a', dims: [4, 0] }]), 'tensor "a" at offset 69: dimension 1 is 0');
  await err(
    { ...t([{ name: 'a', dims: [-1] }]), size: 128 },
    'tensor "a" at offset 69: absurd dimensions (dimension 0 is 18446744073709551615) for a file of 128 bytes',
  );
  await err(
    { ...t([{ name: 'a', dims: [4, 2 ** 40] }]), size: 128 },
    'tensor "a" at offset 69: absurd dimensions (dimension 1 is 1099511627776) for a file of 128 bytes',
  );
  await rejectsWith(
    parse(writeGGUF(t([{ name: 'a', dims: [4], type: GGMLType.F32 }])).subarray(0, 120)),
    GGUFError,
    'file truncated: tensor a needs bytes 128..144 but the file has 120 bytes',
  );
  await err(t([{ name: 'q', dims: [33, 2], type: GGMLType.Q8_0 }]), 'tensor "q": dims[0] = 33 is not a multiple of the Q8_0 block size 32');
  await err(t([{ name: 'a', dims: [4], offset: 16 }]), 'tensor "a": data offset 16 is not a multiple of the alignment 32');
  await err(
    t([
      { name: 'a', dims: [16] },
      { name: 'b', dims: [8], offset: 32 },
    ]),
    'tensors a (bytes 160..224) and b (bytes 192..224) overlap',
  );
  await err(
    { ...t([{ name: 'a', dims: [4], offset: 2 ** 50 }]), size: 160 },
    'tensor "a": data offset 1125899906842624 is beyond the end of the file (160 bytes): the file is truncated or corrupted',
  );
  // Custom alignment is honoured for the data section and offsets.
  const a64 = await parse(
    writeGGUF({
      kv: [...llamaKv, { key: 'general.alignment', type: VT.U32, value: 64 }],
      tensors: [{ name: 'a', dims: [4] }, { name: 'b', dims: [4], offset: 64 }],
      layoutAlignment: 64,
    }),
  );
  assert.equal(a64.alignment, 64);
  assert.equal(a64.dataOffset % 64, 0);
  assert.equal(a64.tensorByName.get('b')!.offset, a64.dataOffset + 64);
  // A metadata-only file needs no data section.
  const empty = await parse(writeGGUF({ kv: llamaKv }));
  assert.equal(empty.tensors.length, 0);
});

test('a ByteSource that returns short reads gives a named error', async () => {
  const bytes = synthLlama();
  const src = { size: bytes.length, read: async (o: number, n: number) => bytes.subarray(o, o + Math.max(0, n - 1)) };
  await assert.rejects(readGGUF(src), (e: Error) => e instanceof GGUFError && e.message.startsWith('read error: asked for'));
});
