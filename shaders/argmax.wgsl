// argmax over each row of x: out[r] = the index of the largest x[r, i]; ties go to the lowest index; NaN never wins
// (a row of NaN only gives 0). -0 and +0 are equal, as in a float comparison.
//
// One workgroup per row: each invocation scans the row with stride WG (neighbouring invocations read neighbouring
// elements), then a shared-memory tree reduction of log2(WG) steps combines the WG candidates. Comparisons are made on
// an order-preserving u32 key of each value, with NaN detected from its bits: WGSL lets implementations assume that
// NaN never occurs, so a float comparison (or v != v) could be compiled to anything.

struct Params {
  rows: u32, // rows of x
  n: u32,    // row length (>= 1)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (rows, n)
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // (rows)

override WG: u32 = 256u; // a power of two

var<workgroup> bestKey: array<u32, WG>;
var<workgroup> bestIdx: array<u32, WG>;

// key(a) > key(b) exactly when a > b as floats; ±0 share one key; NaN gets 0, below -inf (0x007fffff).
fn key(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let mag = b & 0x7fffffffu;
  if (mag > 0x7f800000u) {
    return 0u;
  }
  if (mag == 0u) {
    return 0x80000000u;
  }
  return select(b | 0x80000000u, ~b, b != mag);
}

// True when candidate (k, i) beats (bk, bi): a larger key, or the same key at a lower index.
fn beats(k: u32, i: u32, bk: u32, bi: u32) -> bool {
  return k > bk || (k == bk && i < bi);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // Every invocation of a workgroup has the same row, so the early return below is uniform and the barriers are legal.
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.n;
  // (0, none) loses to every element, NaN included, so that a row of NaN still yields its first index.
  var bk = 0u;
  var bi = 0xffffffffu;
  for (var i = lid; i < params.n; i += WG) {
    let k = key(x[base + i]);
    // i only grows, so a tie never replaces the current best (except the initial "none").
    if (beats(k, i, bk, bi)) {
      bk = k;
      bi = i;
    }
  }
  bestKey[lid] = bk;
  bestIdx[lid] = bi;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s && beats(bestKey[lid + s], bestIdx[lid + s], bestKey[lid], bestIdx[lid])) {
      bestKey[lid] = bestKey[lid + s];
      bestIdx[lid] = bestIdx[lid + s];
    }
  }
  if (lid == 0u) {
    out[row] = bestIdx[0];
  }
}
