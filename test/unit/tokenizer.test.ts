// The GGUF-metadata tokenizer (src/engine/model/tokenizer.ts) against llama.cpp, for the vocabularies in
// ../shared/fixtures/vocab: every test vector of llama.cpp's own tokenizer tests (NAME.gguf.inp / .out, made with
// add_special=false, parse_special=false, which is what encode() does), round trips, special ids, metadata handling,
// speed, and a randomized cross-check with llama.cpp itself (node-llama-cpp's CPU prebuilt, vocab-only loads) on each
// vocabulary and on the other pre-tokenizer types (the deepseek-coder vocabulary with tokenizer.ggml.pre rewritten).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bytesSource, readGGUF, type Metadata } from '../../src/engine/model/gguf.js';
import { fileSource } from '../../src/engine/model/node-source.js';
import { type Tokenizer, TokenizerError, tokenizerFromMetadata } from '../../src/engine/model/tokenizer.js';
import { rng } from '../../src/engine/util/rng.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';

const VOCABS = ['llama-spm', 'deepseek-coder', 'starcoder', 'qwen2', 'llama-bpe'] as const;
type VocabName = (typeof VOCABS)[number];

const vocabRel = (name: string): string => `vocab/ggml-vocab-${name}.gguf`;
const missing = (rel: string): string => `missing fixture ../shared/fixtures/${rel}`;

async function metadataOf(path: string): Promise<Metadata> {
  const src = await fileSource(path);
  try {
    return (await readGGUF(src)).metadata;
  } finally {
    await src.close();
  }
}

const loaded = new Map<string, Promise<{ md: Metadata; tok: Tokenizer }>>();

/** The metadata and tokenizer of a vocab fixture (loaded once), or null when the file is missing. */
function vocab(name: VocabName): Promise<{ md: Metadata; tok: Tokenizer }> | null {
  const path = fixture(vocabRel(name));
  if (!path) return null;
  let p = loaded.get(name);
  if (!p) {
    p = metadataOf(path).then((md) => ({ md, tok: tokenizerFromMetadata(md) }));
    loaded.set(name, p);
  }
  return p;
}

/** llama.cpp's test vectors: inputs separated by "\n__ggml_vocab_test__\n" lines, one line of ids per input. */
function readVectors(name: string): { inputs: string[]; outputs: number[][] } | null {
  const inp = fixture(`${vocabRel(name)}.inp`);
  const out = fixture(`${vocabRel(name)}.out`);
  if (!inp || !out) return null;
  const inputs = readFileSync(inp, 'utf8').split('\n__ggml_vocab_test__\n');
  inputs.pop(); // the file ends with a separator
  const outputs = readFileSync(out, 'utf8')
    .split('\n')
    .slice(0, inputs.length)
    .map((line) => (line.trim() === '' ? [] : line.trim().split(/\s+/).map(Number)));
  return { inputs, outputs };
}

/** What decode(encode(x)) must give: x with lone surrogates as U+FFFD (what its UTF-8 encoding does). */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

// ---------------------------------------------------------------------------------------------------------------------
// llama.cpp's test vectors

