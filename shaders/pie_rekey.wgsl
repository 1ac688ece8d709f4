// PIE: moves cached keys to new positions in place. For each moved row (every layer and KV head), the rotated dims of K
// are rotated by the angle of the row's integer position delta, R(p' - p), through the same angle map and pair layout
// as the forward pass (rope_common.wgsl, prepended by the wrapper). V and the unrotated dims are not touched; the rows
// stay where they are (attention masks by position, so only the position changes; the host writes the new rowPos).
// One invocation per (move, layer, KV head, pair), no barriers; cost grows with the rows moved, not with the cache.

struct Params {
  nMoves: u32,     // rows to rotate
  nLayers: u32,    // layers
  nKvHeads: u32,   // KV heads
  maxRows: u32,    // cache rows per (layer, head)
  headDim: u32,    // dims per head
  halfRot: u32,    // rotated pairs per head (ropeDim / 2)
  scale: f32,      // linear position scaling
  thetaScale: f32, // f32(base^(-2/ropeDim))
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> kCache: array<f32>; // (nLayers, nKvHeads, maxRows, headDim)
@group(0) @binding(2) var<storage, read> moves: array<vec2<i32>>;   // (nMoves): (row, position delta)

override WG: u32 = 64;
override NEOX: u32 = 0;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = (wid.x + wid.y * nwg.x) * WG + lid;
  let half = params.halfRot;
  let perMove = params.nLayers * params.nKvHeads * half;
  if (id >= params.nMoves * perMove) {
    return;
  }
  let m = id / perMove;
  let rem = id - m * perMove;
  let lh = rem / half; // layer * nKvHeads + head
  let i = rem - lh * half;
  let mv = moves[m];
  let cs = rope_cos_sin(rope_angle(mv.y, i, params.scale, params.thetaScale));
  let base = (lh * params.maxRows + u32(mv.x)) * params.headDim;
  let pair = rope_pair(i, half, NEOX) + vec2<u32>(base);
  let r = rope_rotate(kCache[pair.x], kCache[pair.y], cs);
  kCache[pair.x] = r.x;
  kCache[pair.y] = r.y;
}
