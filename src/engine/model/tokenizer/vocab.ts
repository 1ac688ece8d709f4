// The vocabulary as both tokenizer kinds load it from GGUF metadata: token texts, scores and attributes, the special
// ids (BOS, EOS, unknown, FIM, EOT/EOM: by metadata key, else llama.cpp's defaults and its detection by token text),
// the end-of-generation set, and the user-defined tokens that are split out of the input before tokenizing.

import type { MetadataReader } from '../metadata.js';
import { type FimTokens, type Tokenizer, TokenizerError } from './interface.js';
import { utf8Encoder } from './unicode.js';

// Token attributes (llama.h llama_token_attr) and GGUF token types (llama_token_type)

const ATTR_UNKNOWN = 1 << 0;
const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
const ATTR_BYTE = 1 << 5;

function attrFromTokenType(t: number): number {
  switch (t) {
    case 1: return ATTR_NORMAL;
    case 2: return ATTR_UNKNOWN;
    case 3: return ATTR_CONTROL;
    case 4: return ATTR_USER_DEFINED;
    case 5: return ATTR_UNUSED;
    case 6: return ATTR_BYTE;
    default: return 0; // 0 = undefined, and anything unknown
  }
}

/**
 * Whether a token with these attributes stands for text. The others (control, unknown, unused, undefined) decode to
 * nothing, as in llama.cpp's token_to_piece(special=false).
 */
export function isTextToken(attr: number): boolean {
  return (attr & (ATTR_CONTROL | ATTR_UNKNOWN)) === 0 && (attr & (ATTR_USER_DEFINED | ATTR_NORMAL | ATTR_BYTE)) !== 0;
}

// Special tokens' texts, for llama.cpp's detection by text

const FIM_PRE_TEXTS = ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'];
const FIM_SUF_TEXTS = ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'];
const FIM_MID_TEXTS = ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'];
const FIM_PAD_TEXTS = ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'];
const FIM_REP_TEXTS = ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'];
const FIM_SEP_TEXTS = ['<|file_sep|>'];
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const EOM_TEXTS = ['<|eom_id|>'];
const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>',
  '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>',
  '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
];

export interface VocabInfo {
  texts: string[];
  textToId: Map<string, number>;
  scores: Float64Array | null;
  attrs: Uint16Array;
  bos: number | null;
  eos: number | null;
  unk: number | null;
  fim: FimTokens;
  /** end-of-generation ids */
  eog: ReadonlySet<number>;
  /** user-defined tokens split out of the input before tokenizing, longest (in UTF-8 bytes) first */
  splitTokens: { id: number; text: string }[];
}

