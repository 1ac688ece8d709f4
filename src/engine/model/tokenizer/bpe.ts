// Byte-level BPE (tokenizer.ggml.model "gpt2"), as llama.cpp's llm_tokenizer_bpe: the pre-tokenizer (pre.ts) splits
// the text into words, each word's UTF-8 bytes are mapped to GPT-2's byte characters, and the pair of adjacent symbols
// with the lowest rank in tokenizer.ggml.merges merges first. Words are cached.

import { BaseTokenizer } from './base.js';
import { MergeQueue, runMerges } from './merge-queue.js';
import { type PreSpec, type Splitter, SplitText, makeSplitter } from './pre.js';
import { charsFromCodes, codePoints, utf8Encoder } from './unicode.js';
import { ATTR_NORMAL, type VocabInfo } from './vocab.js';

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

// The word cache: at most this many entries (then it starts over), of words of at most this many UTF-16 units
const BPE_CACHE_MAX_ENTRIES = 65536;
const BPE_CACHE_MAX_WORD = 256;

export class BpeTokenizer extends BaseTokenizer {
  readonly kind = 'gpt2' as const;
  private readonly ranks: Map<string, number>;
  private readonly splitters: Splitter[];
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly queue = new MergeQueue();

  constructor(v: VocabInfo, pre: string, spec: PreSpec, merges: readonly string[], addBos: boolean) {
    super(v, pre, addBos, false);
    this.ranks = new Map();
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i]!;
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
