// Attention of new tokens over the resident KV cache: out = softmax(q kᵀ / sqrt(headDim)) v over the visible rows.
//
// Row j is visible to token t iff rowPos[j] >= 0 (not empty) and rowPos[j] <= qPos[t]: the causal mask is by position,
// never by row index, so rows may hold positions in any order (after PIE edits) and holes (-1).
// Grouped-query attention: head h reads KV head h / (nHeads / nKvHeads).
//
// One invocation owns a tile of up to 4 queries that read the same KV head (QT heads of one KV group x TT tokens; query
// slot s is token t0 + s / QT, head h0 + s % QT) and one chunk of the rows, and runs an online softmax over the chunk
// with the 4 scores in one vec4: every K and V vector it loads serves all 4 queries. No workgroup memory, no barriers
// (CPU drivers punish them). The wrapper's header has the measurements behind this shape. The private arrays (8 KiB per
// invocation) suit a CPU driver's stack; on a GPU they live in local memory, and a GPU-tuned variant would spread the
// dims over the lanes of a subgroup instead (not measurable here, so not written).
//   DIRECT = 1 (one chunk): the invocation writes its normalised output to `dst` (tokens, nHeads, headDim).
//   DIRECT = 0 (split-K, "flash decoding", which gives a GPU its parallelism in decode): it writes its partial sums,
//   max m and sum l to `dst` (tokens, nHeads, nChunks, headDim + 2), and attention_merge.wgsl combines the chunks.

struct Params {
  tokens: u32,   // new tokens (queries)
  nHeads: u32,   // query heads
  nKvHeads: u32, // KV heads (divides nHeads)
  headDim: u32,  // dims per head (a multiple of 4, <= 4 * MAX_D4)
  maxRows: u32,  // cache rows per (layer, head)
  nRows: u32,    // rows [0, nRows) are scanned
  layer: u32,    // the layer read
  nChunks: u32,  // chunks of the rows
  chunk: u32,    // rows per chunk
  scale: f32,    // 1 / sqrt(headDim)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;       // (tokens, nHeads, headDim)
@group(0) @binding(2) var<storage, read> kCache: array<vec4<f32>>;  // (nLayers, nKvHeads, maxRows, headDim)
@group(0) @binding(3) var<storage, read> vCache: array<vec4<f32>>;  // (nLayers, nKvHeads, maxRows, headDim)
@group(0) @binding(4) var<storage, read> rowPos: array<i32>;        // (maxRows) position of each row, -1 = empty
@group(0) @binding(5) var<storage, read> qPos: array<i32>;          // (tokens) position of each new token
@group(0) @binding(6) var<storage, read_write> dst: array<f32>;     // DIRECT: (tokens, nHeads, headDim); else partials

override WG: u32 = 64;
override QT: u32 = 1;     // query heads per invocation: 1, 2 or 4, dividing nHeads / nKvHeads
override TT: u32 = 1;     // tokens per invocation; QT * TT <= 4
override DIRECT: u32 = 1; // 1: nChunks == 1, write the output; 0: write partials for attention_merge.wgsl
override NQ: u32 = QT * TT; // live query slots of the vec4s (derived: the host sets QT and TT)
const MAX_D4: u32 = 64u;  // head dims / 4
// Below any real score; WGSL does not promise infinities.
const NEG_BIG: f32 = -3.0e38;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  let headTiles = params.nHeads / QT;
  let tokenTiles = (params.tokens + TT - 1u) / TT;
  if (i >= tokenTiles * headTiles * params.nChunks) {
    return;
  }
  let c = i % params.nChunks;
  let h0 = ((i / params.nChunks) % headTiles) * QT;
  let t0 = (i / (params.nChunks * headTiles)) * TT;
  let D4 = params.headDim / 4u;
  let kvh = h0 / (params.nHeads / params.nKvHeads);
  let cacheBase = (params.layer * params.nKvHeads + kvh) * params.maxRows;

  // Each slot's query (pre-scaled) and position; slots past the last token read its query but get position -1, so that
  // no row is visible to them and they are never written.
  var qv: array<vec4<f32>, 4u * MAX_D4>; // (slot, dim / 4)
  var qp = vec4<i32>(-1);
  for (var s = 0u; s < NQ; s++) {
    let t = t0 + s / QT;
    let qBase = (min(t, params.tokens - 1u) * params.nHeads + h0 + s % QT) * D4;
    for (var d = 0u; d < D4; d++) {
      qv[s * MAX_D4 + d] = q[qBase + d] * params.scale;
    }
    if (t < params.tokens) {
      qp[s] = qPos[t];
    }
  }

  var acc: array<vec4<f32>, 4u * MAX_D4>; // (slot, dim / 4): sum of w v
  var m = vec4<f32>(NEG_BIG);             // running max score per slot
  var l = vec4<f32>(0.0);                 // running sum of w per slot
  let r0 = c * params.chunk;
  let r1 = min(params.nRows, r0 + params.chunk);
  for (var r = r0; r < r1; r++) {
    let p = rowPos[r];
    let visible = vec4<bool>(p >= 0) & (vec4<i32>(p) <= qp);
    if (!any(visible)) {
      continue;
    }
    let kBase = (cacheBase + r) * D4;
    var s = vec4<f32>(0.0);
    for (var d = 0u; d < D4; d++) {
      let k = kCache[kBase + d];
      s.x += dot(qv[d], k);
      if (NQ > 1u) { s.y += dot(qv[MAX_D4 + d], k); }
      if (NQ > 2u) { s.z += dot(qv[2u * MAX_D4 + d], k); }
      if (NQ > 3u) { s.w += dot(qv[3u * MAX_D4 + d], k); }
    }
    // Online softmax: a slot that cannot see the row keeps its max and adds nothing (w = 0, f = 1); every exponent is
    // <= 0 and finite, so no slot ever produces NaN.
    let mNew = select(m, max(m, s), visible);
    let f = exp(m - mNew);
    let w = select(vec4<f32>(0.0), exp(s - mNew), visible);
    l = l * f + w;
    m = mNew;
    for (var d = 0u; d < D4; d++) {
      let v = vCache[kBase + d];
      acc[d] = acc[d] * f.x + w.x * v;
      if (NQ > 1u) { acc[MAX_D4 + d] = acc[MAX_D4 + d] * f.y + w.y * v; }
      if (NQ > 2u) { acc[2u * MAX_D4 + d] = acc[2u * MAX_D4 + d] * f.z + w.z * v; }
      if (NQ > 3u) { acc[3u * MAX_D4 + d] = acc[3u * MAX_D4 + d] * f.w + w.w * v; }
    }
  }

  let D = params.headDim;
  for (var s = 0u; s < NQ; s++) {
    let t = t0 + s / QT;
    if (t >= params.tokens) {
      break;
    }
    let th = t * params.nHeads + h0 + s % QT;
    if (DIRECT == 1u) {
      // no visible row at all: zeros
      let inv = select(0.0, 1.0 / l[s], l[s] > 0.0);
      for (var d = 0u; d < D; d++) {
        dst[th * D + d] = acc[s * MAX_D4 + d / 4u][d % 4u] * inv;
      }
    } else {
      let o = (th * params.nChunks + c) * (D + 2u);
      for (var d = 0u; d < D; d++) {
        dst[o + d] = acc[s * MAX_D4 + d / 4u][d % 4u];
      }
      dst[o + D] = m[s];
      dst[o + D + 1u] = l[s];
    }
  }
}
