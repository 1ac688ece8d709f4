// The token mirror: the document's text and its token ids, kept equal to tokenize(text) after every edit by
// re-tokenizing only a window around each change and diffing it against the tokens it replaces.
//
// The window rule. Token boundaries are tracked in UTF-8 bytes of the tokenizer's view of the text (SentencePiece with
// add_space_prefix sees " " + text), since a byte-fallback token can end inside a character. For a change, the window
// starts `margin` tokens before the first token it touches and ends `margin` tokens after the last, widened to the
// whole text where it runs past either end. A window start must be a place where tokenizing from there gives the same
// tokens as tokenizing the whole text: for SentencePiece a token that begins with a space (the re-tokenized window
// gets its "▁" prefix back from encode()); for byte-level BPE a token that begins a character. The window's new tokens
// are accepted only when they agree with the old ones on at least CONFIRM tokens at each edge that the change did not
// touch (a boundary that the change moved, like a digit run regrouped by a BPE pre-tokenizer, fails this); otherwise the
// margin doubles on the failing side and the window is tokenized again, up to the whole text, which is exact by
// definition. test/unit/mirror.test.ts checks the result against a full tokenization after each of 10,000 random edits
// for each tokenizer fixture.
import type { Tokenizer } from '../model/tokenizer.js';

/** One change, as VS Code reports it: offsets in UTF-16 code units of the text as the previous change left it. */
export interface TextChange {
  rangeOffset: number;
  rangeLength: number;
  text: string;
}

/** What one change did to the token sequence: tokens [at, at + deleted) were replaced by `inserted`. */
export interface TokenSplice {
  at: number;
  deleted: number;
  inserted: number[];
}

const INITIAL_MARGIN = 4;
const CONFIRM = 2;

export class TokenMirror {
  private textValue: string;
  private ids: number[];
  /** UTF-8 byte length of each token's piece. */
  private lens: number[];
  /** Tokens re-tokenized in windows so far (a measure of the work done). */
  tokensRetokenized = 0;

  constructor(
    private readonly tok: Tokenizer,
    text: string,
  ) {
    this.textValue = text;
    this.ids = tok.encode(text);
    this.lens = this.ids.map((id) => tok.tokenBytes(id).length);
  }

  get text(): string {
    return this.textValue;
  }

  get tokens(): readonly number[] {
    return this.ids;
  }

  /** Bytes the tokenizer sees before the text (the SentencePiece space prefix). */
  private get prefixBytes(): number {
    return this.tok.addSpacePrefix ? 1 : 0;
  }

  /** Applies changes in order; returns one splice per change, each in the token indices its predecessor left. */
  apply(changes: readonly TextChange[]): TokenSplice[] {
    // Check every change against the length its predecessors leave before applying any: all or nothing.
    let length = this.textValue.length;
    for (const c of changes) {
      if (!(Number.isInteger(c.rangeOffset) && Number.isInteger(c.rangeLength) && c.rangeOffset >= 0 && c.rangeLength >= 0 && c.rangeOffset + c.rangeLength <= length)) {
        throw new RangeError(`change [${c.rangeOffset}, +${c.rangeLength}) outside the text (length ${length})`);
      }
      length += c.text.length - c.rangeLength;
    }
    return changes.map((c) => this.applyOne(c));
  }