for (const name of VOCABS) {
  const vectors = readVectors(name);
  const count = vectors ? String(vectors.inputs.length) : '(missing)';

  test(`${name}: all ${count} llama.cpp test vectors reproduced`, async (t) => {
    const v = vocab(name);
    if (!v || !vectors) return skipOrFail(t, missing(`${vocabRel(name)}{,.inp,.out}`));
    const { tok } = await v;
    assert.ok(vectors.inputs.length > 0, 'no test vectors');
    const wrong: string[] = [];
    vectors.inputs.forEach((text, i) => {
      const got = tok.encode(text);
      const want = vectors.outputs[i]!;
      if (got.join(' ') !== want.join(' ')) wrong.push(`#${i} ${JSON.stringify(text)}\n  want ${want.join(' ')}\n  got  ${got.join(' ')}`);
    });
    assert.equal(wrong.length, 0, `${wrong.length}/${count} vectors differ:\n${wrong.join('\n')}`);
  });

  test(`${name}: decode(encode(x)) === x for all ${count} test inputs`, async (t) => {
    const v = vocab(name);
    if (!v || !vectors) return skipOrFail(t, missing(`${vocabRel(name)}{,.inp}`));
    const { tok } = await v;
    for (const text of vectors.inputs) assert.equal(tok.decode(tok.encode(text)), text);
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Special ids, token bytes, metadata handling

type Facts = Pick<Tokenizer, 'kind' | 'pre' | 'vocabSize' | 'bos' | 'eos' | 'addBos' | 'addSpacePrefix' | 'fim'>;
const NO_FIM = { prefix: null, suffix: null, middle: null, pad: null, repo: null, sep: null };
const EXPECTED: Record<VocabName, Facts> = {
  'llama-spm': { kind: 'llama', pre: null, vocabSize: 32000, bos: 1, eos: 2, addBos: true, addSpacePrefix: true, fim: NO_FIM },
  // the FIM ids from the fixtures README (found by token text: the file has no fim_* keys)
  'deepseek-coder': {
    kind: 'gpt2', pre: 'deepseek-coder', vocabSize: 32256, bos: 32013, eos: 32014, addBos: true, addSpacePrefix: false,
    fim: { prefix: 32016, suffix: 32015, middle: 32017, pad: null, repo: null, sep: null },
  },
  starcoder: {
    kind: 'gpt2', pre: 'starcoder', vocabSize: 49152, bos: 0, eos: 0, addBos: false, addSpacePrefix: false,
    fim: { prefix: 1, suffix: 3, middle: 2, pad: 4, repo: null, sep: null },
  },
  qwen2: { kind: 'gpt2', pre: 'qwen2', vocabSize: 151936, bos: 151643, eos: 151643, addBos: false, addSpacePrefix: false, fim: NO_FIM },
  // llama3 pre-tokenizers default to add_bos in llama.cpp; the file has no add_bos_token key
  'llama-bpe': { kind: 'gpt2', pre: 'llama-bpe', vocabSize: 128256, bos: 128000, eos: 128001, addBos: true, addSpacePrefix: false, fim: NO_FIM },
};

for (const name of VOCABS) {
  test(`${name}: kind, pre, vocab size, bos/eos (as in the metadata), add-BOS, space prefix and FIM ids`, async (t) => {
    const v = vocab(name);
    if (!v) return skipOrFail(t, missing(vocabRel(name)));
    const { md, tok } = await v;
    const e = EXPECTED[name];
    const { kind, pre, vocabSize, bos, eos, addBos, addSpacePrefix, fim } = tok;
    assert.deepEqual({ kind, pre, vocabSize, bos, eos, addBos, addSpacePrefix, fim }, e);
    assert.equal(tok.bos, md.get('tokenizer.ggml.bos_token_id'));
    assert.equal(tok.eos, md.get('tokenizer.ggml.eos_token_id'));
    assert.equal(tok.vocabSize, (md.get('tokenizer.ggml.tokens') as unknown[]).length);
    for (const id of [tok.bos, tok.eos, tok.fim.prefix, tok.fim.suffix, tok.fim.middle, tok.fim.pad]) {
      if (id === null) continue;
      assert.ok(tok.isSpecial(id), `${id} is special`);
      assert.equal(tok.tokenBytes(id).length, 0, `${id} decodes to nothing`);
    }
  });
}

const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];
const tokenId = (md: Metadata, text: string): number => {
  const id = (md.get('tokenizer.ggml.tokens') as string[]).indexOf(text);
  assert.ok(id >= 0, `no token ${JSON.stringify(text)}`);
  return id;
};

test('tokenBytes and isSpecial: SentencePiece byte and "▁" tokens, control and unknown tokens', async (t) => {
  const v = vocab('llama-spm');
  if (!v) return skipOrFail(t, missing(vocabRel('llama-spm')));
  const { md, tok } = await v;
  assert.deepEqual([...tok.tokenBytes(tokenId(md, '<0x0A>'))], [10]);
  assert.deepEqual([...tok.tokenBytes(tokenId(md, '<0xE2>'))], [0xe2]);
  assert.deepEqual([...tok.tokenBytes(tokenId(md, '▁the'))], utf8(' the'));
  assert.deepEqual([...tok.tokenBytes(tokenId(md, '▁'))], utf8(' '));
  for (const id of [0, 1, 2]) {
    assert.ok(tok.isSpecial(id), `<unk>/<s>/</s> ${id}`);
    assert.deepEqual([...tok.tokenBytes(id)], []);
  }
  assert.ok(!tok.isSpecial(tokenId(md, '▁the')));
  assert.ok(!tok.isSpecial(tokenId(md, '<0x0A>')));
  assert.ok(!tok.isSpecial(-1) && !tok.isSpecial(32000) && !tok.isSpecial(1.5));
  assert.throws(() => tok.tokenBytes(32000), TokenizerError);
  // the space prefix SPM adds goes away again, unless a token (here BOS) comes first, as in llama.cpp's detokenize
  assert.deepEqual(tok.encode('Hello'), [15043]);
  assert.equal(tok.decode([15043]), 'Hello');
  assert.equal(tok.decode([1, 15043]), ' Hello');
  assert.deepEqual(tok.encode(''), []);
  assert.equal(tok.decode([]), '');
  // the text of a control token is plain text (parse_special=false)
  assert.ok(!tok.encode('<s>').includes(1));
  // without the space prefix: "Hello" is not "▁Hello"
  const bare = tokenizerFromMetadata(edited(md, { 'tokenizer.ggml.add_space_prefix': false }));
  assert.equal(bare.addSpacePrefix, false);
  assert.notDeepEqual(bare.encode('Hello'), [15043]);
  assert.deepEqual(bare.encode(' Hello'), [15043]);
  assert.equal(bare.decode(bare.encode('Hello')), 'Hello');
});

test('tokenBytes and isSpecial: byte-level BPE tokens, user-defined and FIM tokens', async (t) => {
  const v = vocab('deepseek-coder');
  const s = vocab('starcoder');
  if (!v || !s) return skipOrFail(t, missing(vocabRel(v ? 'starcoder' : 'deepseek-coder')));
  const { md, tok } = await v;
  // user-defined tokens: split out of the input, decoded as their text, not special
  const o = tokenId(md, 'õ');
  assert.deepEqual(tok.encode('aõb'), [...tok.encode('a'), o, ...tok.encode('b')]);
  assert.deepEqual([...tok.tokenBytes(o)], utf8('õ'));
  assert.ok(!tok.isSpecial(o));
  // FIM texts in a document are plain text
  assert.ok(!tok.encode('<｜fim▁begin｜>').includes(tok.fim.prefix!));

  const star = (await s).tok;
  const smd = (await s).md;
  assert.deepEqual([...star.tokenBytes(tokenId(smd, 'Ġ'))], [0x20]);
  assert.deepEqual([...star.tokenBytes(tokenId(smd, 'Ċ'))], [0x0a]);
  assert.deepEqual([...star.tokenBytes(tokenId(smd, 'ĠĠĠ'))], utf8('   '));
  // the tokens' bytes concatenate to the text's UTF-8 (a token may hold part of a character)
  const ids = star.encode('éé日本');
  assert.deepEqual(ids.flatMap((id) => [...star.tokenBytes(id)]), utf8('éé日本'));
  assert.ok(star.isSpecial(tokenId(smd, '<file_sep>')));
});

/** A copy of `md` with some keys set (undefined deletes). */
function edited(md: Metadata, changes: Record<string, string | number | boolean | undefined>): Metadata {
  const m = new Map(md);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) m.delete(k);
    else m.set(k, v);
  }
  return m;
}

