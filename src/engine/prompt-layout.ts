// Repository-level prompt layouts: how chunks of other files (workspace context) and the current file's path are laid
// out ahead of the file, in the format each model family was trained with. The session (session.ts) holds
//   [BOS] [head()] [chunk(path, text)] ... [file(path).before] <PRE> [file(path).afterPre] prefix <SUF> suffix <MID>
// (or the spm / left-to-right orders of session.ts), with head and file header only when there is at least one chunk.
//
// 'qwen-repo': tokenizers with a file separator (llama.cpp's FIM_SEP, e.g. Qwen2.5-Coder's <|file_sep|>), except
// StarCoder2. Qwen2.5-Coder's model card (github.com/QwenLM/Qwen2.5-Coder, examples/Qwen2.5-Coder-repolevel-fim.py;
// the technical report, arXiv 2409.12186, gives the same template):
//   <|repo_name|>{repo}\n<|file_sep|>{path}\n{text}\n ... <|file_sep|>{path}\n<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>
// We follow the card. llama.cpp's server (tools/server/utils.hpp, format_infill) builds the same pattern, but differs:
// it adds no "\n" after a chunk's text (the card does: each file ends in a blank line), names the repository
// "myproject" (our default when no name is given) and the current file "filename", puts the chunks before BOS where a
// vocabulary adds one (Qwen's does not), and names a chunk without a file name "tmp" (ours: an empty path line).
// Any model whose vocabulary has these tokens gets this layout, as llama.cpp gives it to all of them.
//
// 'starcoder2-repo': StarCoder2's training format (Lozhkov et al. 2024, "StarCoder 2 and The Stack v2", arXiv
// 2402.19173, section on repository context): <repo_name>{repo}<file_sep>{path}\n{text}<file_sep>... with no newline
// after the repository name or a file's text; FIM was applied at file level inside that context as
//   <file_sep><fim_prefix>{path}\n{prefix}<fim_suffix>{suffix}<fim_middle>
// so the current file's path goes right after the prefix sentinel (file().afterPre), not before it. A chunk without a
// path is the paper's format without metadata: <file_sep>{text}. llama.cpp finds neither token by its text and
// converted GGUFs carry no fim_rep/fim_sep keys, so for the starcoder2 architecture they are taken at StarCoder2's ids
// (5, 6) when the vocabulary is StarCoder2's (see starcoder2Ids).
//
// 'path-comment': every other model (DeepSeek-Coder, CodeLlama, our pie-code-tiny). Each file starts with a comment
// naming its path, in the comment syntax of its language: DeepSeek-Coder's repository-level data (its README, section
// "Repository Level Code Completion"; a maintainer in deepseek-ai/DeepSeek-Coder issue 43: "For file paths, we add
// them on each code file as a comment", for Python, Java, C#, C and C++). Its README writes "#utils.py" once and
// "# model.py" after; we write "# path" (comment, space, path) and end each file with one blank line (the README has
// two). A chunk without a path (clipboard text) opens with llama.cpp's neutral separator for models without FIM_SEP,
// "--- snippet ---" and a blank line (utils.hpp: "\n\n--- snippet ---\n\n"). head() is empty.
//
// Tokenization: each text between special tokens is one encode() call and special ids are pushed as ids, as llama.cpp's
// server does, so a chunk's text can never produce a control token. A text run between two special tokens thus gets
// exactly the tokens of a one-string tokenization of the card's prompt. Texts that the session encodes apart with no
// special token between them (afterPre or file().before against the prefix; with path comments, one chunk against the
// next) can tokenize differently at that boundary than one string would (e.g. "\n" then a prefix starting with spaces
// under GPT-2-style pre-tokenizers), and on SentencePiece vocabularies each piece gets the dummy space prefix: both as
// in llama.cpp's server, which also tokenizes each piece on its own.
import type { Tokenizer } from './model/tokenizer.js';

export interface PromptLayout {
  /** A name for logs and the panel: 'qwen-repo' | 'starcoder2-repo' | 'path-comment'. */
  readonly name: string;
  /** Tokens that open the context, before the first chunk ([] for none); used only when there is at least one chunk. */
  head(): number[];
  /** One chunk: its separator, its path, its text (path: workspace-relative, '/' separators; '' for clipboard text). */
  chunk(path: string, text: string): number[];
  /** Tokens naming the current file after the chunks (used only when there is at least one chunk): `before` goes before
   *  the FIM layout (before the prefix sentinel, or before the prefix text when left to right), `afterPre` right after
   *  the prefix sentinel (empty unless the model's own format puts the path there). */
  file(path: string): { before: number[]; afterPre: number[] };
}

