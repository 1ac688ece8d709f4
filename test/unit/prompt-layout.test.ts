// Repository-level prompt layouts (src/engine/prompt-layout.ts), token by token against each model's documented format:
// the format's prompt is written as ONE string with the special tokens as text and tokenized by llama.cpp with special
// tokens parsed (node-llama-cpp's CPU prebuilt, vocab-only loads), then compared with the layout's pieces as the session
// puts them together. Where one-string and piecewise tokenization can legitimately differ, at the boundaries of texts
// that the session tokenizes apart with no special token between them (a prefix that starts with whitespace right after
// the path's "\n"; left to right, the prefix's end against the suffix's start), the texts are chosen where both agree:
// every prefix starts with a letter, and the left-to-right split falls between a letter and punctuation.
// Qwen2.5-Coder's special tokens are written into a temporary copy of the qwen2 vocabulary (its ids 151646+ are
// placeholders there).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bytesSource, readGGUF } from '../../src/engine/model/gguf.js';
import { type Tokenizer, tokenizerFromMetadata } from '../../src/engine/model/tokenizer.js';
import { type PromptLayout, pathComment, promptLayout } from '../../src/engine/prompt-layout.js';
import { fixture, skipOrFail } from '../helpers/fixtures.js';
import { GGUFWriter } from '../helpers/gguf-writer.js';

const tmp = mkdtempSync(join(tmpdir(), 'pie-prompt-layout-'));

type Llama = Awaited<ReturnType<(typeof import('node-llama-cpp'))['getLlama']>>;
type TransformerModel = Awaited<ReturnType<Llama['loadModel']>>;
let llama: Promise<Llama> | null = null;
const llamaModels: Promise<TransformerModel>[] = [];

after(async () => {
  for (const m of llamaModels) await (await m.catch(() => null))?.dispose();
  if (llama) await (await llama.catch(() => null))?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** llama.cpp's tokenization of `text` with special tokens parsed (llama_tokenize(add_special=false, parse_special=true)). */
async function llamaCppTokenizer(modelPath: string): Promise<(text: string, special?: boolean) => number[]> {
  llama ??= import('node-llama-cpp').then(({ getLlama, LlamaLogLevel }) =>
    getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled }),
  );
  const m = llama.then((l) => l.loadModel({ modelPath, vocabOnly: true, gpuLayers: 0 }));
  llamaModels.push(m);
  const model = await m;
  return (text, special = true) => Array.from(model.tokenize(text, special), Number);
}

interface Vocab {
  path: string;
  tok: Tokenizer;
}

async function vocab(rel: string): Promise<Vocab | null> {
  const path = fixture(rel);
  if (!path) return null;
  return { path, tok: tokenizerFromMetadata((await readGGUF(bytesSource(readFileSync(path)))).metadata) };
}

