// Stores the new tokens' K and V into the resident cache: token t's (nKvHeads, headDim) rows go to cache row rows[t] of
// `layer`. One invocation per element, no barriers.

struct Params {
  tokens: u32,   // number of new tokens
  nKvHeads: u32, // KV heads per token
  headDim: u32,  // dims per head
  maxRows: u32,  // cache rows per (layer, head)
  layer: u32,    // the layer written
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;              // (tokens, nKvHeads, headDim)
@group(0) @binding(2) var<storage, read> v: array<f32>;              // (tokens, nKvHeads, headDim)
@group(0) @binding(3) var<storage, read> rows: array<u32>;           // (tokens) destination cache row
@group(0) @binding(4) var<storage, read_write> kCache: array<f32>;   // (nLayers, nKvHeads, maxRows, headDim)
@group(0) @binding(5) var<storage, read_write> vCache: array<f32>;   // (nLayers, nKvHeads, maxRows, headDim)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let perToken = params.nKvHeads * params.headDim;
  if (i >= params.tokens * perToken) {
    return;
  }
  let t = i / perToken;
  let h = (i % perToken) / params.headDim;
  let d = i % params.headDim;
  let dst = ((params.layer * params.nKvHeads + h) * params.maxRows + rows[t]) * params.headDim + d;
  kCache[dst] = k[i];
  vCache[dst] = v[i];
}
