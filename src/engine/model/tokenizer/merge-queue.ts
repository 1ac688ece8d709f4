// The merge loop that llama.cpp's SentencePiece and byte-level BPE tokenizers share: a priority queue of candidate
// merges and the loop that applies them to a linked list of symbols (spm.ts and bpe.ts say what a merge's priority is).

/**
 * The priority queue of candidate merges that llama.cpp's SPM and BPE loops share: pops the lowest `priority` first and,
 * among equal ones, the leftmost pair. Entries live in typed arrays (no allocation per entry); pop() returns an entry
 * index into left/right/size, valid until the next clear(). One queue per tokenizer, reused by every call.
 */
export class MergeQueue {
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
export function runMerges(
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
