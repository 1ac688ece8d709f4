// RMSNorm: out[r, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * weight[i].
// One invocation per row, no barriers (CPU drivers punish them; rows are few and short in decode).

struct Params {
  rows: u32, // number of rows (tokens)
  dim: u32,  // row length
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // (rows, dim)
@group(0) @binding(2) var<storage, read> weight: array<f32>;       // (dim)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;    // (rows, dim)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= params.rows) {
    return;
  }
  let base = row * params.dim;
  var ss = 0.0;
  for (var i = 0u; i < params.dim; i++) {
    let v = x[base + i];
    ss += v * v;
  }
  let scale = inverseSqrt(ss / f32(params.dim) + params.eps);
  for (var i = 0u; i < params.dim; i++) {
    out[base + i] = x[base + i] * scale * weight[i];
  }
}
