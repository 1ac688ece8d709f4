// SentencePiece with scores (tokenizer.ggml.model "llama"), as llama.cpp's llm_tokenizer_spm: spaces become "▁", the
// highest-scoring pair of adjacent symbols merges first, and what is no token at the end falls back to byte tokens.

import { BaseTokenizer } from './base.js';
import { MergeQueue, runMerges } from './merge-queue.js';
import { utf8Encoder } from './unicode.js';
import { ATTR_NORMAL, type VocabInfo } from './vocab.js';

export class SpmTokenizer extends BaseTokenizer {
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
