// Tokenizers built from GGUF metadata: SentencePiece-with-scores ("llama") and byte-level BPE ("gpt2"), reproducing
// llama.cpp's token ids exactly (src/llama-vocab.cpp and src/unicode.cpp are the reference).
// Why our own code and not @huggingface/tokenizers: a GGUF file carries llama.cpp's view of the tokenizer (vocab, scores,
// merges, token types and only the *name* of a pre-tokenizer), not a tokenizer.json; matching llama.cpp means copying its
// SPM bigram merge, its hand-written pre-tokenizer splitters and their quirks, which a generic HF pipeline does not do.
// This is dependency-free, small, and runs unchanged in Node and in a browser webview (no fs, Buffer or wasm).
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
// - Unicode categories come from the JS engine, masked to the Unicode version of llama.cpp's tables (see cptFlags).
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

import { EngineError } from '../errors.js';
import type { Metadata, MetadataValue } from './gguf.js';

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

// ---------------------------------------------------------------------------------------------------------------------
// Token attributes (llama.h llama_token_attr) and GGUF token types (llama_token_type)

const ATTR_UNKNOWN = 1 << 0;
const ATTR_UNUSED = 1 << 1;
const ATTR_NORMAL = 1 << 2;
const ATTR_CONTROL = 1 << 3;
const ATTR_USER_DEFINED = 1 << 4;
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
function isTextToken(attr: number): boolean {
  return (attr & (ATTR_CONTROL | ATTR_UNKNOWN)) === 0 && (attr & (ATTR_USER_DEFINED | ATTR_NORMAL | ATTR_BYTE)) !== 0;
}

// ---------------------------------------------------------------------------------------------------------------------
// Unicode code point flags, as llama.cpp's unicode_cpt_flags (general category + its own whitespace set)

const F_UNDEFINED = 0x0001;
const F_NUMBER = 0x0002;
const F_LETTER = 0x0004;
const F_SEPARATOR = 0x0008;
const F_MARK = 0x0010;
const F_PUNCT = 0x0020;
const F_SYMBOL = 0x0040;
const F_CONTROL = 0x0080;
const F_WHITESPACE = 0x0100;

const CATEGORY_TESTS: readonly [RegExp, number][] = [
  [/^\p{L}$/u, F_LETTER],
  [/^\p{N}$/u, F_NUMBER],
  [/^\p{P}$/u, F_PUNCT],
  [/^\p{S}$/u, F_SYMBOL],
  [/^\p{M}$/u, F_MARK],
  [/^\p{Z}$/u, F_SEPARATOR],
  [/^\p{Cn}$/u, F_UNDEFINED],
];

function isLlamaWhitespace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0 || cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

// llama.cpp's category tables (unicode-data.cpp) are Unicode 15.1; JS engines carry newer Unicode data (Node 20: 17.0).
// These are the code points the two disagree on, all of them assigned in Unicode 16.0 or 17.0 and thus undefined in
// llama.cpp (found by comparing its table with Node's \p{..} for every code point). A runtime with Unicode older than
// 15.1 or newer than 17.0 still differs from llama.cpp on the code points assigned in between.
const ASSIGNED_AFTER_UNICODE_15_1 =
  '88f 897 c5c cdc 1acf-1add 1ae0-1aeb 1b4e-1b4f 1b7f 1c89-1c8a 20c1 2427-2429 2b96 31e4-31e5 a7cb-a7cf a7d2 a7d4 ' +
  'a7da-a7dc a7f1 fbc3-fbd2 fd90-fd91 fdc8-fdce 105c0-105f3 10940-10959 10d40-10d65 10d69-10d85 10d8e-10d8f ' +
  '10ec2-10ec7 10ed0-10ed8 10efa-10efc 11380-11389 1138b 1138e 11390-113b5 113b7-113c0 113c2 113c5 113c7-113ca ' +
  '113cc-113d5 113d7-113d8 113e1-113e2 116d0-116e3 11b60-11b67 11bc0-11be1 11bf0-11bf9 11db0-11ddb 11de0-11de9 11f5a ' +
  '13460-143fa 16100-16139 16d40-16d79 16ea0-16eb8 16ebb-16ed3 16ff2-16ff6 187f8-187ff 18cff 18d09-18d1e 18d80-18df2 ' +
  '1cc00-1ccfc 1cd00-1ceb3 1ceba-1ced0 1cee0-1cef0 1e5d0-1e5fa 1e5ff 1e6c0-1e6de 1e6e0-1e6f5 1e6fe-1e6ff 1f6d8 ' +
  '1f777-1f77a 1f8b2-1f8bb 1f8c0-1f8c1 1f8d0-1f8d8 1fa54-1fa57 1fa89-1fa8a 1fa8e-1fa8f 1fabe 1fac6 1fac8 1facd 1fadc ' +
  '1fadf 1fae9-1faea 1faef 1fbcb-1fbef 1fbfa 2b73a-2b73f 2cea2-2cead 323b0-33479';