test('FIM ids from metadata keys; the deprecated prefix/suffix/middle keys win; out-of-range ids are ignored', async (t) => {
  const v = vocab('llama-spm');
  if (!v) return skipOrFail(t, missing(vocabRel('llama-spm')));
  const { md } = await v;
  const keys = { 'tokenizer.ggml.fim_pre_token_id': 100, 'tokenizer.ggml.fim_suf_token_id': 101, 'tokenizer.ggml.fim_mid_token_id': 102 };
  assert.deepEqual(tokenizerFromMetadata(edited(md, keys)).fim, { prefix: 100, suffix: 101, middle: 102, pad: null, repo: null, sep: null });
  const old = { ...keys, 'tokenizer.ggml.prefix_token_id': 200, 'tokenizer.ggml.fim_pad_token_id': 7, 'tokenizer.ggml.fim_mid_token_id': 99999 };
  assert.deepEqual(tokenizerFromMetadata(edited(md, old)).fim, { prefix: 200, suffix: 101, middle: null, pad: 7, repo: null, sep: null });
});

test('end of generation: EOS, EOT, FIM pad, by metadata key or by text (llama_vocab_is_eog)', async (t) => {
  const v = vocab('llama-spm');
  const s = vocab('starcoder');
  if (!v || !s) return skipOrFail(t, missing(vocabRel(v ? 'starcoder' : 'llama-spm')));
  const { md, tok } = await v;
  assert.ok(tok.isEog(tok.eos!) && !tok.isEog(tok.bos!) && !tok.isEog(tokenId(md, '▁the')));
  // an EOT id from the metadata ends generation whatever its token type
  const eot = tokenizerFromMetadata(edited(md, { 'tokenizer.ggml.eot_token_id': 500 }));
  assert.ok(eot.isEog(500) && !eot.isSpecial(500));
  const { md: smd, tok: star } = await s;
  assert.ok(star.isEog(tokenId(smd, '<fim_pad>')));
  assert.ok(!star.isEog(star.fim.prefix!) && !star.isEog(star.fim.middle!));
});

