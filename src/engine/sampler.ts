// Next-token choice from logits: greedy (temperature <= 0), or seeded sampling with temperature, top-k and top-p,
// applied in that order (top-k, then softmax with temperature, then the smallest top-p prefix, then a draw).
import { rng } from './util/rng.js';

export interface SamplerOptions {
  /** <= 0: greedy. Default 0. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = all. Default 40. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p; 1 = all. Default 0.95. */
  topP?: number;
  /** Seed of the draw. Default 0. */
  seed?: number;
}

export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  private readonly random: () => number;

  constructor(o: SamplerOptions = {}) {
    this.temperature = o.temperature ?? 0;
    this.topK = o.topK ?? 40;
    this.topP = o.topP ?? 0.95;
    if (!(this.topP > 0 && this.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${this.topP}`);
    if (!Number.isInteger(this.topK) || this.topK < 0) throw new RangeError(`topK must be a whole number >= 0, got ${this.topK}`);
    this.random = rng(o.seed ?? 0);
  }

  get greedy(): boolean {
    return this.temperature <= 0;
  }

  sample(logits: ArrayLike<number>): number {
    if (this.greedy) return argmaxOf(logits);
    const ids = topKIndices(logits, this.topK > 0 ? this.topK : logits.length);
    // softmax with temperature over the candidates (sorted by descending logit)
    const max = logits[ids[0]!]!;
    const p = new Float64Array(ids.length);
    let sum = 0;
    for (let i = 0; i < ids.length; i++) {
      p[i] = Math.exp((logits[ids[i]!]! - max) / this.temperature);
      sum += p[i]!;
    }
    // top-p: the shortest prefix whose mass reaches topP
    let keep = ids.length;
    let cum = 0;
    for (let i = 0; i < ids.length; i++) {
      cum += p[i]! / sum;
      if (cum >= this.topP) {
        keep = i + 1;
        break;
      }
    }
    let mass = 0;
    for (let i = 0; i < keep; i++) mass += p[i]!;
    let r = this.random() * mass;
    for (let i = 0; i < keep; i++) {
      r -= p[i]!;
      if (r < 0) return ids[i]!;
    }
    return ids[keep - 1]!;
  }
}

/** Index of the largest value; the lowest index on ties; NaN never wins. */
export function argmaxOf(x: ArrayLike<number>): number {
  let best = -1;
  let bestV = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v > bestV || (best < 0 && v === -Infinity)) {
      bestV = v;
      best = i;
    }
  }
  return Math.max(best, 0);
}

/** The k indices of the largest values, by descending value (ties by index). */
export function topKIndices(x: ArrayLike<number>, k: number): number[] {
  const n = x.length;
  k = Math.min(k, n);
  if (k * 8 >= n) {
    const all = Array.from({ length: n }, (_, i) => i).filter((i) => !Number.isNaN(x[i]!));
    all.sort((a, b) => x[b]! - x[a]! || a - b);
    return all.slice(0, k);
  }
  // a min-heap of size k keyed by value (then by larger index first, so that lower indices win ties)
  const heap: number[] = [];
  const less = (a: number, b: number) => x[a]! < x[b]! || (x[a] === x[b] && a > b);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(x[i]!)) continue;
    if (heap.length < k) {
      heap.push(i);
      for (let j = heap.length - 1; j > 0; ) {
        const p = (j - 1) >> 1;
        if (!less(heap[j]!, heap[p]!)) break;
        [heap[j], heap[p]] = [heap[p]!, heap[j]!];
        j = p;
      }
    } else if (less(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort((a, b) => x[b]! - x[a]! || a - b);
}
