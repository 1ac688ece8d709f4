enable subgroups;
diagnostic(off, subgroup_uniformity);

// y (tokens, N) = x (tokens, K) · wᵀ, the subgroup variant of matmul.wgsl (same bindings, uniforms and overrides, and
// the same format decoder prepended by the wrapper): the lanes of one subgroup share a tile of TT tokens × TR weight
// rows and split the row between them, a 32-element chunk each in turn, so that neighbouring lanes read neighbouring
// blocks of w (where matmul.wgsl's lanes read rows apart); each tile ends with one subgroupAdd per output. No workgroup
// barriers.

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

override WG: u32 = 64u;   // invocations per workgroup (a multiple of the subgroup size)
override TR: u32 = 4u;    // weight rows per subgroup: 1, 2, 3 or 4
override TT: u32 = 4u;    // tokens per subgroup: 1 or 4

fn x4(t: u32, k: u32) -> vec4<f32> {
  let i = t * params.K + k;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

// As in matmul.wgsl: a decoded chunk times the token tile's x from element k.
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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) S: u32) {
  let rowTiles = (params.N + TR - 1u) / TR;
  let tokenTiles = (params.tokens + TT - 1u) / TT;
  // Subgroup number lid / S: WGSL does not promise that a subgroup holds consecutive local indices, but drivers lay
  // 1D workgroups out that way in practice (lavapipe and SwiftShader do: the tests cover both). The tile, and so the
  // early return below, is then uniform in each subgroup, as subgroupAdd needs.
  let tile = (wid.x + wid.y * nwg.x) * (WG / S) + lid / S;
  if (tile >= rowTiles * tokenTiles) {
    return;
  }
  let K = params.K;
  let n0 = (tile % rowTiles) * TR;
  let t0 = (tile / rowTiles) * TT;
  let rows = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.N - 1u)) * params.rowWords;
  let toks = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.tokens - 1u));
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  let chunks = K >> 5u;
  for (var j = lane; j < chunks; j += S) {
    let k = j << 5u;
    a0 += dot_chunk(w_chunk(rows.x, j), toks, k);
    if (TR > 1u) { a1 += dot_chunk(w_chunk(rows.y, j), toks, k); }
    if (TR > 2u) { a2 += dot_chunk(w_chunk(rows.z, j), toks, k); }
    if (TR > 3u) { a3 += dot_chunk(w_chunk(rows.w, j), toks, k); }
  }
  for (var k = (chunks << 5u) + lane; k < K; k += S) {
    a0 += dot_elem(w_elem(rows.x, k), toks, k);
    if (TR > 1u) { a1 += dot_elem(w_elem(rows.y, k), toks, k); }
    if (TR > 2u) { a2 += dot_elem(w_elem(rows.z, k), toks, k); }
    if (TR > 3u) { a3 += dot_elem(w_elem(rows.w, k), toks, k); }
  }
  a0 = subgroupAdd(a0);
  if (TR > 1u) { a1 = subgroupAdd(a1); }
  if (TR > 2u) { a2 = subgroupAdd(a2); }
  if (TR > 3u) { a3 = subgroupAdd(a3); }
  if (lane == 0u) {
    for (var j = 0u; j < TT; j++) {
      store(t0 + j, n0, result(a0, j));
      if (TR > 1u) { store(t0 + j, n0 + 1u, result(a1, j)); }
      if (TR > 2u) { store(t0 + j, n0 + 2u, result(a2, j)); }
      if (TR > 3u) { store(t0 + j, n0 + 3u, result(a3, j)); }
    }
  }
}
