// The tokenizer's public interface (Tokenizer, FimTokens, TokenizerError) and the behaviour every implementation keeps.
//
// Behaviour notes (all as llama.cpp's llama_tokenize(add_special=false, parse_special=false), which is what its
// test-tokenizer-0 and the fixture .out files use, unless said otherwise):
// - Control and unknown tokens are never recognised in the input: their texts are tokenized as plain text. USER_DEFINED
//   tokens (token_type 4) ARE split out of the input first, as llama.cpp and Hugging Face do (e.g. deepseek-coder's
//   single-character tokens "õ", "ö" ... and qwen2's "[PAD151646]"). A user-defined token whose text llama.cpp
//   recognises as FIM/EOT/EOG (e.g. deepseek-coder's "<｜fim▁begin｜>") gets the CONTROL attribute like in llama.cpp, so
//   its literal text in a document stays plain text.
// - The LSTRIP/RSTRIP attributes llama.cpp sets for a few model names (phi-3, jina, modern-bert) are not applied.
// - Lone UTF-16 surrogates in the input are replaced by U+FFFD first (what UTF-8 encoding does to them anyway).
// - Unicode categories come from the JS engine, masked to the Unicode version of llama.cpp's tables (see unicode.ts).
// - decode() concatenates tokenBytes() and, for SPM vocabularies with add_space_prefix, drops one leading space from
//   the first token's piece, like llama_detokenize(remove_special=false, unparse_special=false): the space that encode()
//   put in front of the text goes away again. It never applies clean_up_tokenization_spaces. Hence
//   decode(encode(x)) === x.toWellFormed() for every x, except: for SPM vocabularies where x contains "▁" (U+2581, which
//   SPM uses for space and decodes as one) or the text of a user-defined token (llama.cpp re-adds the space prefix after
//   one); and for BPE vocabularies that lack a byte of x's UTF-8 (StarCoder's has no token for 0xF1, the lead byte of
//   U+40000..U+7FFFF), where that byte is dropped as in llama.cpp. A decode of [bos, ...encode(x)] keeps the leading
//   space of SPM, as llama.cpp does.
// - tokenBytes(): normal tokens give their text (SPM: "▁" -> " "; BPE: GPT-2 byte-to-unicode mapping undone), byte
//   tokens their byte, user-defined tokens their raw text, control/unknown/unused/undefined tokens nothing (empty).

import { EngineError } from '../../errors.js';

export class TokenizerError extends EngineError {
  constructor(message: string) {
    super('model-unsupported', message);
    this.name = 'TokenizerError';
  }
}

/** Fill-in-the-middle sentinel ids; null where the vocabulary has none. */
export interface FimTokens {
  readonly prefix: number | null;
  readonly suffix: number | null;
  readonly middle: number | null;
  readonly pad: number | null;
  /** Repository-level context: the repository-name token (e.g. Qwen2.5-Coder's <|repo_name|>; llama.cpp's FIM_REP). */
  readonly repo: number | null;
  /** Repository-level context: the file separator (e.g. Qwen2.5-Coder's <|file_sep|>; llama.cpp's FIM_SEP). */
  readonly sep: number | null;
}

export interface Tokenizer {
  /** tokenizer.ggml.model: 'llama' is SentencePiece with scores, 'gpt2' byte-level BPE. */
  readonly kind: 'llama' | 'gpt2';
  /** The BPE pre-tokenizer in effect (tokenizer.ggml.pre; 'default' when absent); null for SentencePiece. */
  readonly pre: string | null;
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** tokenizer.ggml.add_bos_token, else llama.cpp's default for the vocab/pre type. */
  readonly addBos: boolean;
  /**
   * SentencePiece's add_space_prefix (tokenizer.ggml.add_space_prefix, default true): encode() tokenizes " " + text
   * (and a space after each user-defined token), decode() drops the first token's leading space. False for BPE.
   */
  readonly addSpacePrefix: boolean;
  /** From tokenizer.ggml.fim_*_token_id (or the older prefix/suffix/middle_token_id), else found by token text. */
  readonly fim: FimTokens;
  /** Plain text -> ids; no BOS; control-token texts are plain text (see the notes at the top of this file). */
  encode(text: string): number[];
  /** ids -> text; see the notes at the top of this file for when decode(encode(x)) === x. */
  decode(ids: readonly number[]): string;
  /** The raw bytes this token contributes to the output (empty for control/unknown/unused tokens); cached, do not modify. */
  tokenBytes(id: number): Uint8Array;
  /** Control, unknown or unused token (after llama.cpp's text-based attribute fixes): one that is not text. */
  isSpecial(id: number): boolean;
  /**
   * End of generation, as llama.cpp's llama_vocab_is_eog: EOS, EOT (e.g. CodeLlama's end-of-middle "<EOT>"), EOM, the
   * FIM pad/repo/separator tokens and the end-of-generation texts, whether given by metadata key or found by text.
   */
  isEog(id: number): boolean;
}
