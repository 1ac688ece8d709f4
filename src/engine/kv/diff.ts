// Which tokens of an old sequence survive in a new one: a minimal diff (Myers' O((N+M)D) greedy algorithm) after
// trimming the common head and tail. Cache rows of matched tokens are kept (and moved if their position changed);
// the rest are dropped or encoded. Edits are usually a few tokens at one or two places (a cursor move changes two), so
// D is small; past `maxD` the middle is treated as replaced wholesale, which is correct, only less economical.

/** Pairs [oldIndex, newIndex] of equal tokens, increasing in both, forming a longest common subsequence of a and b
 *  (exactly so when the edit distance is at most maxD). */
export function matchTokens(a: readonly number[], b: readonly number[], maxD = 1024): [number, number][] {
  let head = 0;
  const m = Math.min(a.length, b.length);
  while (head < m && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < m - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const out: [number, number][] = [];
  for (let i = 0; i < head; i++) out.push([i, i]);
  const mid = myers(a.slice(head, a.length - tail), b.slice(head, b.length - tail), maxD);
  for (const [i, j] of mid) out.push([head + i, head + j]);
  for (let t = tail; t > 0; t--) out.push([a.length - t, b.length - t]);
  return out;
}

function myers(a: readonly number[], b: readonly number[], maxD: number): [number, number][] {
  const n = a.length;
  const mm = b.length;
  if (n === 0 || mm === 0) return [];
  const off = maxD + 1;
  let v = new Int32Array(2 * off + 1);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= maxD; d++) {
    trace.push(v.slice());
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!) ? v[off + k + 1]! : v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < mm && a[x] === b[y]) {
        x++;
        y++;
      }
      next[off + k] = x;
      if (x >= n && y >= mm) return backtrack(trace, a, b, d, off);
    }
    v = next;
  }
  return [];
}

/** Walks the greedy paths back from (a.length, b.length); trace[d] is V as it was before step d. */
function backtrack(trace: Int32Array[], a: readonly number[], b: readonly number[], dEnd: number, off: number): [number, number][] {
  const out: [number, number][] = [];
  let x = a.length;
  let y = b.length;
  for (let d = dEnd; d > 0; d--) {
    const prev = trace[d]!;
    const k = x - y;
    const down = k === -d || (k !== d && prev[off + k - 1]! < prev[off + k + 1]!);
    const pk = down ? k + 1 : k - 1;
    const px = prev[off + pk]!;
    const py = px - pk;
    // after step d's one insertion (down) or deletion (right), a snake of matches led to (x, y)
    const midX = down ? px : px + 1;
    while (x > midX) {
      out.push([x - 1, y - 1]);
      x--;
      y--;
    }
    x = px;
    y = py;
  }
  while (x > 0) {
    out.push([x - 1, y - 1]);
    x--;
    y--;
  }
  return out.reverse();
}
