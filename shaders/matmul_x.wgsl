// x (tokens, K) of matmul_common.wgsl read element by element: any K.

@group(0) @binding(1) var<storage, read> x: array<f32>; // (tokens, K)

// Elements k .. k + 3 of token row t.
fn x4(t: u32, k: u32) -> vec4<f32> {
  let i = t * params.K + k;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

// Element k of token row t.
fn x1(t: u32, k: u32) -> f32 {
  return x[t * params.K + k];
}