const NEWER_THAN_LLAMA_CPP: readonly (readonly [number, number])[] = ASSIGNED_AFTER_UNICODE_15_1.split(' ').map((r) => {
  const [a, b = a] = r.split('-').map((h) => parseInt(h, 16));
  return [a!, b!] as const;
});

function newerThanLlamaCpp(cp: number): boolean {
  let lo = 0;
  let hi = NEWER_THAN_LLAMA_CPP.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = NEWER_THAN_LLAMA_CPP[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

// Filled lazily, one entry per code point (0 = not computed yet; every computed value is non-zero).
let flagTable: Uint16Array | null = null;

function cptFlags(cp: number): number {
  if (cp > 0x10ffff) return F_UNDEFINED;
  const table = (flagTable ??= new Uint16Array(0x110000));
  let f = table[cp]!;
  if (f !== 0) return f;
  if (newerThanLlamaCpp(cp)) {
    f = F_UNDEFINED;
  } else {
    const s = String.fromCodePoint(cp);
    f = F_CONTROL; // Cc, Cf, Co, Cs
    for (const [re, flag] of CATEGORY_TESTS) {
      if (re.test(s)) {
        f = flag;
        break;
      }
    }
  }
  if (isLlamaWhitespace(cp)) f |= F_WHITESPACE;
  table[cp] = f;
  return f;
}

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers

const utf8Encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text like any other (the default would drop it from decode's output)
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const EMPTY_BYTES = new Uint8Array(0);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(s: string): string {
  return /[\uD800-\uDFFF]/.test(s) ? s.replace(LONE_SURROGATE, '\uFFFD') : s;
}

/** Code points of a well-formed string, and the UTF-16 index where each starts (u16[n] = s.length). */
function codePoints(s: string): { cps: Uint32Array; u16: Uint32Array } {
  const cps = new Uint32Array(s.length);
  const u16 = new Uint32Array(s.length + 1);
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const c = s.codePointAt(i)!;
    cps[n] = c;
    u16[n] = i;
    n++;
    i += c > 0xffff ? 2 : 1;
  }
  u16[n] = s.length;
  return { cps: cps.subarray(0, n), u16: u16.subarray(0, n + 1) };
}

/** The string of these UTF-16 code units (in chunks: an argument list has a size limit). */
function charsFromCodes(codes: Uint8Array | Uint16Array): string {
  let out = '';
  for (let i = 0; i < codes.length; i += 8192) out += String.fromCharCode(...codes.subarray(i, i + 8192));
  return out;
}

/**
 * The priority queue of candidate merges that llama.cpp's SPM and BPE loops share: pops the lowest `priority` first and,
 * among equal ones, the leftmost pair. Entries live in typed arrays (no allocation per entry); pop() returns an entry
 * index into left/right/size, valid until the next clear(). One queue per tokenizer, reused by every call.
 */
class MergeQueue {
  priority = new Float64Array(1024);
  left = new Int32Array(1024);
  right = new Int32Array(1024);
  size = new Int32Array(1024);
  private heap = new Int32Array(1024);
  private entries = 0;
  private n = 0;

  get length(): number {
    return this.n;
  }

  clear(): void {
    this.entries = 0;
    this.n = 0;
  }

  push(priority: number, left: number, right: number, size: number): void {
    if (this.entries === this.left.length) this.grow();
    const e = this.entries++;
    this.priority[e] = priority;
    this.left[e] = left;
    this.right[e] = right;
    this.size[e] = size;
    const h = this.heap;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.n]!;
    const n = this.n;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && this.before(h[l + 1]!, h[l]!) ? l + 1 : l;
      if (!this.before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }

  private before(a: number, b: number): boolean {
    const pa = this.priority[a]!;
    const pb = this.priority[b]!;
    return pa < pb || (pa === pb && this.left[a]! < this.left[b]!);
  }

  private grow(): void {
    const cap = this.left.length * 2;
    const priority = new Float64Array(cap);
    priority.set(this.priority);
    this.priority = priority;
    const int32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.left = int32(this.left);
    this.right = int32(this.right);
    this.size = int32(this.size);
    this.heap = int32(this.heap);
  }
}

/**
 * Symbols in a doubly linked list (len 0 = merged away); each merge grows the left symbol, so a symbol keeps its start.
 * Pops queued pairs until none is left, skipping outdated ones (a side merged away or grown since it was queued, which
 * the size check catches like llama.cpp's), and offers the merged symbol's new neighbour pairs to `tryAdd`.
 */
function runMerges(
  queue: MergeQueue,
  len: Int32Array,
  prev: Int32Array,
  next: Int32Array,
  tryAdd: (left: number, right: number) => void,
): void {
  while (queue.length > 0) {
    const e = queue.pop();
    const l = queue.left[e]!;
    const r = queue.right[e]!;
    if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== queue.size[e]) continue;
    len[l] = len[l]! + len[r]!;
    len[r] = 0;
    next[l] = next[r]!;
    if (next[r]! >= 0) prev[next[r]!] = l;
    if (prev[l]! >= 0) tryAdd(prev[l]!, l);
    if (next[l]! >= 0) tryAdd(l, next[l]!);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// GPT-2 byte <-> unicode mapping (unicode.cpp unicode_byte_to_utf8_map)

const BYTE_TO_CHAR: readonly number[] = (() => {
  const map = new Array<number>(256).fill(-1);
  for (let c = 0x21; c <= 0x7e; c++) map[c] = c;
  for (let c = 0xa1; c <= 0xac; c++) map[c] = c;
  for (let c = 0xae; c <= 0xff; c++) map[c] = c;
  let n = 0;
  for (let c = 0; c < 256; c++) if (map[c] === -1) map[c] = 256 + n++;
  return map;
})();

const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CHAR.map((ch, b) => [ch, b]));

// ---------------------------------------------------------------------------------------------------------------------
// Pre-tokenizer: llama.cpp's unicode_regex_split. Each splitter refines a list of segment lengths (in code points).

/** One fragment as the splitters see it: its code points and, built on first use, the subjects of llama.cpp's std::regex. */
class SplitText {
  private collapsedText: string | null = null;
  private wideText: { s: string; cpAt: Int32Array } | null = null;

  constructor(
    private readonly text: string,
    readonly cps: Uint32Array,
    /** UTF-16 index where each code point starts (u16[cps.length] = text.length) */
    readonly u16: Uint32Array,
  ) {}

  /** llama.cpp's text_collapsed: one unit per code point, non-ASCII ones replaced by a byte naming their category. */
  collapsed(): string {
    return (this.collapsedText ??= collapseText(this.cps));
  }

  /**
   * llama.cpp's wtext for std::wregex: the text with non-ASCII whitespace as 0x0B (all of it is in the BMP, so UTF-16
   * indexes stay), and the code point index at each UTF-16 index where one starts.
   */
  wide(): { s: string; cpAt: Int32Array } {
    if (this.wideText === null) {
      const t = this.text;
      const units = new Uint16Array(t.length);
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        units[i] = c > 0x7f && c < 0xd800 && isLlamaWhitespace(c) ? 0x0b : c;
      }
      const cpAt = new Int32Array(t.length + 1);
      for (let k = 0; k <= this.cps.length; k++) cpAt[this.u16[k]!] = k;
      this.wideText = { s: charsFromCodes(units), cpAt };
    }
    return this.wideText;
  }
}

/** Refines a list of segment lengths (in code points) into finer ones, like one regex of unicode_regex_split. */
type Splitter = (text: SplitText, offsets: number[]) => number[];

const OUT_OF_RANGE = 0xffffffff;

// GPT2 system regex: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  (hand-written in llama.cpp)
function splitGpt2(cps: Uint32Array, offsets: number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of offsets) {
    const ini = start;
    const end = start + len;
    start = end;
    const cpt = (p: number): number => (p >= ini && p < end ? cps[p]! : OUT_OF_RANGE);
    const flags = (p: number): number => (p >= ini && p < end ? cptFlags(cps[p]!) : 0);
    let prevEnd = ini;
    const add = (e: number): number => {
      const n = e - prevEnd;
      if (n > 0) out.push(n);
      prevEnd = e;
      return n;
    };
    for (let pos = ini; pos < end; ) {
      const c = cps[pos]!;
      const f = cptFlags(c);
      if (c === 0x27 && pos + 1 < end) {
        const n1 = cps[pos + 1]!;
        if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const n2 = cps[pos + 2]!;
          if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      let f2 = c === 0x20 ? flags(pos + 1) : f;
      if (f2 & F_LETTER) {
        if (c === 0x20) pos++;
        while (f2 & F_LETTER) f2 = flags(++pos);
        add(pos);
        continue;
      }
      if (f2 & F_NUMBER) {
        if (c === 0x20) pos++;
        while (f2 & F_NUMBER) f2 = flags(++pos);
        add(pos);
        continue;
      }
      if (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f2 !== 0) {
        if (c === 0x20) pos++;
        while (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f2 !== 0) f2 = flags(++pos);
        add(pos);
        continue;
      }
      let nws = 0;
      while (flags(pos + nws) & F_WHITESPACE) nws++;
      if (nws > 1 && cpt(pos + nws) !== OUT_OF_RANGE) {
        pos += nws - 1;
        add(pos);
        continue;
      }
      if (nws > 0) {
        pos += nws;
        add(pos);
        continue;
      }
      add(++pos);
    }
  }
  return out;
}

function asciiLower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

// LLAMA3 system regex: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// and Qwen2's, the same with \p{N} instead of \p{N}{1,3} (both hand-written in llama.cpp).
function splitLlama3Like(cps: Uint32Array, offsets: number[], maxDigits: number): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of offsets) {
    const ini = start;
    const end = start + len;
    start = end;
    const cpt = (p: number): number => (p >= ini && p < end ? cps[p]! : OUT_OF_RANGE);
    const flags = (p: number): number => (p >= ini && p < end ? cptFlags(cps[p]!) : 0);
    let prevEnd = ini;
    const add = (e: number): number => {
      const n = e - prevEnd;
      if (n > 0) out.push(n);
      prevEnd = e;
      return n;
    };
    for (let pos = ini; pos < end; ) {
      const c = cps[pos]!;
      const f = cptFlags(c);
      if (c === 0x27 && pos + 1 < end) {
        const n1 = asciiLower(cps[pos + 1]!);
        if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const n2 = asciiLower(cps[pos + 2]!);
          if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (!(c === 0x0d || c === 0x0a || f & F_NUMBER)) {
        if (f & F_LETTER || flags(pos + 1) & F_LETTER) {
          pos++;
          while (flags(pos) & F_LETTER) pos++;
          add(pos);
          continue;
        }
      }
      // \p{N}{1,3} or \p{N}
      if (f & F_NUMBER) {
        if (maxDigits === 1) {
          pos++;
          add(pos);
          continue;
        }
        let i0 = pos;
        while (flags(pos) & F_NUMBER) {
          if (++pos - i0 >= maxDigits) {
            add(pos);
            i0 = pos;
          }
        }
        add(pos);
        continue;
      }
      // <space>?[^\s\p{L}\p{N}]+[\r\n]*
      let f2 = c === 0x20 ? flags(pos + 1) : f;
      if (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f !== 0) {
        if (c === 0x20) pos++;
        while (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f2 !== 0) f2 = flags(++pos);
        let c2 = cpt(pos);
        while (c2 === 0x0d || c2 === 0x0a) c2 = cpt(++pos);
        add(pos);
        continue;
      }
      let nws = 0;
      let lastEndRN = 0;
      while (flags(pos + nws) & F_WHITESPACE) {
        const c2 = cpt(pos + nws);
        if (c2 === 0x0d || c2 === 0x0a) lastEndRN = pos + nws + 1;
        nws++;
      }
      // \s*[\r\n]+
      if (lastEndRN > 0) {
        pos = lastEndRN;
        add(pos);
        continue;
      }
      // \s+(?!\S)
      if (nws > 1 && cpt(pos + nws) !== OUT_OF_RANGE) {
        pos += nws - 1;
        add(pos);
        continue;
      }
      // \s+
      if (nws > 0) {
        pos += nws;
        add(pos);
        continue;
      }
      add(++pos);
    }
  }
  return out;
}