/** The qwen2 vocabulary with Qwen2.5-Coder's special tokens at their real ids (control tokens), written to `tmp`. */
async function qwenCoder(): Promise<Vocab | null> {
  const src = fixture('vocab/ggml-vocab-qwen2.gguf');
  if (!src) return null;
  const bytes = new Uint8Array(readFileSync(src));
  const md = (await readGGUF(bytesSource(bytes))).metadata;
  const tokens = [...(md.get('tokenizer.ggml.tokens') as string[])];
  const types = [...(md.get('tokenizer.ggml.token_type') as number[])];
  const real = ['<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>'];
  real.forEach((t, i) => {
    tokens[151659 + i] = t;
    types[151659 + i] = 3;
  });
  const w = new GGUFWriter();
  w.copyMetadata(bytes, (k) => k !== 'tokenizer.ggml.tokens' && k !== 'tokenizer.ggml.token_type');
  w.set('tokenizer.ggml.tokens', { type: 'array', of: 'string', value: tokens });
  w.set('tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: types });
  const out = w.toBytes();
  const path = join(tmp, 'qwen2.5-coder-vocab.gguf');
  writeFileSync(path, out);
  return { path, tok: tokenizerFromMetadata((await readGGUF(bytesSource(out))).metadata) };
}

/** The cache's token sequence after BOS, as the session lays it out: psm FIM, or left to right (fim false). */
function laidOut(
  tok: Tokenizer, l: PromptLayout, chunks: readonly (readonly [string, string])[], path: string, prefix: string, suffix: string, fim = true,
): number[] {
  const f = tok.fim;
  const named = l.file(path);
  const ctx = [...l.head(), ...chunks.flatMap(([p, t]) => l.chunk(p, t)), ...named.before];
  if (!fim) return [...ctx, ...named.afterPre, ...tok.encode(prefix), ...tok.encode(suffix)];
  return [...ctx, f.prefix!, ...named.afterPre, ...tok.encode(prefix), f.suffix!, ...tok.encode(suffix), f.middle!];
}

const LIBRARY =
  'class Library:\n    def __init__(self):\n        self.books = []\n\n    def add(self, book):\n        self.books.append(book)\n';
const STUDENT = 'class Student:\n    def __init__(self, name):\n        self.name = name\n';
const PREFIX =
  'from library import Library\nfrom student import Student\n\ndef main():\n    library = Library()\n    student = Student("Alice")\n    ';
const SUFFIX = '\n    print(student.name)\n\nif __name__ == "__main__":\n    main()\n';
// left to right the session tokenizes the prefix and the suffix apart too: split where one string agrees (a letter,
// then punctuation)
const LTR_PREFIX = 'from library import Library\n\ndef main():\n    library = Library';
const LTR_SUFFIX = '()\n    print(library.books)\n';
const ERRORS = 'export class AppError extends Error {\n  constructor(readonly code: string) {\n    super(code);\n  }\n}\n';

test('Qwen2.5-Coder: the model card\'s repository-level FIM prompt, token for token', async (t) => {
  const v = await qwenCoder();
  if (!v) return skipOrFail(t, 'missing fixture ../shared/fixtures/vocab/ggml-vocab-qwen2.gguf');
  const { tok } = v;
  assert.deepEqual(tok.fim, { prefix: 151659, suffix: 151661, middle: 151660, pad: 151662, repo: 151663, sep: 151664 });
  const l = promptLayout(tok, 'qwen2', { repoName: 'library-system' });
  assert.equal(l.name, 'qwen-repo');
  const llamaCpp = await llamaCppTokenizer(v.path);
  const chunks = [['library.py', LIBRARY], ['student.py', STUDENT], ['', 'Student("Bob")']] as const;
  // examples/Qwen2.5-Coder-repolevel-fim.py in github.com/QwenLM/Qwen2.5-Coder (the clipboard chunk: an empty path line)
  const card =
    '<|repo_name|>library-system\n' +
    `<|file_sep|>library.py\n${LIBRARY}\n<|file_sep|>student.py\n${STUDENT}\n<|file_sep|>\nStudent("Bob")\n` +
    `<|file_sep|>main.py\n<|fim_prefix|>${PREFIX}<|fim_suffix|>${SUFFIX}<|fim_middle|>`;
  assert.deepEqual(laidOut(tok, l, chunks, 'main.py', PREFIX, SUFFIX), llamaCpp(card));
  // left to right: examples/Qwen2.5-Coder-repolevel.py (the file's text right after its path line)
  const plain = `<|repo_name|>library-system\n<|file_sep|>library.py\n${LIBRARY}\n<|file_sep|>main.py\n${LTR_PREFIX}${LTR_SUFFIX}`;
  assert.deepEqual(laidOut(tok, l, [chunks[0]], 'main.py', LTR_PREFIX, LTR_SUFFIX, false), llamaCpp(plain));
  // without a name, llama.cpp's
  assert.deepEqual(promptLayout(tok, 'qwen2').head(), llamaCpp('<|repo_name|>myproject\n'));
});

test('StarCoder2: the paper\'s repository-context format, the path after <fim_prefix>; <repo_name>/<file_sep> taken by id', async (t) => {
  const v = await vocab('vocab/ggml-vocab-starcoder.gguf');
  if (!v) return skipOrFail(t, 'missing fixture ../shared/fixtures/vocab/ggml-vocab-starcoder.gguf');
  const { tok } = v;
  // llama.cpp finds neither token by its text, and the file has no fim_rep/fim_sep keys: the layout takes ids 5 and 6
  assert.equal(tok.fim.repo, null);
  assert.equal(tok.fim.sep, null);
  const l = promptLayout(tok, 'starcoder2', { repoName: 'library-system' });
  assert.equal(l.name, 'starcoder2-repo');
  const llamaCpp = await llamaCppTokenizer(v.path);
  assert.deepEqual(llamaCpp('<repo_name><file_sep>'), [5, 6]);
  const chunks = [['library.py', LIBRARY], ['student.py', STUDENT], ['', 'Student("Bob")\n']] as const;
  // arXiv 2402.19173: <repo_name>reponame<file_sep>filepath0\ncode0<file_sep><fim_prefix>filepath1\ncode1_pre<fim_suffix>
  // code1_suf<fim_middle>; a chunk without a path as its format without metadata: <file_sep>code
  const card =
    `<repo_name>library-system<file_sep>library.py\n${LIBRARY}<file_sep>student.py\n${STUDENT}<file_sep>Student("Bob")\n` +
    `<file_sep><fim_prefix>main.py\n${PREFIX}<fim_suffix>${SUFFIX}<fim_middle>`;
  assert.deepEqual(laidOut(tok, l, chunks, 'main.py', PREFIX, SUFFIX), llamaCpp(card));
  const plain = `<repo_name>library-system<file_sep>library.py\n${LIBRARY}<file_sep>main.py\n${LTR_PREFIX}${LTR_SUFFIX}`;
  assert.deepEqual(laidOut(tok, l, [chunks[0]], 'main.py', LTR_PREFIX, LTR_SUFFIX, false), llamaCpp(plain));
  // another architecture with this vocabulary has no StarCoder2 format: path comments
  assert.equal(promptLayout(tok, 'llama').name, 'path-comment');
});

test('DeepSeek-Coder: a path comment opens each file (its README\'s repository-level completion), one blank line between', async (t) => {
  const v = await vocab('vocab/ggml-vocab-deepseek-coder.gguf');
  if (!v) return skipOrFail(t, 'missing fixture ../shared/fixtures/vocab/ggml-vocab-deepseek-coder.gguf');
  const { tok } = v;
  const l = promptLayout(tok, 'llama');
  assert.equal(l.name, 'path-comment');
  assert.deepEqual(l.head(), []);
  const llamaCpp = await llamaCppTokenizer(v.path);
  const chunks = [['library.py', LIBRARY], ['src/errors.ts', ERRORS], ['', 'Student("Bob")']] as const;
  const card =
    `# library.py\n${LIBRARY}\n// src/errors.ts\n${ERRORS}\n--- snippet ---\n\nStudent("Bob")\n\n` +
    `# main.py\n<｜fim▁begin｜>${PREFIX}<｜fim▁hole｜>${SUFFIX}<｜fim▁end｜>`;
  assert.deepEqual(laidOut(tok, l, chunks, 'main.py', PREFIX, SUFFIX), llamaCpp(card));
  const plain = `# library.py\n${LIBRARY}\n# main.py\n${LTR_PREFIX}${LTR_SUFFIX}`;
  assert.deepEqual(laidOut(tok, l, [chunks[0]], 'main.py', LTR_PREFIX, LTR_SUFFIX, false), llamaCpp(plain));
});

test('models without repository tokens (CodeLlama-style SentencePiece, the bundled pie-code-tiny): path comments, no head', async (t) => {
  const spm = await vocab('vocab/ggml-vocab-llama-spm.gguf');
  if (!spm) return skipOrFail(t, 'missing fixture ../shared/fixtures/vocab/ggml-vocab-llama-spm.gguf');
  const tinyPath = join(import.meta.dirname, '../../models/pie-code-tiny.gguf');
  if (!existsSync(tinyPath)) return skipOrFail(t, `missing the bundled model ${tinyPath}`);
  const tiny = tokenizerFromMetadata((await readGGUF(bytesSource(readFileSync(tinyPath)))).metadata);
  for (const tok of [spm.tok, tiny]) {
    const l = promptLayout(tok, 'llama');
    assert.equal(l.name, 'path-comment');
    assert.deepEqual(l.head(), []);
    assert.deepEqual(l.chunk('src/a.ts', 'let x = 1;'), tok.encode('// src/a.ts\nlet x = 1;\n\n'));
    assert.deepEqual(l.file('src/b.py'), { before: tok.encode('# src/b.py\n'), afterPre: [] });
    assert.deepEqual(l.file(''), { before: [], afterPre: [] });
  }
});

test('path comments: the comment syntax of the file\'s language, by extension or file name; # when unknown', () => {
  const cases: Record<string, string> = {
    'a/b.py': '# a/b.py', 'run.sh': '# run.sh', 'lib/x.rb': '# lib/x.rb', 'ci.yaml': '# ci.yaml', 'Makefile': '# Makefile',
    'docker/Dockerfile': '# docker/Dockerfile', 'CMakeLists.txt': '# CMakeLists.txt', '.gitignore': '# .gitignore',
    'src/a.ts': '// src/a.ts', 'App.TSX': '// App.TSX', 'm.js': '// m.js', 'k.c': '// k.c', 'k.h': '// k.h', 'main.go': '// main.go',
    'lib.rs': '// lib.rs', 'A.java': '// A.java', 'x.cpp': '// x.cpp', 'q.sql': '-- q.sql', 'init.lua': '-- init.lua',
    'Main.hs': '-- Main.hs', 'core.clj': '; core.clj', 'paper.tex': '% paper.tex', 'site.css': '/* site.css */',
    'index.html': '<!-- index.html -->', 'README.md': '<!-- README.md -->', 'notes.txt': '# notes.txt', 'LICENSE': '# LICENSE',
    'dir.v2/file': '# dir.v2/file',
  };
  for (const [path, line] of Object.entries(cases)) assert.equal(pathComment(path), line, path);
});

test('a chunk\'s text that holds a special token\'s text stays plain text (never a control token)', async (t) => {
  const q = await qwenCoder();
  const s = await vocab('vocab/ggml-vocab-starcoder.gguf');
  const d = await vocab('vocab/ggml-vocab-deepseek-coder.gguf');
  if (!q || !s || !d) return skipOrFail(t, 'missing fixtures ../shared/fixtures/vocab/ggml-vocab-{qwen2,starcoder,deepseek-coder}.gguf');
  const cases = [
    [q, 'qwen2', '<|file_sep|>', (text: string) => `a.py\n${text}\n`],
    [s, 'starcoder2', '<file_sep>', (text: string) => `a.py\n${text}`],
    [d, 'llama', '<｜fim▁begin｜>', (text: string) => `# a.py\n${text}\n\n`],
  ] as const;
  for (const [v, arch, special, run] of cases) {
    const { tok } = v;
    const l = promptLayout(tok, arch);
    const text = `s = "${special}<repo_name><|repo_name|><|fim_prefix|><｜fim▁end｜>"\n${special}`;
    const ids = l.chunk('a.py', text);
    const body = l.name === 'path-comment' ? ids : ids.slice(1); // the separator, the one control token
    assert.ok(body.every((id) => !tok.isSpecial(id)), `${l.name}: a control token in ${JSON.stringify(text)}`);
    // exactly llama.cpp's tokenization of that text with special tokens not parsed
    const llamaCpp = await llamaCppTokenizer(v.path);
    assert.deepEqual(body, llamaCpp(run(text), false), l.name);
    // and the path too
    const named = l.file(special);
    assert.ok([...named.before, ...named.afterPre].filter((id) => tok.isSpecial(id)).length <= 1, `${l.name}: path ${special}`);
  }
});
