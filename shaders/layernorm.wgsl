// LayerNorm: out[r, i] = (x[r, i] - mean_r) / sqrt(var_r + eps) * weight[i] + bias[i], var_r = mean_i((x[r, i] - mean_r)^2)
// (ggml_norm, then the weight multiply and bias add: llama.cpp's LLM_NORM with a bias).
// One invocation per row, no barriers, as in rmsnorm.wgsl; a 2D grid past 65535 workgroups.
// Centred two-pass, as ggml_compute_forward_norm_f32 (the mean first, then the sum of squares of x - mean), never
// E[x^2] - E[x]^2, which cancels when the mean is large against the spread. ggml sums in double; here the f32 mean m of
// the first pass is corrected in the second (Chan, Golub and LeVeque's corrected two-pass): with d = x - m, the mean is
// m + c, c = sum(d) / dim, and the variance sum(d^2) / dim - c^2. For 2179 values of mean 1000 and spread 1, the f32
// mean is off by 1e-3 (7e-4 normalised error in out with m alone); sum(d) adds small, nearly exact terms and brings
// that to 4e-7 (layernorm.test.ts).

struct Params {
  rows: u32, // number of rows (tokens)
  dim: u32,  // row length
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // (rows, dim)
@group(0) @binding(2) var<storage, read> weight: array<f32>;       // (dim)
@group(0) @binding(3) var<storage, read> bias: array<f32>;         // (dim)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // (rows, dim)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.dim;
  let n = f32(params.dim);
  var s = 0.0;
  for (var i = 0u; i < params.dim; i++) {
    s += x[base + i];
  }
  let m = s / n;
  var sd = 0.0;  // sum(d)
  var sdd = 0.0; // sum(d^2)
  for (var i = 0u; i < params.dim; i++) {
    let d = x[base + i] - m;
    sd += d;
    sdd += d * d;
  }
  let c = sd / n;
  let scale = inverseSqrt(max(sdd / n - c * c, 0.0) + params.eps);
  for (var i = 0u; i < params.dim; i++) {
    out[base + i] = ((x[base + i] - m) - c) * scale * weight[i] + bias[i];
  }
}