/** llama.cpp's repository name (utils.hpp format_infill), used when none is given. */
export const DEFAULT_REPO_NAME = 'myproject';

/** The layout for this model: by its tokenizer's repository tokens and its architecture (see the header). */
export function promptLayout(tok: Tokenizer, architecture: string, o: { repoName?: string } = {}): PromptLayout {
  const repoName = o.repoName ?? DEFAULT_REPO_NAME;
  const enc = (s: string): number[] => tok.encode(s);
  const sc2 = architecture === 'starcoder2' ? starcoder2Ids(tok) : null;
  if (sc2) {
    const { repo, sep } = sc2;
    return {
      name: 'starcoder2-repo',
      head: () => [repo, ...enc(repoName)],
      chunk: (path, text) => [sep, ...enc(path ? `${path}\n${text}` : text)],
      file: (path) => ({ before: [sep], afterPre: path ? enc(`${path}\n`) : [] }),
    };
  }
  const { repo, sep } = tok.fim;
  if (sep !== null) {
    return {
      name: 'qwen-repo',
      head: () => (repo !== null ? [repo, ...enc(`${repoName}\n`)] : []),
      chunk: (path, text) => [sep, ...enc(`${path}\n${text}\n`)],
      file: (path) => ({ before: [sep, ...enc(`${path}\n`)], afterPre: [] }),
    };
  }
  return {
    name: 'path-comment',
    head: () => [],
    chunk: (path, text) => enc(`${path ? pathComment(path) : '--- snippet ---\n'}\n${text}${text.endsWith('\n') ? '' : '\n'}\n`),
    file: (path) => ({ before: path ? enc(`${pathComment(path)}\n`) : [], afterPre: [] }),
  };
}

/**
 * StarCoder2's <repo_name> and <file_sep>: from the tokenizer where it found them, else ids 5 and 6 when the vocabulary
 * is StarCoder2's (its FIM tokens at 1-4 as in bigcode/starcoder2-*'s tokenizer, 5 and 6 control tokens).
 */
function starcoder2Ids(tok: Tokenizer): { repo: number; sep: number } | null {
  const f = tok.fim;
  if (f.repo !== null && f.sep !== null) return { repo: f.repo, sep: f.sep };
  const ours = f.prefix === 1 && f.middle === 2 && f.suffix === 3 && f.pad === 4 && tok.isSpecial(5) && tok.isSpecial(6);
  return ours ? { repo: 5, sep: 6 } : null;
}

// Line comments by file extension (or whole lower-case file name); block comments as [open, close].
const COMMENT_SYNTAX: readonly [string | readonly [string, string], string][] = [
  ['#', 'py pyi pyw pyx sh bash zsh fish ksh rb rake gemspec pl pm r jl ex exs cr nim coffee ps1 psm1 tcl awk ' +
    'yaml yml toml cfg conf properties mk cmake cmakelists.txt makefile dockerfile gemfile rakefile gitignore dockerignore env'],
  ['//', 'js mjs cjs jsx ts mts cts tsx c h cc cpp cxx hpp hh hxx ino cs java kt kts scala sc groovy gradle go rs swift ' +
    'dart php m mm zig v sol proto glsl hlsl wgsl cu cuh d fs fsi fsx jsonc json5'],
  ['--', 'sql lua hs elm ada adb ads vhd vhdl purs agda idr'],
  [';', 'clj cljs cljc edn lisp lsp el scm ss rkt asm s ini'],
  ['%', 'tex sty cls erl hrl'],
  ['!', 'f f90 f95 f03 f08'],
  [['/*', ' */'], 'css'],
  [['<!--', ' -->'], 'html htm xhtml xml svg vue svelte md markdown'],
];
const COMMENTS = new Map<string, string | readonly [string, string]>(
  COMMENT_SYNTAX.flatMap(([c, list]) => list.split(' ').map((e) => [e, c] as const)),
);

/** The line naming a file in its language's comment syntax ('#' for an unknown language), without a line break. */
export function pathComment(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  const dot = name.lastIndexOf('.');
  const c = COMMENTS.get(dot >= 0 ? name.slice(dot + 1) : name) ?? COMMENTS.get(name) ?? '#';
  return typeof c === 'string' ? `${c} ${path}` : `${c[0]} ${path}${c[1]}`;
}