test("Qwen2.5-Coder's special tokens at their real ids: FIM sentinels found by text; <|endoftext|>, <|fim_pad|>, <|repo_name|>, <|file_sep|> end generation", async (t) => {
  const v = vocab('qwen2');
  if (!v) return skipOrFail(t, missing(vocabRel('qwen2')));
  const { md } = await v;
  // the fixture holds placeholders from 151646 on: put Qwen2.5-Coder's texts there as control tokens (type 3)
  const real: Record<number, string> = {
    151659: '<|fim_prefix|>',
    151660: '<|fim_middle|>',
    151661: '<|fim_suffix|>',
    151662: '<|fim_pad|>',
    151663: '<|repo_name|>',
    151664: '<|file_sep|>',
  };
  const tokens = [...(md.get('tokenizer.ggml.tokens') as string[])];
  const types = [...(md.get('tokenizer.ggml.token_type') as number[])];
  for (const [id, text] of Object.entries(real)) {
    tokens[Number(id)] = text;
    types[Number(id)] = 3;
  }
  const m = new Map(md);
  m.set('tokenizer.ggml.tokens', tokens);
  m.set('tokenizer.ggml.token_type', types);
  const tok = tokenizerFromMetadata(m);
  assert.deepEqual(tok.fim, { prefix: 151659, suffix: 151661, middle: 151660, pad: 151662, repo: 151663, sep: 151664 });
  for (const id of [151643, 151662, 151663, 151664]) assert.ok(tok.isEog(id), `${tokens[id]} (${id}) should end generation`);
  for (const id of [151659, 151660, 151661]) assert.ok(!tok.isEog(id) && tok.isSpecial(id), `${tokens[id]} is a control token, not an end`);
  // the sentinel texts in a document are plain text, never the control ids
  assert.ok(!tok.encode('<|fim_prefix|>x').includes(151659));
});

test('add-BOS: the metadata key, else llama.cpp defaults (SPM yes, llama3 pre yes, other BPE no)', async (t) => {
  const spm = vocab('llama-spm');
  const bpe = vocab('llama-bpe');
  const star = vocab('starcoder');
  if (!spm || !bpe || !star) return skipOrFail(t, missing('vocab/ggml-vocab-{llama-spm,llama-bpe,starcoder}.gguf'));
  const spmMd = (await spm).md;
  assert.equal(tokenizerFromMetadata(edited(spmMd, { 'tokenizer.ggml.add_bos_token': false })).addBos, false);
  assert.equal(tokenizerFromMetadata(edited(spmMd, { 'tokenizer.ggml.add_bos_token': undefined })).addBos, true);
  assert.equal((await bpe).tok.addBos, true);
  assert.equal(tokenizerFromMetadata(edited((await bpe).md, { 'tokenizer.ggml.add_bos_token': false })).addBos, false);
  assert.equal((await star).tok.addBos, false);
  assert.equal(tokenizerFromMetadata(edited((await star).md, { 'tokenizer.ggml.add_bos_token': true })).addBos, true);
});