  private applyOne(c: TextChange): TokenSplice {
    const old = this.textValue;
    const text = old.slice(0, c.rangeOffset) + c.text + old.slice(c.rangeOffset + c.rangeLength);
    const pre = this.prefixBytes;
    // The change in bytes of the tokenizer's view (prefix included): old [a, b) became new [a, a + inserted).
    const a = pre + utf8Length(old, 0, c.rangeOffset);
    const b = a + utf8Length(old, c.rangeOffset, c.rangeOffset + c.rangeLength);
    const delta = utf8Length(c.text, 0, c.text.length) - (b - a);
    const starts = prefixSums(this.lens);
    const n = this.ids.length;
    if (n === 0) return this.replaceAll(text);
    // Tokens whose pieces do not spell the text (an unknown token stands for characters it has no bytes of): no byte
    // offsets to window by, so the whole text is tokenized again.
    if (starts[n] !== pre + utf8Length(old, 0, old.length)) return this.replaceAll(text);
    // first token whose bytes reach past a (or n), last token that starts before b (at least the first)
    const first = Math.min(upperBound(starts, a) - 1, n - 1);
    const last = Math.max(first, lowerBound(starts, b) - 1);

    let left = INITIAL_MARGIN;
    let right = INITIAL_MARGIN;
    for (;;) {
      let lo = Math.max(0, first - left);
      while (lo > 0 && !this.safeStart(old, starts[lo]!, pre)) lo--;
      let hi = Math.min(n, last + 1 + right); // exclusive
      while (hi < n && utf16IndexOfByte(old, starts[hi]! - pre) === -1) hi++;
      const loByte = starts[lo]!;
      const hiByte = starts[hi]!;
      const windowText = byteSlice(text, loByte - pre, hiByte + delta - pre);
      const fresh = this.encodeWindow(windowText, lo === 0);
      this.tokensRetokenized += fresh.length;
      const oldWin = this.ids.slice(lo, hi);
      const common = commonEdges(oldWin, fresh);
      // Tokens entirely before the change (left) and after it (right) must agree on CONFIRM tokens at each edge.
      const needLeft = lo === 0 ? 0 : Math.min(CONFIRM, first - lo);
      const needRight = hi === n ? 0 : Math.min(CONFIRM, hi - last - 1);
      const okLeft = common.prefix >= needLeft;
      const okRight = common.suffix >= needRight;
      if ((okLeft && okRight) || (lo === 0 && hi === n)) {
        const at = lo + common.prefix;
        const deleted = oldWin.length - common.prefix - common.suffix;
        const inserted = fresh.slice(common.prefix, fresh.length - common.suffix);
        this.ids.splice(at, deleted, ...inserted);
        this.lens.splice(at, deleted, ...inserted.map((id) => this.tok.tokenBytes(id).length));
        this.textValue = text;
        return { at, deleted, inserted };
      }
      if (!okLeft) left *= 2;
      if (!okRight) right *= 2;
    }
  }

  private replaceAll(text: string): TokenSplice {
    const deleted = this.ids.length;
    this.textValue = text;
    this.ids = this.tok.encode(text);
    this.lens = this.ids.map((id) => this.tok.tokenBytes(id).length);
    this.tokensRetokenized += this.ids.length;
    return { at: 0, deleted, inserted: [...this.ids] };
  }

  /** Tokenizing from this byte offset of the old text gives the whole text's tokens from there on (see the header). */
  private safeStart(text: string, byte: number, pre: number): boolean {
    if (byte === 0) return true;
    const u = utf16IndexOfByte(text, byte - pre);
    if (u === -1) return false; // inside a character
    return pre === 0 || text.charCodeAt(u) === 0x20;
  }

  /** Tokens of a window of the tokenizer's view; with the SentencePiece prefix the window starts with its space. */
  private encodeWindow(windowText: string, atStart: boolean): number[] {
    if (!this.tok.addSpacePrefix) return this.tok.encode(windowText);
    // encode() prepends the space itself: at the text's start the window has no space of its own, elsewhere it starts
    // with the space of its first token.
    return this.tok.encode(atStart ? windowText : windowText.slice(1));
  }
}

/** Lengths of the common prefix and (non-overlapping) common suffix of two id lists. */
function commonEdges(a: readonly number[], b: readonly number[]): { prefix: number; suffix: number } {
  let prefix = 0;
  const m = Math.min(a.length, b.length);
  while (prefix < m && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < m - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  return { prefix, suffix };
}

function prefixSums(lens: readonly number[]): Int32Array {
  const s = new Int32Array(lens.length + 1);
  for (let i = 0; i < lens.length; i++) s[i + 1] = s[i]! + lens[i]!;
  return s;
}

/** First index i with s[i] >= x. */
function lowerBound(s: Int32Array, x: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index i with s[i] > x. */
function upperBound(s: Int32Array, x: number): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** UTF-8 bytes of s[from, to) (UTF-16 indices); a lone surrogate counts 3, as its U+FFFD replacement. */
export function utf8Length(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The UTF-16 index where byte offset `byte` of s's UTF-8 falls, or -1 when it falls inside a character. */
function utf16IndexOfByte(s: string, byte: number): number {
  let n = 0;
  let i = 0;
  while (n < byte && i < s.length) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    i += pair ? 2 : 1;
  }
  return n === byte ? i : -1;
}

/** s[from, to) for UTF-8 byte offsets that fall on character boundaries (negative = the start). */
function byteSlice(s: string, fromByte: number, toByte: number): string {
  const from = fromByte <= 0 ? 0 : utf16IndexOfByte(s, fromByte);
  const to = utf16IndexOfByte(s, toByte);
  if (from === -1 || to === -1) throw new Error('token mirror: window boundary inside a character');
  return s.slice(from, to);
}
