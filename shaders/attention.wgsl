// Attention of new tokens over the resident KV cache, pass 1 of 2 (split-K, "flash decoding"): the cache rows are cut
// into nChunks chunks and one invocation per (token, head, chunk) runs an online softmax over its chunk, writing the
// partial max m, sum l and weighted value sum acc; attention_merge.wgsl combines the chunks. No workgroup memory, no
// barriers (CPU drivers punish them); the chunk count gives a GPU its parallelism in decode, where tokens * heads is
// small.
//
// Row j is visible to token t iff rowPos[j] >= 0 (not empty) and rowPos[j] <= qPos[t]: the causal mask is by position,
// never by row index, so rows may hold positions in any order (after PIE edits) and holes (-1).
// Grouped-query attention: head h reads KV head h / (nHeads / nKvHeads).

struct Params {
  tokens: u32,   // new tokens (queries)
  nHeads: u32,   // query heads
  nKvHeads: u32, // KV heads (divides nHeads)
  headDim: u32,  // dims per head (<= MAX_HEAD_DIM)
  maxRows: u32,  // cache rows per (layer, head)
  nRows: u32,    // rows [0, nRows) are scanned
  layer: u32,    // the layer read
  nChunks: u32,  // chunks of the rows
  chunk: u32,    // rows per chunk
  scale: f32,    // 1 / sqrt(headDim)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;               // (tokens, nHeads, headDim)
@group(0) @binding(2) var<storage, read> kCache: array<f32>;          // (nLayers, nKvHeads, maxRows, headDim)
@group(0) @binding(3) var<storage, read> vCache: array<f32>;          // (nLayers, nKvHeads, maxRows, headDim)
@group(0) @binding(4) var<storage, read> rowPos: array<i32>;          // (maxRows) position of each row, -1 = empty
@group(0) @binding(5) var<storage, read> qPos: array<i32>;            // (tokens) position of each new token
@group(0) @binding(6) var<storage, read_write> part: array<f32>;      // (tokens, nHeads, nChunks, headDim + 2): acc, m, l

override WG: u32 = 64;
const MAX_HEAD_DIM: u32 = 256u;
// Below any real score; WGSL does not promise infinities.
const NEG_BIG: f32 = -3.0e38;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= params.tokens * params.nHeads * params.nChunks) {
    return;
  }
  let c = i % params.nChunks;
  let h = (i / params.nChunks) % params.nHeads;
  let t = i / (params.nChunks * params.nHeads);
  let D = params.headDim;
  let kvh = h / (params.nHeads / params.nKvHeads);
  let qBase = (t * params.nHeads + h) * D;
  let cacheBase = (params.layer * params.nKvHeads + kvh) * params.maxRows;
  let qp = qPos[t];

  var acc: array<f32, MAX_HEAD_DIM>;
  for (var d = 0u; d < D; d++) {
    acc[d] = 0.0;
  }
  var m = NEG_BIG;
  var l = 0.0;
  let r0 = c * params.chunk;
  let r1 = min(params.nRows, r0 + params.chunk);
  for (var r = r0; r < r1; r++) {
    let p = rowPos[r];
    if (p < 0 || p > qp) {
      continue;
    }
    let kBase = (cacheBase + r) * D;
    var s = 0.0;
    for (var d = 0u; d < D; d++) {
      s += q[qBase + d] * kCache[kBase + d];
    }
    s *= params.scale;
    if (s > m) {
      // a new maximum: rescale what was summed so far
      let f = exp(m - s);
      l *= f;
      for (var d = 0u; d < D; d++) {
        acc[d] *= f;
      }
      m = s;
    }
    let w = exp(s - m);
    l += w;
    for (var d = 0u; d < D; d++) {
      acc[d] += w * vCache[kBase + d];
    }
  }
  let o = i * (D + 2u);
  for (var d = 0u; d < D; d++) {
    part[o + d] = acc[d];
  }
  part[o + D] = m;
  part[o + D + 1u] = l;
}