test('unsupported tokenizer model or pre-tokenizer type: TokenizerError naming it and listing the supported ones', async (t) => {
  const v = vocab('starcoder');
  if (!v) return skipOrFail(t, missing(vocabRel('starcoder')));
  const { md } = await v;
  assert.throws(
    () => tokenizerFromMetadata(edited(md, { 'tokenizer.ggml.pre': 'no-such-pre' })),
    (e: unknown) =>
      e instanceof TokenizerError &&
      /"no-such-pre"/.test(e.message) &&
      ['default', 'llama-bpe', 'deepseek-coder', 'starcoder', 'qwen2'].every((p) => e.message.includes(p)),
  );
  assert.throws(
    () => tokenizerFromMetadata(edited(md, { 'tokenizer.ggml.model': 't5' })),
    (e: unknown) => e instanceof TokenizerError && /"t5"/.test(e.message) && /llama, gpt2/.test(e.message),
  );
  assert.throws(() => tokenizerFromMetadata(edited(md, { 'tokenizer.ggml.model': undefined })), TokenizerError);
  // no pre key on a BPE vocabulary: llama.cpp's "default"
  assert.equal(tokenizerFromMetadata(edited(md, { 'tokenizer.ggml.pre': undefined })).pre, 'default');
});

// ---------------------------------------------------------------------------------------------------------------------
// Speed