/**
 * unicode_regex_split_stl: runs `re` (global) over each segment of `subject` on its own (so lookaheads end at the
 * segment's end); matches and the gaps between them become segments. unitOf/cpOf convert code point indexes to indexes
 * into `subject` and back.
 */
function splitByRegex(
  re: RegExp,
  offsets: number[],
  subject: string,
  unitOf: (cp: number) => number,
  cpOf: (unit: number) => number,
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of offsets) {
    const from = unitOf(start);
    const seg = subject.slice(from, unitOf(start + len));
    let last = start;
    re.lastIndex = 0;
    for (let m = re.exec(seg); m !== null; m = re.exec(seg)) {
      if (m[0].length === 0) {
        // none of the supported regexes can match empty; keep the scan moving like std::regex_iterator would
        re.lastIndex = m.index + 1;
        continue;
      }
      const mStart = cpOf(from + m.index);
      const mEnd = cpOf(from + m.index + m[0].length);
      if (mStart > last) out.push(mStart - last);
      out.push(mEnd - mStart);
      last = mEnd;
    }
    if (last < start + len) out.push(start + len - last);
    start += len;
  }
  return out;
}

// llama.cpp's collapsed-text emulation of \p{..} for std::regex: every non-ASCII code point becomes one byte standing for
// its category (whitespace -> 0x0B), and \p{X} in the regex becomes that byte plus the ASCII members of the category.
const UCAT: Record<string, { cpt: number; ascii: string }> = {
  '\\p{N}': { cpt: 0xd1, ascii: '0-9' },
  '\\p{L}': { cpt: 0xd2, ascii: 'A-Za-z' },
  '\\p{P}': { cpt: 0xd3, ascii: '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}' },
  '\\p{M}': { cpt: 0xd4, ascii: '' },
  '\\p{S}': { cpt: 0xd5, ascii: '\\$\\+<->\\^`\\|\\~' },
  '\\p{Lu}': { cpt: 0xd2, ascii: 'A-Za-z' },
  '\\p{Ll}': { cpt: 0xd2, ascii: 'A-Za-z' },
  '\\p{Lt}': { cpt: 0xd2, ascii: 'A-Za-z' },
  '\\p{Lm}': { cpt: 0xd2, ascii: 'A-Za-z' },
  '\\p{Lo}': { cpt: 0xd2, ascii: 'A-Za-z' },
};

