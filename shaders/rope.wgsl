// Rotary position embedding, in place: for each (token, head), the first ropeDim dims of the head are rotated pair by
// pair; dims ropeDim..headDim-1 are never read or written (partial rotary).
// One invocation per (token, head, pair), no barriers.
//
// The map, exactly (ropeRef in src/engine/kernels/rope.ts replays the same f32 roundings; a PIE re-rotation shader
// must reuse rope_angle / rope_cos_sin unchanged so that R(p' - p) is the map the forward pass applied):
//   theta_0 = 1, theta_i = f32(theta_{i-1} * thetaScale)     thetaScale = f32(base^(-2/ropeDim)), from the host
//   angle   = f32(f32(f32(p) * scale) * theta_i)               scale = linear RoPE scaling (1 / factor)
//   (x0, x1) -> (x0 cos(angle) - x1 sin(angle), x0 sin(angle) + x1 cos(angle))
// WGSL's * is correctly rounded, so the angle is bit-reproducible on every conforming device. The angle is then reduced
// to [-pi, pi] (Cody-Waite, exact for |angle| < 2^16 * 2 pi) before sin/cos, whose accuracy WGSL only bounds there.
//
// Pair layout (override NEOX): 0 = "normal" (GGUF llama): pair i is dims (2i, 2i+1);
//                              1 = "neox": pair i is dims (i, i + ropeDim/2).

struct Params {
  tokens: u32,     // number of tokens
  nHeads: u32,     // heads per token
  headDim: u32,    // dims per head
  halfRot: u32,    // ropeDim / 2: rotated pairs per head
  scale: f32,      // linear position scaling
  thetaScale: f32, // f32(base^(-2/ropeDim))
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;   // (tokens, nHeads, headDim), rotated in place
@group(0) @binding(2) var<storage, read> positions: array<i32>; // (tokens)

override WG: u32 = 64;
override NEOX: u32 = 0;

// theta_i by repeated f32 multiplication (i <= 127 multiplies; deterministic, unlike pow()).
fn rope_theta(i: u32, thetaScale: f32) -> f32 {
  var t = 1.0;
  for (var j = 0u; j < i; j++) {
    t = t * thetaScale;
  }
  return t;
}

fn rope_angle(pos: i32, i: u32, scale: f32, thetaScale: f32) -> f32 {
  let ps = f32(pos) * scale;
  return ps * rope_theta(i, thetaScale);
}

// 2 pi = C1 + C2 + C3; C1 and C2 have 8 significant bits, so k * C1 and k * C2 are exact for |k| < 2^16 and the first two
// subtractions are exact; only k * C3 rounds (absolute error < 2^16 * 5.1e-6 * 2^-24).
const TWO_PI_C1: f32 = 6.28125;
const TWO_PI_C2: f32 = 0.00193023681640625;
const TWO_PI_C3: f32 = 5.070363179981996e-6;
const INV_TWO_PI: f32 = 0.15915494309189535;

fn rope_cos_sin(angle: f32) -> vec2<f32> {
  let k = round(angle * INV_TWO_PI);
  let r = ((angle - k * TWO_PI_C1) - k * TWO_PI_C2) - k * TWO_PI_C3;
  return vec2<f32>(cos(r), sin(r));
}

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
  var i0 = base + 2u * i;
  var i1 = i0 + 1u;
  if (NEOX != 0u) {
    i0 = base + i;
    i1 = i0 + half;
  }
  let x0 = x[i0];
  let x1 = x[i1];
  x[i0] = x0 * cs.x - x1 * cs.y;
  x[i1] = x0 * cs.y + x1 * cs.x;
}
