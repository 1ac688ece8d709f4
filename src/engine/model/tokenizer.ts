// Tokenizers built from GGUF metadata: SentencePiece-with-scores ("llama") and byte-level BPE ("gpt2"), reproducing
// llama.cpp's token ids exactly (src/llama-vocab.cpp and src/unicode.cpp are the reference).
// Why our own code and not @huggingface/tokenizers: a GGUF file carries llama.cpp's view of the tokenizer (vocab, scores,
// merges, token types and only the *name* of a pre-tokenizer), not a tokenizer.json; matching llama.cpp means copying its
// SPM bigram merge, its hand-written pre-tokenizer splitters and their quirks, which a generic HF pipeline does not do.
// This is dependency-free, small, and runs unchanged in Node and in a browser webview (no fs, Buffer or wasm).
//
// Behaviour notes (all as llama.cpp's llama_tokenize(add_special=false, parse_special=false) unless said otherwise):
// - Control and unknown tokens are never recognised in the input: their texts are tokenized as plain text. USER_DEFINED
//   tokens (token_type 4) ARE split out of the input first, as llama.cpp and Hugging Face do (e.g. deepseek-coder's
//   single-character tokens "õ", "ö" ... and qwen2's "[PAD151646]"). A user-defined token whose text llama.cpp
//   recognises as FIM/EOT/EOG (e.g. deepseek-coder's "<｜fim▁begin｜>") gets the CONTROL attribute like in llama.cpp, so
//   its literal text in a document stays plain text.
// - The LSTRIP/RSTRIP attributes llama.cpp sets for a few model names (phi-3, jina, modern-bert) are not applied.
// - Lone UTF-16 surrogates in the input are replaced by U+FFFD first (what UTF-8 encoding does to them anyway).
// - decode() concatenates tokenBytes() and, for SPM vocabularies with add_space_prefix, drops one leading space from
//   the first token's piece, like llama_detokenize(remove_special=false, unparse_special=false); it never applies
//   clean_up_tokenization_spaces, so decode(encode(x)) === x for well-formed x (for SPM, as long as x contains no
//   user-defined token text: llama.cpp re-adds the "▁" prefix after one).
// - tokenBytes(): normal tokens give their text (SPM: "▁" -> " "; BPE: GPT-2 byte-to-unicode mapping undone), byte
//   tokens their byte, user-defined tokens their raw text, control/unknown/unused/undefined tokens nothing (empty).

export type MetadataValue = number | bigint | string | boolean | MetadataValue[];
export type Metadata = ReadonlyMap<string, MetadataValue>;

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

export interface Tokenizer {
  readonly kind: 'spm' | 'bpe';
  /** tokenizer.ggml.pre for BPE (null when absent, and for SPM). */
  readonly pre: string | null;
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** tokenizer.ggml.add_bos_token, else llama.cpp's default for the vocab/pre type. */
  readonly addBos: boolean;
  readonly fim: { prefix: number; suffix: number; middle: number; pad?: number } | null;
  /** Plain text -> ids; no BOS; control-token texts are plain text (see the notes at the top of this file). */
  encode(text: string): number[];
  /** ids -> text; decode(encode(x)) === x. */
  decode(ids: readonly number[]): string;
  /** The raw bytes this token contributes to the output (empty for control/unknown/unused tokens). */
  tokenBytes(id: number): Uint8Array;
  /** Control, user-defined, unused or unknown token (after llama.cpp's text-based attribute fixes). */
  isSpecial(id: number): boolean;
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

let flagTable: Uint16Array | null = null;

function cptFlags(cp: number): number {
  if (cp > 0x10ffff) return F_UNDEFINED;
  const table = (flagTable ??= new Uint16Array(0x110000));
  let f = table[cp]!;
  if (f !== 0) return f;
  const s = String.fromCodePoint(cp);
  f = F_CONTROL; // Cc, Cf, Co, Cs
  for (const [re, flag] of CATEGORY_TESTS) {
    if (re.test(s)) {
      f = flag;
      break;
    }
  }
  if (isLlamaWhitespace(cp)) f |= F_WHITESPACE;
  table[cp] = f;
  return f;
}

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');
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

function charsFromCodes(codes: ArrayLike<number>, from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i += 8192) {
    const end = Math.min(to, i + 8192);
    out += String.fromCharCode.apply(null, Array.prototype.slice.call(codes, i, end) as number[]);
  }
  return out;
}

/** Binary heap; `before(a, b)` says a pops before b. */
class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly before: (x: T, y: T) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  push(x: T): void {
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(x, a[p]!)) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  pop(): T {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.before(a[r]!, a[l]!) ? r : l;
        if (!this.before(a[c]!, last)) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
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

type Splitter = (cps: Uint32Array, offsets: number[], collapsed: () => string) => number[];

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

/** Runs a JS RegExp (global) over each segment of `subject` (one UTF-16 unit per code point unless `u16` is given). */
function splitByRegex(
  re: RegExp,
  offsets: number[],
  segment: (start: number, len: number) => { s: string; cpAt: ((u: number) => number) | null },
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of offsets) {
    const { s, cpAt } = segment(start, len);
    const toCp = cpAt ?? ((u: number) => u);
    let last = 0; // in code points, relative to the segment
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      if (m[0].length === 0) {
        // none of the supported regexes can match empty; keep the scan moving like std::regex_iterator would
        re.lastIndex = m.index + 1;
        continue;
      }
      const mStart = toCp(m.index);
      const mEnd = toCp(m.index + m[0].length);
      if (mStart > last) out.push(mStart - last);
      out.push(mEnd - mStart);
      last = mEnd;
    }
    if (last < len) out.push(len - last);
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
  return charsFromCodes(codes, 0, codes.length);
}

