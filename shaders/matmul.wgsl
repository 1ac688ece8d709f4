// y (tokens, N) = x (tokens, K) · wᵀ with w (N, K) row-major in f32, f16 or q8_0; with accumulate, y += that.
//
// Barrier-free (CPU drivers punish barriers): each invocation owns a register tile of TT tokens × TR weight rows, runs
// the whole K loop and reads each weight of its rows once per tile. Neighbouring invocations take neighbouring row tiles
// of the same token tile. TT = 1 is the decode shape (matrix-vector), TT = 4 the prefill shape.
//
// Accumulators: a_r (r < TR) is a vec4. With TT = 4, a_r[j] is the dot product of row r with token j's x. With TT = 1,
// a_r holds four partial sums of row r with token 0 (summed at the end).
//
// ALIGNED = 1 (K % 4 == 0 for f32, K % 8 == 0 for f16; always for q8_0, whose K % 32 == 0) reads 16-byte words of w and
// x; ALIGNED = 0 reads element by element (any K: F16 rows with an odd K start in the middle of a word).
//
// The weights may be bound in row ranges (a matrix over the largest storage binding): weight row 0 of this binding is
// column col0 of y, and y rows are ldy long.

struct Params {
  tokens: u32,     // rows of x and y
  N: u32,          // weight rows bound (output columns computed by this dispatch)
  K: u32,          // weight columns = x columns
  ldy: u32,        // row stride of y (the whole matrix's N)
  col0: u32,       // column of y that weight row 0 of this binding maps to
  accumulate: u32, // 1: y += x · wᵀ; 0: y = x · wᵀ
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;      // (tokens, K), K / 4 vec4 per row when ALIGNED
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;      // (N, K): f32 bits | f16 pairs | q8_0 int8 quads
@group(0) @binding(3) var<storage, read> scales: array<f32>;       // (N, K / 32) q8_0 block scales; a dummy otherwise
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (tokens, ldy)

override WTYPE: u32 = 0u;   // 0 f32, 1 f16, 2 q8_0
override WG: u32 = 64u;     // invocations per workgroup
override TR: u32 = 4u;      // weight rows per invocation: 1, 2, 3 or 4
override TT: u32 = 4u;      // tokens per invocation: 1 or 4
override ALIGNED: u32 = 1u; // see above

// ---- element access (any K) ----

fn xe(i: u32) -> f32 {
  return x[i >> 2u][i & 3u];
}

fn wword(i: u32) -> u32 {
  return w[i >> 2u][i & 3u];
}

// Weight number e of this binding (flat element index), f32 or f16: q8_0 rows are whole blocks of 32, always ALIGNED.
fn w1(e: u32) -> f32 {
  if (WTYPE == 0u) {
    return bitcast<f32>(wword(e));
  }
  return unpack2x16float(wword(e >> 1u))[e & 1u];
}

// ---- 16-byte access ----

// The 4 int8 of a word, in order.
fn i8x4(v: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Token tile x, 4 elements from element k (k % 4 == 0), one column per token (TT = 1: column 0 only).
fn xq(t: vec4<u32>, k: u32) -> mat4x4<f32> {
  let q = k >> 2u;
  let k4 = params.K >> 2u;
  if (TT == 1u) {
    return mat4x4<f32>(x[t.x * k4 + q], vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  }
  return mat4x4<f32>(x[t.x * k4 + q], x[t.y * k4 + q], x[t.z * k4 + q], x[t.w * k4 + q]);
}

// a + (4 weights) · (4 elements of the token tile's x).
fn fma4(a: vec4<f32>, wv: vec4<f32>, xm: mat4x4<f32>) -> vec4<f32> {
  if (TT == 1u) {
    return a + wv * xm[0];
  }
  return a + wv * xm;
}

// One q8_0 block (two 16-byte words of int8) times the token tile's x, unscaled.
fn q8block(u: vec4<u32>, v: vec4<u32>, x0: mat4x4<f32>, x1: mat4x4<f32>, x2: mat4x4<f32>, x3: mat4x4<f32>,
           x4: mat4x4<f32>, x5: mat4x4<f32>, x6: mat4x4<f32>, x7: mat4x4<f32>) -> vec4<f32> {
  var p = fma4(vec4<f32>(0.0), i8x4(u.x), x0);
  p = fma4(p, i8x4(u.y), x1);
  p = fma4(p, i8x4(u.z), x2);
  p = fma4(p, i8x4(u.w), x3);
  p = fma4(p, i8x4(v.x), x4);
  p = fma4(p, i8x4(v.y), x5);
  p = fma4(p, i8x4(v.z), x6);
  return fma4(p, i8x4(v.w), x7);
}

fn store(t: u32, n: u32, v: f32) {
  if (t < params.tokens && n < params.N) {
    let i = t * params.ldy + params.col0 + n;
    if (params.accumulate != 0u) {
      y[i] += v;
    } else {
      y[i] = v;
    }
  }
}

fn result(a: vec4<f32>, j: u32) -> f32 {
  if (TT == 1u) {
    return dot(a, vec4<f32>(1.0));
  }
  return a[j];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rowTiles = (params.N + TR - 1u) / TR;
  let tokenTiles = (params.tokens + TT - 1u) / TT;
  let tile = (wid.x + wid.y * nwg.x) * WG + lid;
  if (tile >= rowTiles * tokenTiles) {
    return;
  }
  let K = params.K;
  let n0 = (tile % rowTiles) * TR;
  let t0 = (tile / rowTiles) * TT;
  // Rows and tokens past the end read the last valid one and are not stored: no branches in the loops.
  let rows = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.N - 1u));
  let toks = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.tokens - 1u));
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);

  if (ALIGNED == 0u) {
    let e = rows * K;
    for (var k = 0u; k < K; k++) {
      var xv = vec4<f32>(xe(toks.x * K + k), 0.0, 0.0, 0.0);
      if (TT > 1u) {
        xv = vec4<f32>(xv.x, xe(toks.y * K + k), xe(toks.z * K + k), xe(toks.w * K + k));
      }
      a0 += w1(e.x + k) * xv;
      if (TR > 1u) { a1 += w1(e.y + k) * xv; }
      if (TR > 2u) { a2 += w1(e.z + k) * xv; }
      if (TR > 3u) { a3 += w1(e.w + k) * xv; }
    }
  } else if (WTYPE == 0u) {
    // f32: one 16-byte word = 4 weights.
    let q = rows * (K >> 2u);
    for (var k = 0u; k < K; k += 4u) {
      let xm = xq(toks, k);
      let o = k >> 2u;
      a0 = fma4(a0, bitcast<vec4<f32>>(w[q.x + o]), xm);
      if (TR > 1u) { a1 = fma4(a1, bitcast<vec4<f32>>(w[q.y + o]), xm); }
      if (TR > 2u) { a2 = fma4(a2, bitcast<vec4<f32>>(w[q.z + o]), xm); }
      if (TR > 3u) { a3 = fma4(a3, bitcast<vec4<f32>>(w[q.w + o]), xm); }
    }
  } else if (WTYPE == 1u) {
    // f16: one 16-byte word = 8 weights.
    let q = rows * (K >> 3u);
    for (var k = 0u; k < K; k += 8u) {
      let xl = xq(toks, k);
      let xh = xq(toks, k + 4u);
      let o = k >> 3u;
      var v = w[q.x + o];
      a0 = fma4(fma4(a0, vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), xl), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)), xh);
      if (TR > 1u) {
        v = w[q.y + o];
        a1 = fma4(fma4(a1, vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), xl), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)), xh);
      }
      if (TR > 2u) {
        v = w[q.z + o];
        a2 = fma4(fma4(a2, vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), xl), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)), xh);
      }
      if (TR > 3u) {
        v = w[q.w + o];
        a3 = fma4(fma4(a3, vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), xl), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)), xh);
      }
    }
  } else {
    // q8_0: one 16-byte word = 16 weights, half a block; the block's scale is applied to the block's sum.
    let blocks = K >> 5u;
    let q = rows * (K >> 4u);
    let s = rows * blocks;
    if (TT > 1u) {
      // Prefill: one 4-element group at a time keeps fewer values live (CPU drivers spill big tiles).
      let qw = q * 4u; // first u32 word of each row
      for (var b = 0u; b < blocks; b++) {
        var p0 = vec4<f32>(0.0);
        var p1 = vec4<f32>(0.0);
        var p2 = vec4<f32>(0.0);
        var p3 = vec4<f32>(0.0);
        for (var i = 0u; i < 8u; i++) {
          let xm = xq(toks, b * 32u + i * 4u);
          let o = b * 8u + i;
          p0 = fma4(p0, i8x4(wword(qw.x + o)), xm);
          if (TR > 1u) { p1 = fma4(p1, i8x4(wword(qw.y + o)), xm); }
          if (TR > 2u) { p2 = fma4(p2, i8x4(wword(qw.z + o)), xm); }
          if (TR > 3u) { p3 = fma4(p3, i8x4(wword(qw.w + o)), xm); }
        }
        a0 += scales[s.x + b] * p0;
        if (TR > 1u) { a1 += scales[s.y + b] * p1; }
        if (TR > 2u) { a2 += scales[s.z + b] * p2; }
        if (TR > 3u) { a3 += scales[s.w + b] * p3; }
      }
    } else {
      // Decode: a whole block of x (8 vec4) is loaded once and reused by the TR rows.
      for (var b = 0u; b < blocks; b++) {
        let k = b * 32u;
        let x0 = xq(toks, k);
        let x1 = xq(toks, k + 4u);
        let x2 = xq(toks, k + 8u);
        let x3 = xq(toks, k + 12u);
        let x4 = xq(toks, k + 16u);
        let x5 = xq(toks, k + 20u);
        let x6 = xq(toks, k + 24u);
        let x7 = xq(toks, k + 28u);
        let o = b * 2u;
        a0 += scales[s.x + b] * q8block(w[q.x + o], w[q.x + o + 1u], x0, x1, x2, x3, x4, x5, x6, x7);
        if (TR > 1u) { a1 += scales[s.y + b] * q8block(w[q.y + o], w[q.y + o + 1u], x0, x1, x2, x3, x4, x5, x6, x7); }
        if (TR > 2u) { a2 += scales[s.z + b] * q8block(w[q.z + o], w[q.z + o + 1u], x0, x1, x2, x3, x4, x5, x6, x7); }
        if (TR > 3u) { a3 += scales[s.w + b] * q8block(w[q.w + o], w[q.w + o + 1u], x0, x1, x2, x3, x4, x5, x6, x7); }
      }
    }
  }

  for (var j = 0u; j < TT; j++) {
    store(t0 + j, n0, result(a0, j));
    if (TR > 1u) { store(t0 + j, n0 + 1u, result(a1, j)); }
    if (TR > 2u) { store(t0 + j, n0 + 2u, result(a2, j)); }
    if (TR > 3u) { store(t0 + j, n0 + 3u, result(a3, j)); }
  }
}
