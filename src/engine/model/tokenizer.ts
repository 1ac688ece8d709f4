// Tokenizers built from GGUF metadata: SentencePiece-with-scores ("llama") and byte-level BPE ("gpt2"), reproducing
// llama.cpp's token ids exactly (src/llama-vocab.cpp and src/unicode.cpp are the reference). This module is the entry
// point: the factory and the public API; the parts live in tokenizer/ (interface.ts also says how the tokenizers behave).
// Why our own code and not @huggingface/tokenizers: a GGUF file carries llama.cpp's view of the tokenizer (vocab, scores,
// merges, token types and only the *name* of a pre-tokenizer), not a tokenizer.json; matching llama.cpp means copying its
// SPM bigram merge, its hand-written pre-tokenizer splitters and their quirks, which a generic HF pipeline does not do.
// This is dependency-free, small, and runs unchanged in Node and in a browser webview (no fs, Buffer or wasm).

import type { Metadata } from './gguf.js';
import { MetadataReader } from './metadata.js';
import { BpeTokenizer } from './tokenizer/bpe.js';
import { type Tokenizer, TokenizerError } from './tokenizer/interface.js';
import { PRE_TYPES, SUPPORTED_PRE_TYPES } from './tokenizer/pre.js';
import { SpmTokenizer } from './tokenizer/spm.js';
import { loadVocab } from './tokenizer/vocab.js';

export { type FimTokens, type Tokenizer, TokenizerError } from './tokenizer/interface.js';
export { SUPPORTED_PRE_TYPES } from './tokenizer/pre.js';

export const SUPPORTED_TOKENIZER_MODELS: readonly string[] = ['llama', 'gpt2'];

export function tokenizerFromMetadata(md: Metadata): Tokenizer {
  const k = new MetadataReader(md, TokenizerError);
  const model = k.str('tokenizer.ggml.model', true);
  if (model === 'llama') {
    const v = loadVocab(k, 'llama');
    const addBos = k.bool('tokenizer.ggml.add_bos_token') ?? true;
    const addSpacePrefix = k.bool('tokenizer.ggml.add_space_prefix') ?? true;
    return new SpmTokenizer(v, addBos, addSpacePrefix);
  }
  if (model === 'gpt2') {
    const preRaw = k.str('tokenizer.ggml.pre');
    const preName = preRaw === undefined || preRaw === '' ? 'default' : preRaw; // llama.cpp: missing -> default (with a warning)
    const spec = PRE_TYPES.find((p) => p.names.includes(preName));
    if (!spec) {
      throw new TokenizerError(`unsupported tokenizer pre-type "${preName}" (tokenizer.ggml.pre; supported: ${SUPPORTED_PRE_TYPES.join(', ')})`);
    }
    const merges = k.strings('tokenizer.ggml.merges');
    const v = loadVocab(k, 'gpt2');
    const addBos = k.bool('tokenizer.ggml.add_bos_token') ?? spec.addBos === true;
    return new BpeTokenizer(v, preName, spec, merges, addBos);
  }
  throw new TokenizerError(`unsupported tokenizer model "${model}" (tokenizer.ggml.model; supported: ${SUPPORTED_TOKENIZER_MODELS.join(', ')})`);
}
