// What the SentencePiece and BPE tokenizers share: splitting user-defined tokens out of the input (the rest goes to the
// kind's encodeFragment), the token pieces and decode, and the special/end-of-generation queries.

import { type FimTokens, type Tokenizer, TokenizerError } from './interface.js';
import { utf8Encoder, wellFormed } from './unicode.js';
import { ATTR_USER_DEFINED, isTextToken, type VocabInfo } from './vocab.js';

// ignoreBOM: a leading U+FEFF is text like any other (the default would drop it from decode's output)
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const EMPTY_BYTES = new Uint8Array(0);

export abstract class BaseTokenizer implements Tokenizer {
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