function usesUnicodeCategories(regex: string): boolean {
  return Object.keys(UCAT).some((k) => regex.includes(k));
}

function collapseRegex(regex: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i]!;
    if (ch === '[' && (i === 0 || regex[i - 1] !== '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && ch === ']' && regex[i - 1] !== '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (ch === '\\' && i + 3 < regex.length && regex[i + 1] === 'p' && regex[i + 2] === '{') {
      const close = regex.indexOf('}', i + 3);
      if (close !== -1 && close <= i + 10) {
        const cat = UCAT[regex.slice(i, close + 1)];
        if (cat) {
          const body = `\\x${cat.cpt.toString(16).toUpperCase()}${cat.ascii}`;
          out += inside ? body : `[${body}]`;
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

/** The collapsed text: one UTF-16 unit per code point, as llama.cpp's text_collapsed. */
function collapseText(cps: Uint32Array): string {
  const codes = new Uint8Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c < 128) {
      codes[i] = c;
      continue;
    }
    const f = cptFlags(c);
    if (f & F_WHITESPACE) codes[i] = 0x0b;
    else if (f & F_NUMBER) codes[i] = 0xd1;
    else if (f & F_LETTER) codes[i] = 0xd2;
    else if (f & F_PUNCT) codes[i] = 0xd3;
    else if (f & F_MARK) codes[i] = 0xd4;
    else if (f & F_SYMBOL) codes[i] = 0xd5;
    else codes[i] = 0xd0;
  }
  return charsFromCodes(codes);
}

const REGEX_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const REGEX_LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const REGEX_QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** A splitter for one of llama.cpp's regex strings, dispatched the way unicode_regex_split does. */
function makeSplitter(regex: string): Splitter {
  if (regex === REGEX_GPT2) return (t, offsets) => splitGpt2(t.cps, offsets);
  if (regex === REGEX_LLAMA3) return (t, offsets) => splitLlama3Like(t.cps, offsets, 3);
  if (regex === REGEX_QWEN2) return (t, offsets) => splitLlama3Like(t.cps, offsets, 1);
  const identity = (i: number): number => i;
  if (usesUnicodeCategories(regex)) {
    // (llama.cpp refuses regexes that mix \p{..} and non-ASCII characters; none of PRE_TYPES does)
    const re = new RegExp(collapseRegex(regex), 'g');
    return (t, offsets) => splitByRegex(re, offsets, t.collapsed(), identity, identity);
  }
  // std::wregex over code points. JS and std::wregex agree on the regexes of PRE_TYPES that take this path; note that
  // none uses \s, which in JS also matches U+FEFF and in std::wregex does not.
  const re = new RegExp(regex, 'gu');
  return (t, offsets) => {
    const { s, cpAt } = t.wide();
    return splitByRegex(re, offsets, s, (cp) => t.u16[cp]!, (u) => cpAt[u]!);
  };
}

interface PreSpec {
  readonly names: readonly string[];
  readonly regexes: readonly string[];
  readonly ignoreMerges?: boolean;
  readonly addBos?: boolean;
}

// llama-vocab.cpp: pre-type names (load) -> regex lists (llm_tokenizer_bpe) and flags. One name of each entry is
// cross-checked against llama.cpp in test/unit/tokenizer.test.ts. Other pre types are not supported yet; some need
// more than regex splits (gemma4, kimi-k2, afmoe) or token attributes set by model name (jina-v2).
const PRE_TYPES: readonly PreSpec[] = [
  { names: ['default'], regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', REGEX_GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
  {
    names: ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'],
    regexes: [REGEX_LLAMA3],
    ignoreMerges: true,
    addBos: true,
  },
  { names: ['dbrx', 'smaug-bpe'], regexes: [REGEX_LLAMA3] },
  { names: ['deepseek-coder'], regexes: ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'] },
  {
    names: ['deepseek-v3', 'hunyuan-dense', 'joyai-llm', 'hy_v4'],
    regexes: [
      '\\p{N}{1,3}',
      '[一-龥぀-ゟ゠-ヿ]+',
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
  { names: ['falcon'], regexes: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', REGEX_GPT2, '[0-9][0-9][0-9]'] },
  {
    names: ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'],
    regexes: ['\\p{N}', REGEX_GPT2],
  },
  {
    names: ['gpt-2', 'phi-2', 'gigachat', 'a.x-4.0', 'mellum', 'mpt', 'olmo', 'jais', 'trillion', 'granite-docling', 'exaone4'],
    regexes: [REGEX_GPT2],
  },
  { names: ['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'megrez', 'stablelm2', 'hunyuan', 'solar-open'], regexes: [REGEX_QWEN2] },
  {
    names: ['seed-coder'],
    regexes: [
      "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    ],
  },
];

export const SUPPORTED_TOKENIZER_MODELS: readonly string[] = ['llama', 'gpt2'];
export const SUPPORTED_PRE_TYPES: readonly string[] = PRE_TYPES.flatMap((p) => p.names);

// ---------------------------------------------------------------------------------------------------------------------
// Metadata access

function mdArray(md: Metadata, key: string, required: true): MetadataValue[];
function mdArray(md: Metadata, key: string, required: false): MetadataValue[] | undefined;
function mdArray(md: Metadata, key: string, required: boolean): MetadataValue[] | undefined {
  const v = md.get(key);
  if (v === undefined) {
    if (required) throw new TokenizerError(`missing ${key} in the GGUF metadata`);
    return undefined;
  }
  if (!Array.isArray(v)) throw new TokenizerError(`${key} must be an array, got ${typeof v}`);
  return v;
}

function mdString(md: Metadata, key: string): string | undefined {
  const v = md.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new TokenizerError(`${key} must be a string, got ${typeof v}`);
  return v;
}

function mdBool(md: Metadata, key: string): boolean | undefined {
  const v = md.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1;
  throw new TokenizerError(`${key} must be a boolean, got ${typeof v}`);
}

function mdInt(md: Metadata, key: string): number | undefined {
  const v = md.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new TokenizerError(`${key} must be an integer, got ${typeof v === 'number' ? v : typeof v}`);
}

function mdNumberArray(arr: MetadataValue[], key: string, n: number): Float64Array {
  if (arr.length < n) throw new TokenizerError(`${key} has ${arr.length} entries, fewer than the ${n} tokens`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = arr[i];
    if (typeof v === 'number') out[i] = v;
    else if (typeof v === 'bigint') out[i] = Number(v);
    else throw new TokenizerError(`${key}[${i}] must be a number, got ${typeof v}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Vocabulary shared by both kinds

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

interface VocabInfo {
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

function loadVocab(md: Metadata, kind: Tokenizer['kind']): VocabInfo {
  const rawTokens = mdArray(md, 'tokenizer.ggml.tokens', true);
  const n = rawTokens.length;
  if (n === 0) throw new TokenizerError('tokenizer.ggml.tokens is empty');
  const texts = new Array<string>(n);
  const textToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    let t = rawTokens[i];
    if (typeof t !== 'string') throw new TokenizerError(`tokenizer.ggml.tokens[${i}] must be a string, got ${typeof t}`);
    if (t === '') t = `[EMPTY_${i}]`; // as llama.cpp
    texts[i] = t;
    textToId.set(t, i); // a duplicate text maps to its last id, as llama.cpp's token_to_id
  }

  const rawScores = mdArray(md, 'tokenizer.ggml.scores', false);
  const scores = rawScores ? mdNumberArray(rawScores, 'tokenizer.ggml.scores', n) : null;

  const attrs = new Uint16Array(n).fill(ATTR_NORMAL);
  const rawTypes = mdArray(md, 'tokenizer.ggml.token_type', false);
  if (rawTypes) {
    const types = mdNumberArray(rawTypes, 'tokenizer.ggml.token_type', n);
    for (let i = 0; i < n; i++) attrs[i] = attrFromTokenType(types[i]!);
  }

  // special ids: llama.cpp's defaults per model type, overridden by in-range metadata values
  const inRange = (id: number | null): number | null => (id !== null && id >= 0 && id < n ? id : null);
  let bos = inRange(kind === 'llama' ? 1 : 11);
  let eos = inRange(kind === 'llama' ? 2 : 11);
  let unk = inRange(kind === 'llama' ? 0 : null);
  const ids: Record<'eot' | 'eom' | 'fimPre' | 'fimSuf' | 'fimMid' | 'fimPad' | 'fimRep' | 'fimSep', number | null> = {
    eot: null, eom: null, fimPre: null, fimSuf: null, fimMid: null, fimPad: null, fimRep: null, fimSep: null,
  };
  const fromKey = (key: string, current: number | null): number | null => {
    const v = mdInt(md, key);
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

// ---------------------------------------------------------------------------------------------------------------------
// Base class: partitioning, decoding

abstract class BaseTokenizer implements Tokenizer {
  abstract readonly kind: Tokenizer['kind'];
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly fim: FimTokens;
  protected readonly texts: string[];
  protected readonly textToId: Map<string, number>;
  protected readonly attrs: Uint16Array;
  protected readonly unk: number | null;
  private readonly eog: ReadonlySet<number>;
  private readonly splitTokens: VocabInfo['splitTokens'];
  private readonly pieces: (Uint8Array | undefined)[];

  constructor(
    v: VocabInfo,
    readonly pre: string | null,
    readonly addBos: boolean,
    readonly addSpacePrefix: boolean,
  ) {
    this.vocabSize = v.texts.length;
    this.texts = v.texts;
    this.textToId = v.textToId;
    this.attrs = v.attrs;
    this.bos = v.bos;
    this.eos = v.eos;
    this.unk = v.unk;
    this.fim = v.fim;
    this.eog = v.eog;
    this.splitTokens = v.splitTokens;
    this.pieces = new Array(v.texts.length);
  }

  /** Tokenizes one text fragment (between user-defined tokens); prevSpecial: a token or the start precedes it. */
  protected abstract encodeFragment(text: string, out: number[], prevSpecial: boolean): void;
  protected abstract computePiece(id: number): Uint8Array;

  encode(text: string): number[] {
    const out: number[] = [];
    if (text.length === 0) return out;
    let prevSpecial = true;
    for (const frag of this.partition(wellFormed(text))) {
      if (typeof frag === 'number') {
        out.push(frag);
        prevSpecial = true;
      } else {
        this.encodeFragment(frag, out, prevSpecial);
        prevSpecial = false;
      }
    }
    return out;
  }

  /** llama.cpp tokenizer_st_partition with parse_special=false: splits out user-defined tokens, longest first. */
  private partition(text: string): (string | number)[] {
    let frags: (string | number)[] = [text];
    for (const { id, text: tok } of this.splitTokens) {
      if (!text.includes(tok)) continue;
      const next: (string | number)[] = [];
      for (const f of frags) {
        if (typeof f === 'number') {
          next.push(f);
          continue;
        }
        let pos = 0;
        for (let m = f.indexOf(tok); m !== -1; m = f.indexOf(tok, pos)) {
          if (m > pos) next.push(f.slice(pos, m));
          next.push(id);
          pos = m + tok.length;
        }
        if (pos < f.length) next.push(pos === 0 ? f : f.slice(pos));
      }
      frags = next;
    }
    return frags;
  }

  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new TokenizerError(`token id ${id} is out of range [0, ${this.vocabSize})`);
    let p = this.pieces[id];
    if (p === undefined) {
      const a = this.attrs[id]!;
      if (!isTextToken(a)) p = EMPTY_BYTES;
      else if (a & ATTR_USER_DEFINED) p = utf8Encoder.encode(this.texts[id]!);
      else p = this.computePiece(id);
      this.pieces[id] = p;
    }
    return p;
  }

  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      let p = this.tokenBytes(ids[i]!);
      if (i === 0 && this.addSpacePrefix && p.length > 0 && p[0] === 0x20) p = p.subarray(1);
      parts.push(p);
      total += p.length;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return utf8Decoder.decode(all);
  }

  isSpecial(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && !isTextToken(this.attrs[id]!);
  }

  isEog(id: number): boolean {
    return this.eog.has(id);
  }

  /** The byte value of a <0xXX> token. */
  protected byteOfToken(id: number): Uint8Array {
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.texts[id]!);
    return m ? Uint8Array.of(parseInt(m[1]!, 16)) : EMPTY_BYTES;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// SentencePiece (llama.cpp llm_tokenizer_spm)

class SpmTokenizer extends BaseTokenizer {
  readonly kind = 'llama' as const;
  private readonly scores: Float64Array;
  private readonly byteIds: Int32Array;
  private readonly queue = new MergeQueue();

  constructor(v: VocabInfo, addBos: boolean, addSpacePrefix: boolean) {
    super(v, null, addBos, addSpacePrefix);
    this.scores = v.scores ?? new Float64Array(v.texts.length);
    this.byteIds = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      const id = this.textToId.get(`<0x${hex}>`) ?? (b < 0x80 ? this.textToId.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteIds[b] = id;
    }
  }

  protected encodeFragment(fragment: string, out: number[], prevSpecial: boolean): void {
    const text = ((this.addSpacePrefix && prevSpecial ? ' ' : '') + fragment).replaceAll(' ', '\u2581');
    // one symbol per code point
    const n0 = text.length;
    const start = new Int32Array(n0);
    const len = new Int32Array(n0);
    const prev = new Int32Array(n0);
    const next = new Int32Array(n0);
    let n = 0;
    for (let i = 0; i < n0; ) {
      const c = text.charCodeAt(i);
      const l = c >= 0xd800 && c <= 0xdbff && i + 1 < n0 ? 2 : 1;
      start[n] = i;
      len[n] = l;
      prev[n] = n - 1;
      i += l;
      next[n] = i === n0 ? -1 : n + 1;
      n++;
    }
    if (n === 0) return;

    // the highest score merges first: priority -score
    const queue = this.queue;
    queue.clear();
    const tryAdd = (left: number, right: number): void => {
      const size = len[left]! + len[right]!;
      const id = this.textToId.get(text.slice(start[left]!, start[left]! + size));
      if (id !== undefined) queue.push(-this.scores[id]!, left, right, size);
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    runMerges(queue, len, prev, next, tryAdd);

    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.slice(start[i]!, start[i]! + len[i]!);
      const id = this.textToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // not a token (only single code points get here): byte fallback
      for (const b of utf8Encoder.encode(piece)) {
        const bid = this.byteIds[b]!;
        if (bid >= 0) out.push(bid);
        else if (this.unk !== null) out.push(this.unk); // llama.cpp would abort: the vocab has no byte tokens
      }
    }
  }

  protected computePiece(id: number): Uint8Array {
    const a = this.attrs[id]!;
    if (a & ATTR_NORMAL) return utf8Encoder.encode(this.texts[id]!.replaceAll('\u2581', ' '));
    return this.byteOfToken(id);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Byte-level BPE (llama.cpp llm_tokenizer_bpe)

const BPE_CACHE_MAX_ENTRIES = 65536;
const BPE_CACHE_MAX_WORD = 256;

class BpeTokenizer extends BaseTokenizer {
  readonly kind = 'gpt2' as const;
  private readonly ranks: Map<string, number>;
  private readonly splitters: Splitter[];
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly queue = new MergeQueue();

  constructor(v: VocabInfo, pre: string, spec: PreSpec, merges: MetadataValue[], addBos: boolean) {
    super(v, pre, addBos, false);
    this.ranks = new Map();
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (typeof m !== 'string') throw new TokenizerError(`tokenizer.ggml.merges[${i}] must be a string, got ${typeof m}`);
      // llama.cpp splits at the first space after the first character; "first second" re-joins to the same key
      const sp = m.indexOf(' ', 1);
      const key = sp === -1 ? ' ' : m;
      if (!this.ranks.has(key)) this.ranks.set(key, i); // emplace: the first rank wins
    }
    this.splitters = spec.regexes.map(makeSplitter);
    this.ignoreMerges = spec.ignoreMerges === true;
  }

  protected encodeFragment(text: string, out: number[]): void {
    const { cps, u16 } = codePoints(text);
    const split = new SplitText(text, cps, u16);
    let offsets = [cps.length];
    for (const sp of this.splitters) offsets = sp(split, offsets);
    let start = 0;
    for (const len of offsets) {
      const word = text.slice(u16[start]!, u16[start + len]!);
      start += len;
      const cached = this.cache.get(word);
      if (cached !== undefined) {
        for (const id of cached) out.push(id);
        continue;
      }
      const ids = this.encodeWord(word);
      if (word.length <= BPE_CACHE_MAX_WORD) {
        if (this.cache.size >= BPE_CACHE_MAX_ENTRIES) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodeWord(word: string): number[] {
    const bytes = utf8Encoder.encode(word);
    const codes = new Uint16Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) codes[i] = BYTE_TO_CHAR[bytes[i]!]!;
    const w = charsFromCodes(codes); // one UTF-16 unit per byte
    const n = w.length;
    if (n === 0) return [];
    if (this.ignoreMerges) {
      const id = this.textToId.get(w);
      if (id !== undefined) return [id];
    }
    const len = new Int32Array(n).fill(1);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 === n ? -1 : i + 1;
    }
    // symbol i starts at w[i] (one symbol per byte at first); the lowest merge rank goes first
    const queue = this.queue;
    queue.clear();
    const tryAdd = (left: number, right: number): void => {
      const end = right + len[right]!;
      const rank = this.ranks.get(`${w.slice(left, right)} ${w.slice(right, end)}`);
      if (rank !== undefined) queue.push(rank, left, right, end - left);
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    runMerges(queue, len, prev, next, tryAdd);
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = w.slice(i, i + len[i]!);
      const id = this.textToId.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // as llama.cpp: look up each UTF-8 byte of the (byte-encoded) piece as a one-byte token; others are dropped
      for (let j = 0; j < piece.length; j++) {
        const c = piece.charCodeAt(j);
        if (c >= 0x80) continue;
        const bid = this.textToId.get(piece[j]!);
        if (bid !== undefined) ids.push(bid);
      }
    }
    return ids;
  }

  protected computePiece(id: number): Uint8Array {
    const a = this.attrs[id]!;
    if (!(a & ATTR_NORMAL)) return this.byteOfToken(id);
    const text = this.texts[id]!;
    const out: number[] = [];
    for (const ch of text) {
      const b = CHAR_TO_BYTE.get(ch.codePointAt(0)!);
      if (b !== undefined) {
        out.push(b);
      } else {
        // llama_decode_text's marker for a character outside the byte map
        const hex = [...utf8Encoder.encode(ch)].map((x) => x.toString(16).padStart(2, '0')).join('');
        for (const x of utf8Encoder.encode(`[UNK_BYTE_0x${hex}${text}]`)) out.push(x);
      }
    }
    return Uint8Array.from(out);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

export function tokenizerFromMetadata(md: Metadata): Tokenizer {
  const model = mdString(md, 'tokenizer.ggml.model');
  if (model === undefined) throw new TokenizerError('missing tokenizer.ggml.model in the GGUF metadata');
  if (model === 'llama') {
    const v = loadVocab(md, 'llama');
    const addBos = mdBool(md, 'tokenizer.ggml.add_bos_token') ?? true;
    const addSpacePrefix = mdBool(md, 'tokenizer.ggml.add_space_prefix') ?? true;
    return new SpmTokenizer(v, addBos, addSpacePrefix);
  }
  if (model === 'gpt2') {
    const preRaw = mdString(md, 'tokenizer.ggml.pre');
    const preName = preRaw === undefined || preRaw === '' ? 'default' : preRaw; // llama.cpp: missing -> default (with a warning)
    const spec = PRE_TYPES.find((p) => p.names.includes(preName));
    if (!spec) {
      throw new TokenizerError(`unsupported tokenizer pre-type "${preName}" (tokenizer.ggml.pre; supported: ${SUPPORTED_PRE_TYPES.join(', ')})`);
    }
    const merges = mdArray(md, 'tokenizer.ggml.merges', true);
    const v = loadVocab(md, 'gpt2');
    const addBos = mdBool(md, 'tokenizer.ggml.add_bos_token') ?? spec.addBos === true;
    return new BpeTokenizer(v, preName, spec, merges, addBos);
  }
  throw new TokenizerError(`unsupported tokenizer model "${model}" (tokenizer.ggml.model; supported: ${SUPPORTED_TOKENIZER_MODELS.join(', ')})`);
}
