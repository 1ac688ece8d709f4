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
