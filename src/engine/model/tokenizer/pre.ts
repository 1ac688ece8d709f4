// The BPE pre-tokenizers, as llama.cpp's unicode_regex_split: the regex lists per tokenizer.ggml.pre (PRE_TYPES), the
// hand-written splitters llama.cpp has for the GPT-2, Llama 3 and Qwen2 regexes, and, for the other regexes, JS regexes
// run on the subject llama.cpp's std::regex sees (\p{..} categories collapsed to one byte per code point, or the text
// with non-ASCII whitespace replaced). Each splitter refines a list of segment lengths (in code points).

import { F_LETTER, F_MARK, F_NUMBER, F_PUNCT, F_SYMBOL, F_WHITESPACE, charsFromCodes, cptFlags, isLlamaWhitespace } from './unicode.js';

/** One fragment as the splitters see it: its code points and, built on first use, the subjects of llama.cpp's std::regex. */
export class SplitText {
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
export type Splitter = (text: SplitText, offsets: number[]) => number[];

// llama.cpp's hand-written splitters walk a segment one piece at a time, each piece ending where add(e) is called.

const OUT_OF_RANGE = 0xffffffff;

/** One segment [ini, end) of the code points as a hand-written splitter walks it; the pieces go to `out`. */
class Segment {
  private ini = 0;
  private end = 0;
  private prevEnd = 0;

  constructor(
    private readonly cps: Uint32Array,
    private readonly out: number[],
  ) {}

  begin(ini: number, end: number): void {
    this.ini = ini;
    this.end = end;
    this.prevEnd = ini;
  }

  /** The code point at p; OUT_OF_RANGE outside the segment. */
  cpt(p: number): number {
    return p >= this.ini && p < this.end ? this.cps[p]! : OUT_OF_RANGE;
  }

  /** The flags of the code point at p; 0 outside the segment. */
  flags(p: number): number {
    return p >= this.ini && p < this.end ? cptFlags(this.cps[p]!) : 0;
  }

  /** Ends the piece at e (an empty one is not added) and returns e, where the next piece starts. */
  add(e: number): number {
    if (e > this.prevEnd) this.out.push(e - this.prevEnd);
    this.prevEnd = e;
    return e;
  }

  /** The end of a contraction 's 't 're 've 'm 'll 'd at pos (ASCII case-insensitive where `fold`), else -1. */
  contraction(pos: number, fold: boolean): number {
    if (this.cpt(pos) !== 0x27) return -1;
    const n1 = fold ? asciiLower(this.cpt(pos + 1)) : this.cpt(pos + 1);
    if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) return pos + 2;
    const n2 = fold ? asciiLower(this.cpt(pos + 2)) : this.cpt(pos + 2);
    if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) return pos + 3;
    return -1;
  }

  /** \s+(?!\S)|\s+ for the nws whitespace code points at pos, else (nws = 0) the one code point there; returns the end. */
  whitespace(pos: number, nws: number): number {
    if (nws > 1 && this.cpt(pos + nws) !== OUT_OF_RANGE) return this.add(pos + nws - 1);
    return this.add(nws > 0 ? pos + nws : pos + 1);
  }
}

function asciiLower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

/** Splits each segment into the pieces `piece` finds: it adds the piece at pos and returns where the next one starts. */
function splitByHand(cps: Uint32Array, offsets: number[], piece: (s: Segment, pos: number) => number): number[] {
  const out: number[] = [];
  const s = new Segment(cps, out);
  let start = 0;
  for (const len of offsets) {
    const end = start + len;
    s.begin(start, end);
    for (let pos = start; pos < end; ) pos = piece(s, pos);
    start = end;
  }
  return out;
}

