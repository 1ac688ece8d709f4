// x (tokens, K) of matmul_common.wgsl read in 16-byte words, for K % 4 == 0 (every real model): one vector load per
// 4 elements (on CPU drivers, 4 scalar loads cost measurably more).

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>; // (tokens, K / 4)

// Elements k .. k + 3 of token row t (k % 4 == 0).
fn x4(t: u32, k: u32) -> vec4<f32> {
  return x[(t * params.K + k) >> 2u];
}

// Element k of token row t.
fn x1(t: u32, k: u32) -> f32 {
  let i = t * params.K + k;
  return x[i >> 2u][i & 3u];
}
