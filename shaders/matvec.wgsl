enable subgroups;
diagnostic(off, subgroup_uniformity);

// y (tokens, N) = x (tokens, K) · wᵀ, the subgroup variant of matmul.wgsl (same bindings, uniforms and overrides):
// the lanes of one subgroup share a tile of TT tokens × TR weight rows and split K between them, so that neighbouring
// lanes read neighbouring words of w and x (contiguous loads, where matmul.wgsl's lanes read words K apart); each tile
// ends with one subgroupAdd per output. No workgroup barriers. Needs K even for f16 (every row starts on a word).

struct Params {
  tokens: u32,     // rows of x and y
  N: u32,          // weight rows bound (output columns computed by this dispatch)
  K: u32,          // weight columns = x columns
  ldy: u32,        // row stride of y (the whole matrix's N)
  col0: u32,       // column of y that weight row 0 of this binding maps to
  accumulate: u32, // 1: y += x · wᵀ; 0: y = x · wᵀ
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // (tokens, K)
@group(0) @binding(2) var<storage, read> w: array<u32>;            // (N, K): f32 bits | f16 pairs | q8_0 int8 quads
@group(0) @binding(3) var<storage, read> scales: array<f32>;       // (N, K / 32) for q8_0; a dummy otherwise
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (tokens, ldy)

override WTYPE: u32 = 0u; // 0 f32, 1 f16, 2 q8_0
override WG: u32 = 64u;   // invocations per workgroup (a multiple of the subgroup size)
override TR: u32 = 4u;    // weight rows per subgroup: 1, 2, 3 or 4
override TT: u32 = 4u;    // tokens per subgroup: 1 or 4

fn sext8(v: u32) -> f32 {
  return f32(bitcast<i32>(v << 24u) >> 24u);
}

// Elements per word of w.
fn epw() -> u32 {
  if (WTYPE == 0u) {
    return 1u;
  }
  if (WTYPE == 1u) {
    return 2u;
  }
  return 4u;
}

// The (up to) 4 weights of word i of this binding, as a vec4 (f32: .x only; f16: .xy).
fn wword(i: u32) -> vec4<f32> {
  let v = w[i];
  if (WTYPE == 0u) {
    return vec4<f32>(bitcast<f32>(v), 0.0, 0.0, 0.0);
  }
  if (WTYPE == 1u) {
    return vec4<f32>(unpack2x16float(v), 0.0, 0.0);
  }
  return vec4<f32>(sext8(v), sext8(v >> 8u), sext8(v >> 16u), sext8(v >> 24u)) * scales[i >> 3u];
}

// The x values that meet word `wi` of a row: elements wi * epw() .. of token row `t`.
fn xword(t: u32, wi: u32) -> vec4<f32> {
  let i = t * params.K + wi * epw();
  if (WTYPE == 0u) {
    return vec4<f32>(x[i], 0.0, 0.0, 0.0);
  }
  if (WTYPE == 1u) {
    return vec4<f32>(x[i], x[i + 1u], 0.0, 0.0);
  }
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
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
  let n0 = (tile % rowTiles) * TR;
  let t0 = (tile / rowTiles) * TT;
  let last = params.N - 1u;
  let W = params.K / epw(); // words per row
  let r0 = min(n0, last) * W;
  let r1 = min(n0 + 1u, last) * W;
  let r2 = min(n0 + 2u, last) * W;
  let r3 = min(n0 + 3u, last) * W;
  let lt = params.tokens - 1u;
  let ta = min(t0, lt);
  let tb = min(t0 + 1u, lt);
  let tc = min(t0 + 2u, lt);
  let td = min(t0 + 3u, lt);

  if (TT == 1u) {
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    for (var i = lane; i < W; i += S) {
      let xv = xword(ta, i);
      a0 += wword(r0 + i) * xv;
      if (TR > 1u) { a1 += wword(r1 + i) * xv; }
      if (TR > 2u) { a2 += wword(r2 + i) * xv; }
      if (TR > 3u) { a3 += wword(r3 + i) * xv; }
    }
    let one = vec4<f32>(1.0);
    let s = subgroupAdd(vec4<f32>(dot(a0, one), dot(a1, one), dot(a2, one), dot(a3, one)));
    if (lane == 0u) {
      for (var r = 0u; r < TR; r++) {
        store(ta, n0 + r, s[r]);
      }
    }
    return;
  }

  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var i = lane; i < W; i += S) {
    let xm = mat4x4<f32>(xword(ta, i), xword(tb, i), xword(tc, i), xword(td, i));
    a0 += wword(r0 + i) * xm;
    if (TR > 1u) { a1 += wword(r1 + i) * xm; }
    if (TR > 2u) { a2 += wword(r2 + i) * xm; }
    if (TR > 3u) { a3 += wword(r3 + i) * xm; }
  }
  a0 = subgroupAdd(a0);
  if (TR > 1u) { a1 = subgroupAdd(a1); }
  if (TR > 2u) { a2 = subgroupAdd(a2); }
  if (TR > 3u) { a3 = subgroupAdd(a3); }
  if (lane == 0u) {
    for (var j = 0u; j < 4u; j++) {
      store(t0 + j, n0, a0[j]);
      if (TR > 1u) { store(t0 + j, n0 + 1u, a1[j]); }
      if (TR > 2u) { store(t0 + j, n0 + 2u, a2[j]); }
      if (TR > 3u) { store(t0 + j, n0 + 3u, a3[j]); }
    }
  }
}
