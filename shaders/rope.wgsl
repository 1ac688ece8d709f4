// Rotary position embedding, in place: for each (token, head), the first ropeDim dims of the head are rotated pair by
// pair; dims ropeDim..headDim-1 are never read or written (partial rotary). The angle map and pair layouts are in
// rope_common.wgsl, which the wrapper prepends. One invocation per (token, head, pair), no barriers.

struct Params {
  tokens: u32,     // number of tokens
  nHeads: u32,     // heads per token
  headDim: u32,    // dims per head
  halfRot: u32,    // ropeDim / 2: rotated pairs per head
  scale: f32,      // linear position scaling
  thetaScale: f32, // powf(base, f32(-2/ropeDim)), ropeThetaScale in rope.ts
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;   // (tokens, nHeads, headDim), rotated in place
@group(0) @binding(2) var<storage, read> positions: array<i32>; // (tokens)

override WG: u32 = 64;
override NEOX: u32 = 0;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let id = (wid.x + wid.y * nwg.x) * WG + lid;
  let half = params.halfRot;
  let headsPairs = params.nHeads * half;
  if (id >= params.tokens * headsPairs) {
    return;
  }
  let t = id / headsPairs;
  let rem = id - t * headsPairs;
  let h = rem / half;
  let i = rem - h * half;
  let cs = rope_cos_sin(rope_angle(positions[t], i, params.scale, params.thetaScale));
  let base = (t * params.nHeads + h) * params.headDim;
  let pair = rope_pair(i, half, NEOX) + vec2<u32>(base);
  let r = rope_rotate(x[pair.x], x[pair.y], cs);
  x[pair.x] = r.x;
  x[pair.y] = r.y;
}