// GPT2 system regex: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  (hand-written in llama.cpp)
function gpt2Piece(s: Segment, pos: number): number {
  const c = s.cpt(pos);
  const contraction = s.contraction(pos, false);
  if (contraction >= 0) return s.add(contraction);
  let f2 = c === 0x20 ? s.flags(pos + 1) : cptFlags(c);
  if (f2 & F_LETTER) {
    if (c === 0x20) pos++;
    while (f2 & F_LETTER) f2 = s.flags(++pos);
    return s.add(pos);
  }
  if (f2 & F_NUMBER) {
    if (c === 0x20) pos++;
    while (f2 & F_NUMBER) f2 = s.flags(++pos);
    return s.add(pos);
  }
  if (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f2 !== 0) {
    if (c === 0x20) pos++;
    while (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f2 !== 0) f2 = s.flags(++pos);
    return s.add(pos);
  }
  let nws = 0;
  while (s.flags(pos + nws) & F_WHITESPACE) nws++;
  return s.whitespace(pos, nws);
}

// LLAMA3 system regex: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// and Qwen2's, the same with \p{N} instead of \p{N}{1,3} (both hand-written in llama.cpp).
function llama3Piece(s: Segment, pos: number, maxDigits: number): number {
  const c = s.cpt(pos);
  const f = cptFlags(c);
  const contraction = s.contraction(pos, true);
  if (contraction >= 0) return s.add(contraction);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (!(c === 0x0d || c === 0x0a || f & F_NUMBER)) {
    if (f & F_LETTER || s.flags(pos + 1) & F_LETTER) {
      pos++;
      while (s.flags(pos) & F_LETTER) pos++;
      return s.add(pos);
    }
  }
  // \p{N}{1,3} or \p{N}
  if (f & F_NUMBER) {
    if (maxDigits === 1) return s.add(pos + 1);
    let i0 = pos;
    while (s.flags(pos) & F_NUMBER) {
      if (++pos - i0 >= maxDigits) i0 = s.add(pos);
    }
    return s.add(pos);
  }
  // <space>?[^\s\p{L}\p{N}]+[\r\n]*
  let f2 = c === 0x20 ? s.flags(pos + 1) : f;
  if (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f !== 0) {
    if (c === 0x20) pos++;
    while (!(f2 & (F_WHITESPACE | F_LETTER | F_NUMBER)) && f2 !== 0) f2 = s.flags(++pos);
    let c2 = s.cpt(pos);
    while (c2 === 0x0d || c2 === 0x0a) c2 = s.cpt(++pos);
    return s.add(pos);
  }
  let nws = 0;
  let lastEndRN = 0;
  while (s.flags(pos + nws) & F_WHITESPACE) {
    const c2 = s.cpt(pos + nws);
    if (c2 === 0x0d || c2 === 0x0a) lastEndRN = pos + nws + 1;
    nws++;
  }
  // \s*[\r\n]+
  if (lastEndRN > 0) return s.add(lastEndRN);
  // \s+(?!\S), \s+, or any one code point
  return s.whitespace(pos, nws);
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
export function makeSplitter(regex: string): Splitter {
  if (regex === REGEX_GPT2) return (t, offsets) => splitByHand(t.cps, offsets, gpt2Piece);
  if (regex === REGEX_LLAMA3) return (t, offsets) => splitByHand(t.cps, offsets, (s, pos) => llama3Piece(s, pos, 3));
  if (regex === REGEX_QWEN2) return (t, offsets) => splitByHand(t.cps, offsets, (s, pos) => llama3Piece(s, pos, 1));
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

export interface PreSpec {
  readonly names: readonly string[];
  readonly regexes: readonly string[];
  readonly ignoreMerges?: boolean;
  readonly addBos?: boolean;
}

// llama-vocab.cpp: pre-type names (load) -> regex lists (llm_tokenizer_bpe) and flags. One name of each entry is
// cross-checked against llama.cpp in test/unit/tokenizer.test.ts. Other pre types are not supported yet; some need
// more than regex splits (gemma4, kimi-k2, afmoe) or token attributes set by model name (jina-v2).
export const PRE_TYPES: readonly PreSpec[] = [
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

export const SUPPORTED_PRE_TYPES: readonly string[] = PRE_TYPES.flatMap((p) => p.names);
