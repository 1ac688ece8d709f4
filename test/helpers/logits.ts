// Comparing our logits with another implementation's (llama.cpp, the f64 reference), shared by the oracle tests.
import assert from 'node:assert/strict';

export interface Compared {
  /** Worst over positions of max |ours - theirs| / max |theirs|. */
  worst: number;
  /** Positions whose argmax differs. */
  argmaxMismatches: number;
}

/** `ours` is (positions, vocab) flat; `theirs` one row per position. Asserts every logit of ours is finite. */
export function compareLogits(ours: Float32Array, theirs: ArrayLike<number>[], vocab: number): Compared {
  let worst = 0;
  let argmaxMismatches = 0;
  theirs.forEach((ref, p) => {
    let maxDiff = 0;
    let scale = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < vocab; i++) {
      const o = ours[p * vocab + i]!;
      assert.ok(Number.isFinite(o), `non-finite logit at position ${p}, token ${i}`);
      maxDiff = Math.max(maxDiff, Math.abs(o - ref[i]!));
      scale = Math.max(scale, Math.abs(ref[i]!));
      if (o > ours[p * vocab + a]!) a = i;
      if (ref[i]! > ref[b]!) b = i;
    }
    worst = Math.max(worst, maxDiff / scale);
    if (a !== b) argmaxMismatches++;
  });
  return { worst, argmaxMismatches };
}

/** A flat (positions, vocab) array as one row per position (views, no copies). */
export function rowsOf(flat: Float32Array, vocab: number): Float32Array[] {
  return Array.from({ length: flat.length / vocab }, (_, i) => flat.subarray(i * vocab, (i + 1) * vocab));
}

/** The two largest logits of a row: their tokens (the first index on equal values) and the margin between them. */
export interface Top2 {
  first: number;
  second: number;
  /** logit[first] - logit[second] (>= 0). */
  margin: number;
}

export function top2(row: ArrayLike<number>): Top2 {
  assert.ok(row.length >= 2, `top2 of a row of ${row.length}`);
  let first = row[1]! > row[0]! ? 1 : 0;
  let second = 1 - first;
  for (let i = 2; i < row.length; i++) {
    const v = row[i]!;
    if (v > row[first]!) [first, second] = [i, first];
    else if (v > row[second]!) second = i;
  }
  return { first, second, margin: row[first]! - row[second]! };
}

/** One position of ours against theirs: max |ours - theirs| over the vocabulary, where, and the two argmaxes. */
export interface PositionDiff {
  /** abs / scale. */
  rel: number;
  abs: number;
  /** max |theirs|. */
  scale: number;
  /** The token of the largest |ours - theirs|. */
  token: number;
  argmaxOurs: number;
  argmaxTheirs: number;
  /** Their top-2 margin (top2(theirs).margin). */
  margin: number;
}

/**
 * Per position, ours (positions, vocab) flat against theirs (one row per position); asserts that ours has as many
 * positions as theirs and that every logit of ours is finite.
 */
export function positionDiffs(ours: Float32Array, theirs: ArrayLike<number>[], vocab: number, what: string): PositionDiff[] {
  assert.equal(ours.length, theirs.length * vocab, `${what}: ${ours.length} logits for ${theirs.length} positions of ${vocab}`);
  return theirs.map((ref, p) => {
    const row = ours.subarray(p * vocab, (p + 1) * vocab);
    let abs = 0;
    let token = 0;
    let scale = 0;
    for (let i = 0; i < vocab; i++) {
      if (!Number.isFinite(row[i]!)) assert.fail(`${what}: non-finite logit ${row[i]} at position ${p}, token ${i}`);
      const d = Math.abs(row[i]! - ref[i]!);
      if (d > abs) {
        abs = d;
        token = i;
      }
      scale = Math.max(scale, Math.abs(ref[i]!));
    }
    const t = top2(ref);
    return { rel: abs / scale, abs, scale, token, argmaxOurs: top2(row).first, argmaxTheirs: t.first, margin: t.margin };
  });
}
