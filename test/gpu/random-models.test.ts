// Random-weight models of each family (test/helpers/random-model.ts) with real vocabularies: llama.cpp loads them and
// their greedy continuations are varied with clear top-2 margins (so they make useful oracles); the GGUF writer's
// in-memory and streamed outputs agree, and our reader reads back every key and tensor.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openLlamaCpp } from '../../src/cli/llama.js';
import { bytesSource, GGMLType, ggmlTypeName, readGGUF, readTensorData } from '../../src/engine/model/gguf.js';
import { fixtureOrSkip } from '../helpers/fixtures.js';
import { GGUFWriter, rawMetadata } from '../helpers/gguf-writer.js';
import {
  F16,
  formatType,
  MIXED_OTHERS,
  planTensors,
  Q4_K_M_STYLE,
  Q8_0,
  randomModel,
  randomModelWriter,
  vocabSize,
  writeRandomModel,
  type Formats,
  type RandomModelSpec,
} from '../helpers/random-model.js';

const dir = mkdtempSync(join(tmpdir(), 'pie-random-models-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PROMPT = 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n';
const GREEDY_TOKENS = 32;
const MIN_DISTINCT = 8;
/** At least this share of the positions has a top-2 logit margin of MIN_MARGIN or more (logits have std about 32). */
const MIN_MARGIN = 0.5;
const MIN_CLEAR_SHARE = 0.75;

/** Path of a vocab fixture; under CI a missing one fails, elsewhere the test skips naming it. */
const vocab = (t: { skip(msg: string): void }, name: string): string | null => fixtureOrSkip(t, `vocab/ggml-vocab-${name}.gguf`);

/** The test shape: with ffn 640 (not a multiple of 256) and 2 layers every format of both mixed presets occurs. */
const SHAPE = { nLayers: 2, dim: 256, nHeads: 4, nKvHeads: 2, ffnDim: 640, contextLength: 4096 };

const PRESETS: Record<string, { formats: Formats; types: GGMLType[] }> = {
  Q4_K_M_STYLE: { formats: Q4_K_M_STYLE, types: [GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q5_0, GGMLType.Q4_0, GGMLType.Q8_0] },
  MIXED_OTHERS: { formats: MIXED_OTHERS, types: [GGMLType.Q4_1, GGMLType.Q5_1, GGMLType.Q5_K, GGMLType.BF16] },
  F16: { formats: F16, types: [GGMLType.F16] },
  Q8_0: { formats: Q8_0, types: [GGMLType.Q8_0] },
};

interface Case {
  label: string;
  vocab: string;
  spec: Omit<RandomModelSpec, 'vocab' | 'formats' | 'seed'>;
  presets: (keyof typeof PRESETS)[];
}

const CASES: Case[] = [
  {
    label: 'llama, deepseek-coder vocab, linear RoPE scaling 4',
    vocab: 'deepseek-coder',
    spec: { arch: 'llama', ...SHAPE, ropeBase: 1e5, ropeScaling: { type: 'linear', factor: 4 }, tied: false },
    presets: ['Q4_K_M_STYLE', 'MIXED_OTHERS'],
  },
  {
    label: 'llama, llama-spm vocab, tied',
    vocab: 'llama-spm',
    spec: { arch: 'llama', ...SHAPE, tied: true },
    presets: ['Q4_K_M_STYLE', 'MIXED_OTHERS', 'F16'],
  },
  {
    label: 'llama, deepseek-coder vocab, head dim 32 (4 x 32 != dim 256)',
    vocab: 'deepseek-coder',
    spec: { arch: 'llama', ...SHAPE, headDim: 32, ropeBase: 1e5, tied: false },
    presets: ['Q8_0'],
  },
  {
    label: 'qwen2, qwen2 vocab, rope base 1e6',
    vocab: 'qwen2',
    spec: { arch: 'qwen2', ...SHAPE, ropeBase: 1e6, tied: true },
    presets: ['Q4_K_M_STYLE', 'MIXED_OTHERS'],
  },
  {
    label: 'starcoder2, starcoder vocab',
    vocab: 'starcoder',
    spec: { arch: 'starcoder2', ...SHAPE, ropeBase: 1e5, tied: true },
    presets: ['Q4_K_M_STYLE', 'MIXED_OTHERS'],
  },
];

function topMargin(z: Float32Array): number {
  let a = -Infinity;
  let b = -Infinity;
  for (const v of z) {
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) b = v;
  }
  return a - b;
}

for (const c of CASES) {
  for (const preset of c.presets) {
    test(`llama.cpp loads a random ${c.label} model (${preset}); greedy decoding is varied with clear margins`, async (t) => {
      const vocabPath = vocab(t, c.vocab);
      if (!vocabPath) return;
      const spec: RandomModelSpec = { ...c.spec, vocab: vocabPath, formats: PRESETS[preset]!.formats, seed: 1 };
      const path = join(dir, `${c.spec.arch}-${c.vocab}-${preset}.gguf`);
      const t0 = performance.now();
      const size = await writeRandomModel(spec, path);
      const writeS = (performance.now() - t0) / 1000;

      // The preset's formats all occur at this shape.
      const file = await readGGUF(bytesSource(new Uint8Array(readFileSync(path))));
      assert.equal(file.fileSize, size);
      const types = new Set(file.tensors.map((x) => x.type));
      for (const ty of PRESETS[preset]!.types) assert.ok(types.has(ty), `${ggmlTypeName(ty)} occurs (types: ${[...types].map(ggmlTypeName).join(', ')})`);
      for (const x of file.tensors) if (x.dims.length === 1) assert.equal(x.type, GGMLType.F32, `${x.name} is F32`);

      const llama = await openLlamaCpp(path, 128);
      try {
        const bos = llama.model.tokens.bos;
        assert.ok(bos !== null, 'the vocabulary has a BOS token');
        const prompt = [bos, ...llama.model.tokenize(PROMPT)];
        const out = await llama.greedy(prompt, GREEDY_TOKENS);
        assert.equal(out.length, GREEDY_TOKENS, 'no early EOS');
        const distinct = new Set(out).size;
        assert.ok(distinct >= MIN_DISTINCT, `${distinct} distinct tokens in ${JSON.stringify(llama.model.detokenize(out as never))}`);

        const margins = (await llama.logitsAt([...prompt, ...out])).map(topMargin).sort((a, b) => a - b);
        const clear = margins.filter((m) => m >= MIN_MARGIN).length / margins.length;
        t.diagnostic(
          `${(size / 2 ** 20).toFixed(1)} MiB written in ${writeS.toFixed(1)} s; ${distinct}/${GREEDY_TOKENS} distinct greedy tokens; ` +
            `top-2 margin over ${margins.length} positions: median ${margins[margins.length >> 1]!.toFixed(2)}, ` +
            `p10 ${margins[Math.floor(margins.length / 10)]!.toFixed(2)}, min ${margins[0]!.toFixed(3)}; ${(100 * clear).toFixed(0)}% >= ${MIN_MARGIN}`,
        );
        assert.ok(clear >= MIN_CLEAR_SHARE, `${(100 * clear).toFixed(0)}% of the positions have a top-2 margin >= ${MIN_MARGIN}`);
      } finally {
        await llama.dispose();
        rmSync(path, { force: true });
      }
    });
  }
}

/** The keys we write besides `tokenizer.*`, per family (and the test spec's optional ones). */
const EXPECTED_KEYS: Record<string, string[]> = {
  llama: [
    'general.architecture',
    'general.name',
    'general.quantization_version',
    'llama.context_length',
    'llama.embedding_length',
    'llama.block_count',
    'llama.feed_forward_length',
    'llama.attention.head_count',
    'llama.attention.head_count_kv',
    'llama.rope.freq_base',
    'llama.attention.layer_norm_rms_epsilon',
    'llama.vocab_size',
    'llama.rope.dimension_count',
    'llama.rope.scaling.type',
    'llama.rope.scaling.factor',
  ],
  qwen2: [
    'general.architecture',
    'general.name',
    'general.quantization_version',
    'qwen2.context_length',
    'qwen2.embedding_length',
    'qwen2.block_count',
    'qwen2.feed_forward_length',
    'qwen2.attention.head_count',
    'qwen2.attention.head_count_kv',
    'qwen2.rope.freq_base',
    'qwen2.attention.layer_norm_rms_epsilon',
  ],
  starcoder2: [
    'general.architecture',
    'general.name',
    'general.quantization_version',
    'starcoder2.context_length',
    'starcoder2.embedding_length',
    'starcoder2.block_count',
    'starcoder2.feed_forward_length',
    'starcoder2.attention.head_count',
    'starcoder2.attention.head_count_kv',
    'starcoder2.rope.freq_base',
    'starcoder2.attention.layer_norm_epsilon',
  ],
};

/** Tensor names of layer 0 per family (llama.cpp's load_tensors), and the others outside the layers. */
const LAYER0: Record<string, string[]> = {
  llama: ['attn_norm.weight', 'attn_q.weight', 'attn_k.weight', 'attn_v.weight', 'attn_output.weight', 'ffn_norm.weight', 'ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight'],
  qwen2: ['attn_norm.weight', 'attn_q.weight', 'attn_k.weight', 'attn_v.weight', 'attn_q.bias', 'attn_k.bias', 'attn_v.bias', 'attn_output.weight', 'ffn_norm.weight', 'ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight'],
  starcoder2: [
    'attn_norm.weight',
    'attn_norm.bias',
    'attn_q.weight',
    'attn_k.weight',
    'attn_v.weight',
    'attn_q.bias',
    'attn_k.bias',
    'attn_v.bias',
    'attn_output.weight',
    'attn_output.bias',
    'ffn_norm.weight',
    'ffn_norm.bias',
    'ffn_up.weight',
    'ffn_up.bias',
    'ffn_down.weight',
    'ffn_down.bias',
  ],
};
const OUTSIDE: Record<string, string[]> = {
  llama: ['token_embd.weight', 'output_norm.weight', 'output.weight'],
  qwen2: ['token_embd.weight', 'output_norm.weight'],
  starcoder2: ['token_embd.weight', 'output_norm.weight', 'output_norm.bias'],
};

for (const [arch, vocabName, tied] of [
  ['llama', 'deepseek-coder', false],
  ['qwen2', 'qwen2', true],
  ['starcoder2', 'starcoder', true],
] as const) {
  test(`${arch}: the in-memory and streamed files are identical, and our reader reads back every key and tensor`, async (t) => {
    const vocabPath = vocab(t, vocabName);
    if (!vocabPath) return;
    const spec: RandomModelSpec = {
      arch,
      vocab: vocabPath,
      ...SHAPE,
      nLayers: 1,
      ropeBase: 1e6,
      ...(arch === 'llama' ? { ropeScaling: { type: 'linear', factor: 4 } as const } : {}),
      tied,
      formats: Q4_K_M_STYLE,
      seed: 7,
    };
    const mem = randomModel(spec);
    const path = join(dir, `${arch}-roundtrip.gguf`);
    const size = await writeRandomModel(spec, path);
    const streamed = new Uint8Array(readFileSync(path));
    rmSync(path);
    assert.equal(size, mem.length);
    assert.equal(randomModelWriter(spec).size, mem.length);
    assert.ok(Buffer.from(streamed).equals(mem), 'streamed bytes == in-memory bytes');
    assert.ok(Buffer.from(randomModel({ ...spec, seed: 8 })).compare(mem) !== 0, 'another seed gives other weights');

    const f = await readGGUF(bytesSource(mem));
    assert.equal(f.version, 3);
    assert.equal(f.alignment, 32);
    assert.equal(f.dataOffset % 32, 0);

    // Metadata: our keys, then every tokenizer.* key of the vocab with the same value.
    const vocabBytes = new Uint8Array(readFileSync(vocabPath));
    const v = await readGGUF(bytesSource(vocabBytes));
    const tokKeys = [...v.metadata.keys()].filter((k) => k.startsWith('tokenizer.'));
    assert.deepEqual([...f.metadata.keys()], [...EXPECTED_KEYS[arch]!, ...tokKeys]);
    for (const k of tokKeys) assert.deepEqual(f.metadata.get(k), v.metadata.get(k), k);
    const nVocab = vocabSize(vocabBytes);
    assert.equal((v.metadata.get('tokenizer.ggml.tokens') as unknown[]).length, nVocab);
    const md = (k: string) => f.metadata.get(`${arch}.${k}`);
    assert.equal(f.metadata.get('general.architecture'), arch);
    assert.equal(md('embedding_length'), 256);
    assert.equal(md('block_count'), 1);
    assert.equal(md('feed_forward_length'), 640);
    assert.equal(md('attention.head_count'), 4);
    assert.equal(md('attention.head_count_kv'), 2);
    assert.equal(md('context_length'), 4096);
    assert.equal(md('rope.freq_base'), 1e6);
    if (arch === 'llama') {
      assert.equal(md('vocab_size'), nVocab);
      assert.equal(md('rope.dimension_count'), 64);
      assert.equal(md('rope.scaling.type'), 'linear');
      assert.equal(md('rope.scaling.factor'), 4);
    }

    // Tensors: llama.cpp's names, in the planned order, dims and formats; bytes as planned.
    const plan = planTensors(spec, nVocab);
    assert.deepEqual(
      f.tensors.map((x) => x.name).sort(),
      [...OUTSIDE[arch]!, ...LAYER0[arch]!.map((n) => `blk.0.${n}`)].sort(),
    );
    assert.deepEqual(
      f.tensors.map((x) => [x.name, x.dims, x.type]),
      plan.map((p) => [p.name, p.dims, formatType(p.format)]),
    );
    const embd = f.tensorByName.get('token_embd.weight')!;
    assert.deepEqual(embd.dims, [256, nVocab]);
    const norm = new Float32Array((await readTensorData(bytesSource(mem), f.tensorByName.get('blk.0.attn_norm.weight')!)).slice().buffer);
    const mean = norm.reduce((a, b) => a + b, 0) / norm.length;
    assert.ok(Math.abs(mean - 1) < 0.05, `norm weights near 1 (mean ${mean})`);
  });
}

test('gguf-writer: every value type reads back; raw copies keep their type; tensors are aligned', async () => {
  const src = new GGUFWriter()
    .string('s', 'héllo')
    .u32('u32', 4000000000)
    .i32('i32', -5)
    .f32('f32', 0.5)
    .bool('bool', true)
    .set('u8', { type: 'u8', value: 255 })
    .set('i8', { type: 'i8', value: -128 })
    .set('u16', { type: 'u16', value: 65535 })
    .set('i16', { type: 'i16', value: -32768 })
    .set('u64', { type: 'u64', value: 2n ** 63n })
    .set('i64', { type: 'i64', value: -3 })
    .set('f64', { type: 'f64', value: Math.PI })
    .set('strs', { type: 'array', of: 'string', value: ['a', '', 'ü'] })
    .set('i32s', { type: 'array', of: 'i32', value: [1, -2, 3] })
    .set('bools', { type: 'array', of: 'bool', value: [true, false] })
    .tensor('a', [3], GGMLType.F32, new Uint8Array(new Float32Array([1, 2, 3]).buffer))
    .tensor('b', [32, 2], GGMLType.Q8_0, () => [new Uint8Array(34).fill(1), new Uint8Array(34).fill(2)])
    .toBytes();
  const f = await readGGUF(bytesSource(src));
  assert.deepEqual(Object.fromEntries(f.metadata), {
    s: 'héllo',
    u32: 4000000000,
    i32: -5,
    f32: 0.5,
    bool: true,
    u8: 255,
    i8: -128,
    u16: 65535,
    i16: -32768,
    u64: 2n ** 63n,
    i64: -3,
    f64: Math.PI,
    strs: ['a', '', 'ü'],
    i32s: [1, -2, 3],
    bools: [true, false],
  });
  assert.deepEqual(new Float32Array((await readTensorData(bytesSource(src), f.tensorByName.get('a')!)).slice().buffer), new Float32Array([1, 2, 3]));
  const b = await readTensorData(bytesSource(src), f.tensorByName.get('b')!);
  assert.ok(b.subarray(0, 34).every((x) => x === 1) && b.subarray(34).every((x) => x === 2));
  for (const x of f.tensors) assert.equal(x.offset % 32, 0);
  assert.equal(src.length % 32, 0);

  // Copied entries keep their exact type: the copy's metadata section is byte-identical to the original's.
  const copy = new GGUFWriter();
  copy.copyMetadata(src, () => true);
  const re = copy.toBytes();
  const g = await readGGUF(bytesSource(re));
  assert.deepEqual(Object.fromEntries(g.metadata), Object.fromEntries(f.metadata));
  const kvEnd = 24 + rawMetadata(src).reduce((a, e) => a + 8 + Buffer.byteLength(e.key) + e.raw.length, 0);
  assert.ok(Buffer.from(re.subarray(16, kvEnd)).equals(src.subarray(16, kvEnd)));

  // Errors: wrong sizes, bad values, duplicates.
  assert.throws(() => new GGUFWriter().tensor('x', [32], GGMLType.Q8_0, new Uint8Array(33)), /takes 34/);
  assert.throws(() => new GGUFWriter().tensor('x', [33], GGMLType.Q8_0, new Uint8Array(34)), /block size/);
  assert.throws(() => new GGUFWriter().tensor('x', [32], GGMLType.Q8_0, () => new Uint8Array(30)).toBytes(), /produced 30 bytes/);
  assert.throws(() => new GGUFWriter().u32('k', -1), /not a valid u32/);
  assert.throws(() => new GGUFWriter().u32('k', 1).u32('k', 2), /duplicate/);
});