const REGEX_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const REGEX_LLAMA3_ORIG = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const REGEX_LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const REGEX_QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** A splitter for one of llama.cpp's regex strings, dispatched the way unicode_regex_split does. */
function makeSplitter(regex: string): Splitter {
  if (regex === REGEX_GPT2) return (cps, offsets) => splitGpt2(cps, offsets);
  if (regex === REGEX_LLAMA3 || regex === REGEX_LLAMA3_ORIG) return (cps, offsets) => splitLlama3Like(cps, offsets, 3);
  if (regex === REGEX_QWEN2) return (cps, offsets) => splitLlama3Like(cps, offsets, 1);
  if (usesUnicodeCategories(regex)) {
    for (const ch of regex) {
      if (ch.codePointAt(0)! >= 128) throw new TokenizerError(`pre-tokenizer regex mixes unicode categories and non-ASCII: ${regex}`);
    }
    const re = new RegExp(collapseRegex(regex), 'g');
    return (_cps, offsets, collapsed) => {
      const text = collapsed();
      return splitByRegex(re, offsets, (start, len) => ({ s: text.slice(start, start + len), cpAt: null }));
    };
  }
  // std::wregex over code points, non-ASCII whitespace replaced by 0x0B
  const re = new RegExp(regex, 'gu');
  return (cps, offsets) =>
    splitByRegex(re, offsets, (start, len) => {
      let s = '';
      const idx: number[] = [];
      for (let i = 0; i < len; i++) {
        let c = cps[start + i]!;
        if (c > 0x7f && cptFlags(c) & F_WHITESPACE) c = 0x0b;
        idx.push(s.length);
        s += String.fromCodePoint(c);
      }
      const map = new Int32Array(s.length + 1);
      for (let i = 0; i < idx.length; i++) map[idx[i]!] = i;
      map[s.length] = len;
      return { s, cpAt: (u: number) => map[u]! };
    });
}

interface PreSpec {
  readonly names: readonly string[];
  readonly regexes: readonly string[];
  readonly ignoreMerges?: boolean;
  readonly addBos?: boolean;
}

// llama-vocab.cpp: pre-type names (load) -> regex lists (llm_tokenizer_bpe) and flags.
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
    names: ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'],
    regexes: ['\\p{N}', REGEX_GPT2],
  },
  {
    names: ['gpt-2', 'phi-2', 'gigachat', 'a.x-4.0', 'mellum', 'mpt', 'olmo', 'jais', 'trillion', 'granite-docling', 'exaone4'],
    regexes: [REGEX_GPT2],
  },
  { names: ['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'megrez', 'stablelm2', 'hunyuan', 'solar-open'], regexes: [REGEX_QWEN2] },
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
  fim: Tokenizer['fim'];
  /** user-defined tokens split out of the input before tokenizing, longest first */
  splitTokens: { id: number; text: string }[];
}

function loadVocab(md: Metadata, kind: 'spm' | 'bpe'): VocabInfo {
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
  let bos = inRange(kind === 'spm' ? 1 : 11);
  let eos = inRange(kind === 'spm' ? 2 : 11);
  let unk = inRange(kind === 'spm' ? 0 : null);
  const ids: Record<string, number | null> = { fimPre: null, fimSuf: null, fimMid: null, fimPad: null, fimRep: null, fimSep: null, eot: null, eom: null };
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

  // control tokens whose text says "unused"
  for (let i = 0; i < n; i++) if (attrs[i]! & ATTR_CONTROL && texts[i]!.includes('unused')) attrs[i] = attrs[i]! | ATTR_UNUSED;

  // end-of-generation tokens are control tokens
  const eog = new Set<number>();
  for (const k of ['fimPad', 'fimRep', 'fimSep'] as const) if (ids[k] !== null) eog.add(ids[k]!);
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
    const has = (t: string): boolean => [...eog].some((id) => texts[id] === t);
    const end = textToId.get('<|end|>');
    if (end !== undefined && eog.has(end) && ((has('<|return|>') && (has('<|call|>') || has('<|calls|>'))) || (has('<|calls|>') && has('<|flush|>')))) {
      attrs[end] = ATTR_USER_DEFINED;
    }
    const s = textToId.get('</s>');
    if (s !== undefined && eog.has(s) && has('<|tool_response>')) attrs[s] = ATTR_NORMAL;
  }

  const splitTokens: { id: number; text: string }[] = [];
  for (let i = 0; i < n; i++) {
    const a = attrs[i]!;
    if (a & ATTR_USER_DEFINED && !(a & (ATTR_CONTROL | ATTR_UNKNOWN))) splitTokens.push({ id: i, text: texts[i]! });
  }
  splitTokens.sort((x, y) => y.text.length - x.text.length || x.id - y.id);

  const fim =
    ids.fimPre !== null && ids.fimSuf !== null && ids.fimMid !== null
      ? { prefix: ids.fimPre, suffix: ids.fimSuf, middle: ids.fimMid, ...(ids.fimPad !== null ? { pad: ids.fimPad } : {}) }
      : null;

  return { texts, textToId, scores, attrs, bos, eos, unk, fim, splitTokens };
}

