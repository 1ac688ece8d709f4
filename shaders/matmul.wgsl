// y (tokens, N) = x (tokens, K) · wᵀ with w (N, K) row-major in any tensor format; with accumulate, y += that.
// The wrapper prepends the format's decoder (shaders/formats/: w_chunk, w_elem over `w`; src/engine/formats/format.ts),
// so this body is written once for every format.
//
// Barrier-free (CPU drivers punish barriers): each invocation owns a register tile of TT tokens × TR weight rows and
// runs the whole K loop, 32 elements (one decoded chunk) at a time, each row's chunk decoded once per tile. Neighbouring
// invocations take neighbouring row tiles of the same token tile. TT = 1 is the decode shape (matrix-vector), TT = 4
// the prefill shape. Rows whose length is not a multiple of 32 (element formats only) end with an element-wise tail.
//
// Accumulators: a_r (r < TR) is a vec4. With TT = 4, a_r[j] is the dot product of row r with token j's x. With TT = 1,
// a_r holds four partial sums of row r with token 0 (summed at the end).
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
  rowWords: u32,   // u32 words per weight row in the format's GPU layout
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // (tokens, K)
@group(0) @binding(2) var<storage, read> w: array<u32>;            // (N, rowWords): the format's GPU layout
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // (tokens, ldy)

override WG: u32 = 64u;     // invocations per workgroup
override TR: u32 = 4u;      // weight rows per invocation: 1, 2, 3 or 4
override TT: u32 = 4u;      // tokens per invocation: 1 or 4

// Elements k .. k + 3 of token row t of x.
fn x4(t: u32, k: u32) -> vec4<f32> {
  let i = t * params.K + k;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

// A decoded chunk (32 weights of one row, from element k) times the token tile's x: TT = 1, four partial sums with
// token t.x; TT = 4, one dot product per token.
fn dot_chunk(c: array<vec4<f32>, 8>, t: vec4<u32>, k: u32) -> vec4<f32> {
  var a = vec4<f32>(0.0);
  for (var i = 0u; i < 8u; i++) {
    let kk = k + 4u * i;
    if (TT == 1u) {
      a += c[i] * x4(t.x, kk);
    } else {
      a += c[i] * mat4x4<f32>(x4(t.x, kk), x4(t.y, kk), x4(t.z, kk), x4(t.w, kk));
    }
  }
  return a;
}

// One weight times the token tile's x at element k (the tail of a row).
fn dot_elem(wk: f32, t: vec4<u32>, k: u32) -> vec4<f32> {
  let K = params.K;
  if (TT == 1u) {
    return vec4<f32>(wk * x[t.x * K + k], 0.0, 0.0, 0.0);
  }
  return wk * vec4<f32>(x[t.x * K + k], x[t.y * K + k], x[t.z * K + k], x[t.w * K + k]);
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
  let rows = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.N - 1u)) * params.rowWords;
  let toks = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.tokens - 1u));
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);

  let chunks = K >> 5u;
  for (var j = 0u; j < chunks; j++) {
    let k = j << 5u;
    a0 += dot_chunk(w_chunk(rows.x, j), toks, k);
    if (TR > 1u) { a1 += dot_chunk(w_chunk(rows.y, j), toks, k); }
    if (TR > 2u) { a2 += dot_chunk(w_chunk(rows.z, j), toks, k); }
    if (TR > 3u) { a3 += dot_chunk(w_chunk(rows.w, j), toks, k); }
  }
  for (var k = chunks << 5u; k < K; k++) {
    a0 += dot_elem(w_elem(rows.x, k), toks, k);
    if (TR > 1u) { a1 += dot_elem(w_elem(rows.y, k), toks, k); }
    if (TR > 2u) { a2 += dot_elem(w_elem(rows.z, k), toks, k); }
    if (TR > 3u) { a3 += dot_elem(w_elem(rows.w, k), toks, k); }
  }

  for (var j = 0u; j < TT; j++) {
    store(t0 + j, n0, result(a0, j));
    if (TR > 1u) { store(t0 + j, n0 + 1u, result(a1, j)); }
    if (TR > 2u) { store(t0 + j, n0 + 2u, result(a2, j)); }
    if (TR > 3u) { store(t0 + j, n0 + 3u, result(a3, j)); }
  }
}