/** 100 KB of real source code (a pinned dependency, so the same text every run). */
const SOURCE_100KB = readFileSync(new URL('../../node_modules/typescript/lib/typescript.js', import.meta.url), 'utf8').slice(0, 100_000);
for (const name of VOCABS) {
  // its speed is printed, not asserted: speed belongs to benchmarks (a loaded machine would fail a timed test)
  test(`${name}: 100 KB of source code round-trips (encode, then decode)`, async (t) => {
    const path = fixture(vocabRel(name));
    if (!path) return skipOrFail(t, missing(vocabRel(name)));
    const md = await metadataOf(path);
    const t0 = performance.now();
    const tok = tokenizerFromMetadata(md); // a fresh one: no word cache yet
    const t1 = performance.now();
    const ids = tok.encode(SOURCE_100KB);
    const t2 = performance.now();
    tok.encode(SOURCE_100KB);
    const t3 = performance.now();
    t.diagnostic(
      `build ${(t1 - t0).toFixed(0)} ms, encode ${(t2 - t1).toFixed(0)} ms cold / ${(t3 - t2).toFixed(0)} ms warm, ${ids.length} tokens`,
    );
    assert.equal(tok.decode(ids), SOURCE_100KB);
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Randomized cross-check against llama.cpp

type Llama = Awaited<ReturnType<(typeof import('node-llama-cpp'))['getLlama']>>;
let llamaPromise: Promise<Llama> | null = null;

/** llama.cpp on the CPU through node-llama-cpp's prebuilt binary, loaded once; a failure to load fails the test. */
function llamaCpp(): Promise<Llama> {
  llamaPromise ??= import('node-llama-cpp')
    .then(({ getLlama, LlamaLogLevel }) => getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled }))
    .catch((e: unknown) => {
      throw new Error(`llama.cpp (node-llama-cpp's linux-x64 CPU prebuilt) did not load, so the cross-check cannot run: ${(e as Error).message}`);
    });
  return llamaPromise;
}

type TransformerModel = Awaited<ReturnType<Llama['loadModel']>>;
const llamaModels = new Map<string, Promise<TransformerModel>>();

/** A vocab-only llama.cpp model of the GGUF file at `modelPath`, loaded once. */
function llamaCppModel(modelPath: string): Promise<TransformerModel> {
  let m = llamaModels.get(modelPath);
  if (!m) {
    m = llamaCpp().then((llama) => llama.loadModel({ modelPath, vocabOnly: true, gpuLayers: 0 }));
    llamaModels.set(modelPath, m);
  }
  return m;
}

/** The ids llama.cpp gives for each text (llama_tokenize with add_special=false, parse_special=false). */
async function llamaCppTokenize(modelPath: string, texts: readonly string[]): Promise<number[][]> {
  const model = await llamaCppModel(modelPath);
  return texts.map((s) => Array.from(model.tokenize(s, false), Number));
}

const tmp = mkdtempSync(join(tmpdir(), 'pie-tokenizer-'));
after(async () => {
  for (const m of llamaModels.values()) await (await m.catch(() => null))?.dispose();
  if (llamaPromise) await (await llamaPromise.catch(() => null))?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

// Pieces that exercise the pre-tokenizers: code, contractions (any case), whitespace runs of every kind llama.cpp knows,
// digits of several scripts, letters with combining marks, CJK, emoji sequences, the texts of control and user-defined
// tokens of the fixture vocabularies, "▁", BOM, lone surrogates.
const PIECES = [
  'function', 'return x;', ' const', 'if (a === b) {', '}\n', '=>', '!==', '&&', '||', '::', '->', '/*', '*/', '//', '#include',
  'def f(self):', '    ', '\t', '\n', '\r\n', '\n\n\n', ' \n ', '\u00a0', '\u3000', '\u2028', '\u0085', '\u200b', '\ufeff',
  "'s", "'S", "'re", "'VE", "'ll", "'Ll", "'d", "'m", "'t", "n't", "'x", '"', "'",
  '0', '12', '123', '4567', '1234567890', '٣٤٥', '३', '½', 'Ⅻ', '３２', '²',
  'é', 'e\u0301', 'naïve', 'Straße', 'Привет', 'мир', 'Ελληνικά', 'עברית', 'العربية', 'हिन्दी', 'ไทย', '日本語', '中文字符', '한국어', 'ｶﾀｶﾅ',
  '🦙', '👍🏽', '🏳️‍🌈', '\u{1F600}', '𝔘𝔫𝔦', 'ǅ', 'ʰ',
  '<s>', '</s>', '<unk>', '<|endoftext|>', '<fim_prefix>', '<fim_middle>', '<file_sep>', '<｜fim▁begin｜>', '<｜end▁of▁sentence｜>',
  '<|im_start|>', '<|begin_of_text|>', 'õ', 'ö', 'Á', '[PAD151646]', '▁', '\ud800', 'x\udc00y',
];
const WHITESPACE = [' ', ' ', ' ', '\t', '\n', '\r', '\u00a0', '\u3000', '\u2009', '\u000b', '\u000c'];

function randomText(r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  let s = '';
  const parts = 1 + Math.floor(r() * 24);
  for (let i = 0; i < parts; i++) {
    const x = r();
    if (x < 0.45) s += pick(PIECES);
    else if (x < 0.55) s += Array.from({ length: 1 + Math.floor(r() * 8) }, () => pick(WHITESPACE)).join('');
    else if (x < 0.6) s += Array.from({ length: 1 + Math.floor(r() * 12) }, () => String(Math.floor(r() * 10))).join('');
    else if (x < 0.8) s += String.fromCharCode(0x20 + Math.floor(r() * 95));
    else if (x < 0.95) s += String.fromCharCode(Math.floor(r() * 0x10000)); // any BMP unit, lone surrogates included
    else s += String.fromCodePoint(0x10000 + Math.floor(r() * 0x100000)); // any plane: unassigned, private use, ...
  }
  return s;
}

const RANDOM_PER_VOCAB = 300;

/** The bytes some token stands for on its own: all that a byte fallback can produce. */
function singleByteTokens(tok: Tokenizer): Set<number> {
  const out = new Set<number>();
  for (let id = 0; id < tok.vocabSize; id++) {
    const b = tok.tokenBytes(id);
    if (b.length === 1) out.add(b[0]!);
  }
  return out;
}

/** Our ids vs llama.cpp's for `texts`; a failure lists the first differences. */
function assertSameIds(tok: Tokenizer, texts: readonly string[], theirs: readonly number[][]): void {
  const wrong: string[] = [];
  texts.forEach((s, i) => {
    const ours = tok.encode(s);
    if (ours.join(' ') !== theirs[i]!.join(' ')) wrong.push(`${JSON.stringify(s)}\n  llama.cpp ${theirs[i]!.join(' ')}\n  ours      ${ours.join(' ')}`);
  });
  assert.equal(wrong.length, 0, `${wrong.length}/${texts.length} texts differ from llama.cpp:\n${wrong.slice(0, 5).join('\n')}`);
}

for (const [k, name] of VOCABS.entries()) {
  test(`${name}: ${RANDOM_PER_VOCAB} random strings and 100 KB of source code tokenize exactly as in llama.cpp`, async (t) => {
    const path = fixture(vocabRel(name));
    const v = vocab(name);
    if (!path || !v) return skipOrFail(t, missing(vocabRel(name)));
    const { tok } = await v;
    const r = rng(1000 + k);
    const texts = [...Array.from({ length: RANDOM_PER_VOCAB }, () => randomText(r)), SOURCE_100KB];
    assertSameIds(tok, texts, await llamaCppTokenize(path, texts));
    // Round trips. BPE: the output bytes are the input's, less those the vocabulary has no token for (StarCoder's has
    // none for 0xF1, the lead byte of U+40000..U+7FFFF; llama.cpp drops them too). SentencePiece turns "▁" into " ".
    const covered = singleByteTokens(tok);
    for (const s of texts) {
      if (tok.kind === 'llama') {
        if (!s.includes('▁')) assert.equal(tok.decode(tok.encode(s)), wellFormed(s));
        continue;
      }
      const bytes = utf8(s);
      const out = tok.encode(s).flatMap((id) => [...tok.tokenBytes(id)]);
      assert.deepEqual(out, bytes.filter((b) => covered.has(b)), JSON.stringify(s));
      if (bytes.every((b) => covered.has(b))) assert.equal(tok.decode(tok.encode(s)), wellFormed(s));
    }
  });

  test(`${name}: bos, eos, FIM ids, end-of-generation ids and add-BOS equal llama.cpp's`, async (t) => {
    const path = fixture(vocabRel(name));
    const v = vocab(name);
    if (!path || !v) return skipOrFail(t, missing(vocabRel(name)));
    const { tok } = await v;
    const model = await llamaCppModel(path);
    const { tokens } = model;
    const eog = (isEog: (id: number) => boolean) => Array.from({ length: tok.vocabSize }, (_, id) => id).filter(isEog);
    assert.deepEqual(eog((id) => tok.isEog(id)), eog((id) => model.isEogToken(id as Parameters<TransformerModel['isEogToken']>[0])));
    const n = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));
    assert.deepEqual(
      { bos: tok.bos, eos: tok.eos, prefix: tok.fim.prefix, suffix: tok.fim.suffix, middle: tok.fim.middle, prependBos: tok.addBos && tok.bos !== null },
      {
        bos: n(tokens.bos),
        eos: n(tokens.eos),
        prefix: n(tokens.infill.prefix),
        suffix: n(tokens.infill.suffix),
        middle: n(tokens.infill.middle),
        prependBos: tokens.shouldPrependBosToken,
      },
    );
  });
}

/** GGUF bytes with the string value of `key` replaced (the key located by its length-prefixed name, type string). */
function withStringValue(bytes: Uint8Array, key: string, value: string): Uint8Array {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const name = Buffer.from(key, 'utf8');
  for (let i = b.indexOf(name); i !== -1; i = b.indexOf(name, i + 1)) {
    if (i < 8 || Number(b.readBigUInt64LE(i - 8)) !== name.length || b.readUInt32LE(i + name.length) !== 8) continue;
    const at = i + name.length + 4; // u64 length, then the UTF-8 bytes
    const oldEnd = at + 8 + Number(b.readBigUInt64LE(at));
    const v = Buffer.from(value, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(v.length));
    return Buffer.concat([b.subarray(0, at), len, v, b.subarray(oldEnd)]);
  }
  throw new Error(`no string key ${key}`);
}

// One name of each other regex list (the vocabularies above cover llama3, deepseek-coder, starcoder and qwen2).
const OTHER_PRE_TYPES = ['default', 'gpt-2', 'falcon', 'dbrx', 'deepseek-v3', 'seed-coder'] as const;
const RANDOM_PER_PRE = 200;

for (const [k, pre] of OTHER_PRE_TYPES.entries()) {
  test(`pre-tokenizer "${pre}" (deepseek-coder vocabulary): ${RANDOM_PER_PRE} random strings and source code as in llama.cpp`, async (t) => {
    const base = fixture(vocabRel('deepseek-coder'));
    if (!base) return skipOrFail(t, missing(vocabRel('deepseek-coder')));
    const bytes = withStringValue(readFileSync(base), 'tokenizer.ggml.pre', pre);
    const path = join(tmp, `${pre}.gguf`);
    writeFileSync(path, bytes);
    const tok = tokenizerFromMetadata((await readGGUF(bytesSource(bytes))).metadata);
    assert.equal(tok.pre, pre);
    const r = rng(2000 + k);
    const texts = [...Array.from({ length: RANDOM_PER_PRE }, () => randomText(r)), SOURCE_100KB.slice(0, 20_000)];
    assertSameIds(tok, texts, await llamaCppTokenize(path, texts));
  });
}