export function loadVocab(k: MetadataReader, kind: Tokenizer['kind']): VocabInfo {
  const texts = k.strings('tokenizer.ggml.tokens').slice();
  const n = texts.length;
  if (n === 0) throw new TokenizerError('tokenizer.ggml.tokens is empty');
  const textToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (texts[i] === '') texts[i] = `[EMPTY_${i}]`; // as llama.cpp
    textToId.set(texts[i]!, i); // a duplicate text maps to its last id, as llama.cpp's token_to_id
  }

  const scores = k.numbers('tokenizer.ggml.scores', n) ?? null;

  const attrs = new Uint16Array(n).fill(ATTR_NORMAL);
  const types = k.numbers('tokenizer.ggml.token_type', n);
  if (types) for (let i = 0; i < n; i++) attrs[i] = attrFromTokenType(types[i]!);

  // special ids: llama.cpp's defaults per model type, overridden by in-range metadata values
  const inRange = (id: number | null): number | null => (id !== null && id >= 0 && id < n ? id : null);
  let bos = inRange(kind === 'llama' ? 1 : 11);
  let eos = inRange(kind === 'llama' ? 2 : 11);
  let unk = inRange(kind === 'llama' ? 0 : null);
  const ids: Record<'eot' | 'eom' | 'fimPre' | 'fimSuf' | 'fimMid' | 'fimPad' | 'fimRep' | 'fimSep', number | null> = {
    eot: null, eom: null, fimPre: null, fimSuf: null, fimMid: null, fimPad: null, fimRep: null, fimSep: null,
  };
  const fromKey = (key: string, current: number | null): number | null => {
    const v = k.anyInt(key);
    if (v === undefined) return current;
    return v >= 0 && v < n ? v : current;
  };
  bos = fromKey('tokenizer.ggml.bos_token_id', bos);
  eos = fromKey('tokenizer.ggml.eos_token_id', eos);
  unk = fromKey('tokenizer.ggml.unknown_token_id', unk);
  ids.eot = fromKey('tokenizer.ggml.eot_token_id', null);
  ids.eom = fromKey('tokenizer.ggml.eom_token_id', null);
  // the deprecated keys come last in llama.cpp's list, so they win where both are present
  ids.fimPre = fromKey('tokenizer.ggml.prefix_token_id', fromKey('tokenizer.ggml.fim_pre_token_id', null));
  ids.fimSuf = fromKey('tokenizer.ggml.suffix_token_id', fromKey('tokenizer.ggml.fim_suf_token_id', null));
  ids.fimMid = fromKey('tokenizer.ggml.middle_token_id', fromKey('tokenizer.ggml.fim_mid_token_id', null));
  ids.fimPad = fromKey('tokenizer.ggml.fim_pad_token_id', null);
  ids.fimRep = fromKey('tokenizer.ggml.fim_rep_token_id', null);
  ids.fimSep = fromKey('tokenizer.ggml.fim_sep_token_id', null);

  // text-based detection (llama.cpp "auto-detect special tokens by text"): the token found becomes CONTROL too.
  // Where several texts of a list are in the vocab llama.cpp takes whichever its hash map yields first; we take the
  // lowest id.
  const detect = (key: keyof typeof ids, candidates: readonly string[]): void => {
    if (ids[key] !== null) return;
    let best: number | null = null;
    for (const t of candidates) {
      const id = textToId.get(t);
      if (id !== undefined && (best === null || id < best)) best = id;
    }
    if (best !== null) {
      ids[key] = best;
      attrs[best] = attrs[best]! | ATTR_CONTROL;
    }
  };
  detect('eot', EOT_TEXTS);
  detect('eom', EOM_TEXTS);
  detect('fimPre', FIM_PRE_TEXTS);
  detect('fimSuf', FIM_SUF_TEXTS);
  detect('fimMid', FIM_MID_TEXTS);
  detect('fimPad', FIM_PAD_TEXTS);
  detect('fimRep', FIM_REP_TEXTS);
  detect('fimSep', FIM_SEP_TEXTS);

  // end-of-generation tokens are control tokens
  const eog = new Set<number>();
  for (const id of [ids.fimPad, ids.fimRep, ids.fimSep]) if (id !== null) eog.add(id);
  for (const t of EOG_TEXTS) {
    const id = textToId.get(t);
    if (id !== undefined) {
      eog.add(id);
      attrs[id] = attrs[id]! | ATTR_CONTROL;
    }
  }
  // gpt-oss: always rendered
  for (const t of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const id = textToId.get(t);
    if (id !== undefined) attrs[id] = ATTR_USER_DEFINED;
  }
  if (eos !== null) eog.add(eos);
  if (ids.eot !== null) eog.add(ids.eot);
  if (ids.eom !== null) eog.add(ids.eom);
  {
    // o200k_harmony and solar-open: "<|end|>" is an ordinary, always rendered token there
    const has = (t: string): boolean => [...eog].some((id) => texts[id] === t);
    const hasCall = has('<|call|>') || has('<|calls|>');
    const end = textToId.get('<|end|>');
    if (end !== undefined && eog.has(end) && hasCall && (has('<|return|>') || has('<|flush|>'))) attrs[end] = ATTR_USER_DEFINED;
    const s = textToId.get('</s>');
    if (s !== undefined && eog.has(s) && has('<|tool_response>')) attrs[s] = ATTR_NORMAL;
  }

  // llama.cpp sorts by byte length with an unstable sort; ties (which only matter for overlapping texts) go by id here
  const splitTokens: { id: number; text: string; bytes: number }[] = [];
  for (let i = 0; i < n; i++) {
    const a = attrs[i]!;
    if (a & ATTR_USER_DEFINED && !(a & (ATTR_CONTROL | ATTR_UNKNOWN))) {
      splitTokens.push({ id: i, text: texts[i]!, bytes: utf8Encoder.encode(texts[i]!).length });
    }
  }
  splitTokens.sort((x, y) => y.bytes - x.bytes || x.id - y.id);

  const fim: FimTokens = { prefix: ids.fimPre, suffix: ids.fimSuf, middle: ids.fimMid, pad: ids.fimPad, repo: ids.fimRep, sep: ids.fimSep };
  return { texts, textToId, scores, attrs, bos, eos, unk, fim, eog, splitTokens };
}
