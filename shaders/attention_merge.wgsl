// Attention pass 2 of 2: merges the per-chunk partial softmaxes of attention.wgsl. One invocation per (token, head,
// dim): out = sum_c acc_c exp(m_c - M) / sum_c l_c exp(m_c - M), M = max of the non-empty chunks' m_c; zeros when no
// row was visible at all.

struct Params {
  tokens: u32,  // new tokens
  nHeads: u32,  // query heads
  headDim: u32, // dims per head
  nChunks: u32, // chunks per (token, head)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;       // (tokens, nHeads, nChunks, headDim + 2): acc, m, l
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // (tokens, nHeads, headDim)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let D = params.headDim;
  if (i >= params.tokens * params.nHeads * D) {
    return;
  }
  let d = i % D;
  let th = i / D; // token * nHeads + head
  let stride = D + 2u;
  let base = th * params.nChunks * stride;
  var M = -3.0e38;
  for (var c = 0u; c < params.nChunks; c++) {
    let o = base + c * stride;
    if (part[o + D + 1u] > 0.0) {
      M = max(M, part[o + D]);
    }
  }
  var L = 0.0;
  var s = 0.0;
  for (var c = 0u; c < params.nChunks; c++) {
    let o = base + c * stride;
    let l = part[o + D + 1u];
    if (l > 0.0) {
      let f = exp(part[o + D] - M);
      L += l * f;
      s += part[o + d] * f;
    }
  }
  out[i] = select(0.0, s / L, L > 0.0);
}
