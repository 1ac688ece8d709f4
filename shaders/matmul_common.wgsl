// The declarations and helpers that matmul.wgsl (tiled) and matvec.wgsl (subgroup) share: the uniforms, bindings and
// overrides, and the dot products of a decoded weight chunk with the token tile's x. The wrapper composes
// [enable directives] + this file + the x accessors (matmul_x.wgsl, or matmul_x4.wgsl where K % 4 == 0) + the format's decoder (shaders/formats/) + the kernel's main().

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
// binding 1, x (tokens, K), is declared by matmul_x.wgsl or matmul_x4.wgsl with its accessors x4() and x1()
@group(0) @binding(2) var<storage, read> w: array<u32>;            // (N, rowWords): the format's GPU layout
@group(0) @binding(3) var<storage, read_write> y: array<f32>;      // (tokens, ldy)

override WG: u32 = 64u;     // invocations per workgroup (matvec: a multiple of the subgroup size)
override TR: u32 = 4u;      // weight rows per invocation (matvec: per subgroup): 1, 2, 3 or 4
override TT: u32 = 4u;      // tokens per invocation (matvec: per subgroup): 1 or 4

// A decoded chunk (32 weights of one row, from element k) times the token tile's x: TT = 1, four partial sums with
// token t.x; TT = 4, one dot product per token.
fn dot_chunk(c: array<vec4<f32>, 8>, t: vec4<u32>, k: u32) -> vec4<f32> {
  // Written out rather than looped: CPU drivers then keep the chunk in registers.
  if (TT == 1u) {
    return c[0] * x4(t.x, k) + c[1] * x4(t.x, k + 4u) + c[2] * x4(t.x, k + 8u) + c[3] * x4(t.x, k + 12u) +
      c[4] * x4(t.x, k + 16u) + c[5] * x4(t.x, k + 20u) + c[6] * x4(t.x, k + 24u) + c[7] * x4(t.x, k + 28u);
  }
  return c[0] * xm(t, k) + c[1] * xm(t, k + 4u) + c[2] * xm(t, k + 8u) + c[3] * xm(t, k + 12u) +
    c[4] * xm(t, k + 16u) + c[5] * xm(t, k + 20u) + c[6] * xm(t, k + 24u) + c[7] * xm(t, k + 28u);
}

// Elements k .. k + 3 of the 4 tokens of the tile, one column per token.
fn xm(t: vec4<u32>, k: u32) -> mat4x4<f32> {
  return mat4x4<f32>(x4(t.x, k), x4(t.y, k), x4(t.z, k), x4(t.w, k));
}

// One weight times the token tile's x at element k (the tail of a row).
fn dot_elem(wk: f32, t: vec4<u32>, k: u32) -> vec4<f32> {
  if (TT == 1u) {
    return vec4<f32>(wk * x1(t.x, k), 0.0, 0.0, 0.0);
  }
  return wk * vec4<f32>(x1(t.x, k), x1(t.y, k), x1(t.z, k), x1(t.w, k));
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