// ---------------------------------------------------------------------------------------------------------------------
// Base class: partitioning, decoding

abstract class BaseTokenizer implements Tokenizer {
  abstract readonly kind: 'spm' | 'bpe';
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly fim: Tokenizer['fim'];
  protected readonly texts: string[];
  protected readonly textToId: Map<string, number>;
  protected readonly attrs: Uint16Array;
  protected readonly unk: number | null;
  private readonly splitTokens: { id: number; text: string }[];
  private readonly pieces: (Uint8Array | undefined)[];

  constructor(
    v: VocabInfo,
    readonly pre: string | null,
    readonly addBos: boolean,
    protected readonly addSpacePrefix: boolean,
  ) {
    this.vocabSize = v.texts.length;
    this.texts = v.texts;
    this.textToId = v.textToId;
    this.attrs = v.attrs;
    this.bos = v.bos;
    this.eos = v.eos;
    this.unk = v.unk;
    this.fim = v.fim;
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
      if (a & (ATTR_CONTROL | ATTR_UNKNOWN)) p = EMPTY_BYTES;
      else if (a & ATTR_USER_DEFINED) p = utf8Encoder.encode(this.texts[id]!);
      else if (a & (ATTR_NORMAL | ATTR_BYTE)) p = this.computePiece(id);
      else p = EMPTY_BYTES; // unused / undefined: suppressed like control tokens
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
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return false;
    return (this.attrs[id]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNUSED | ATTR_UNKNOWN)) !== 0;
  }

  /** The byte value of a <0xXX> token. */
  protected byteOfToken(id: number): Uint8Array {
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.texts[id]!);
    return m ? Uint8Array.of(parseInt(m[1]!, 16)) : EMPTY_BYTES;
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// SentencePiece (llama.cpp llm_tokenizer_spm)

interface SpmBigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

class SpmTokenizer extends BaseTokenizer {
  readonly kind = 'spm' as const;
  private readonly scores: Float64Array;
  private readonly byteIds: Int32Array;

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

    const queue = new Heap<SpmBigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    const tryAdd = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const size = len[left]! + len[right]!;
      const id = this.textToId.get(text.substr(start[left]!, size));
      if (id === undefined) return;
      queue.push({ left, right, score: this.scores[id]!, size });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);

    while (queue.size > 0) {
      const bg = queue.pop();
      const l = bg.left;
      const r = bg.right;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== bg.size) continue;
      len[l] = len[l]! + len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }

    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.substr(start[i]!, len[i]!);
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

interface BpeBigram {
  left: number;
  right: number;
  rank: number;
  size: number;
}

const BPE_CACHE_MAX_ENTRIES = 65536;
const BPE_CACHE_MAX_WORD = 256;

class BpeTokenizer extends BaseTokenizer {
  readonly kind = 'bpe' as const;
  private readonly ranks: Map<string, number>;
  private readonly splitters: Splitter[];
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();

  constructor(v: VocabInfo, pre: string | null, spec: PreSpec, merges: MetadataValue[], addBos: boolean) {
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
    let offsets = [cps.length];
    let collapsed: string | null = null;
    const getCollapsed = (): string => (collapsed ??= collapseText(cps));
    for (const sp of this.splitters) offsets = sp(cps, offsets, getCollapsed);
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
    const w = charsFromCodes(codes, 0, codes.length); // one UTF-16 unit per byte
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
    // symbols keep their start index (= their position i): a merge only grows the left symbol
    const queue = new Heap<BpeBigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
    const tryAdd = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const rank = this.ranks.get(`${w.substr(left, len[left]!)} ${w.substr(right, len[right]!)}`);
      if (rank === undefined) return;
      queue.push({ left, right, rank, size: len[left]! + len[right]! });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (queue.size > 0) {
      const bg = queue.pop();
      const l = bg.left;
      const r = bg.right;
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== bg.size) continue; // outdated
      len[l] = len[l]! + len[r]!;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }
    const ids: number[] = [];
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = w.substr(i, len[i]!);
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
    const v = loadVocab(md, 'spm');
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
    const v = loadVocab(md, 'bpe');
    const addBos = mdBool(md, 'tokenizer.ggml.add_bos_token') ?? spec.addBos === true;
    return new BpeTokenizer(v, preRaw ?? null, spec, merges, addBos);
  }
  throw new TokenizerError(`unsupported tokenizer model "${model}" (tokenizer.ggml.model; supported: ${SUPPORTED_TOKENIZER_MODELS.join(', ')})`);
}
