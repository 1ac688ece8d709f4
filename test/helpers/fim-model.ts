// Test-only: a model with weights and fill-in-the-middle tokens, which no fixture is. stories260K's GGUF with three of its
// byte tokens declared the FIM prefix, suffix and middle sentinels (tokenizer.ggml.fim_pre/suf/mid_token_id) and
// marked control tokens (token type 3): <0xFD>, <0xFE> and <0xFF> stand for bytes that never occur in UTF-8, so no text
// tokenizes to them, and as control tokens they decode to nothing, as real sentinels do. The model never saw them in
// training, so its FIM completions are nonsense, but deterministic: the session's mechanics can be checked exactly.
import { bytesSource, readGGUF } from '../../src/engine/model/gguf.js';
import { patchI32Array, rewriteGGUF } from './gguf-rewrite.js';

const SENTINEL_BYTES = { prefix: 0xfd, suffix: 0xfe, middle: 0xff } as const;
const CONTROL = 3;

export interface FimModelOptions {
  /** tokenizer.ggml.eot_token_id (its token type is left as it is). */
  eot?: number;
}

/** The bytes of a copy of stories260K.gguf (given as `stories`) with FIM tokens; see the header. */
export async function withFimTokens(stories: Uint8Array, o: FimModelOptions = {}): Promise<Uint8Array> {
  const gguf = await readGGUF(bytesSource(stories));
  const texts = gguf.metadata.get('tokenizer.ggml.tokens') as string[];
  const id = (byte: number): number => {
    const i = texts.indexOf(`<0x${byte.toString(16).toUpperCase()}>`);
    if (i < 0) throw new Error(`no byte token for 0x${byte.toString(16)}`);
    return i;
  };
  const ids = { prefix: id(SENTINEL_BYTES.prefix), suffix: id(SENTINEL_BYTES.suffix), middle: id(SENTINEL_BYTES.middle) };
  const typed = patchI32Array(stories, 'tokenizer.ggml.token_type', new Map(Object.values(ids).map((i) => [i, CONTROL])));
  return rewriteGGUF(typed, () => null, {
    'tokenizer.ggml.fim_pre_token_id': ids.prefix,
    'tokenizer.ggml.fim_suf_token_id': ids.suffix,
    'tokenizer.ggml.fim_mid_token_id': ids.middle,
    ...(o.eot !== undefined ? { 'tokenizer.ggml.eot_token_id': o.eot } : {}),
  });
}
