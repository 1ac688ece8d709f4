// Rotary position embedding: the angle map and the pair layout, shared by rope.wgsl (the forward pass) and
// pie_rekey.wgsl (re-rotation of cached keys), so that both apply exactly the same map. Kernel wrappers prepend this
// file to those shaders' sources (WGSL has no #include).
//
// The map, exactly (ropeAngle in src/engine/kernels/rope.ts replays the same f32 roundings):
//   a_0 = f32(p), a_i = f32(a_{i-1} * thetaScale)             thetaScale = powf(base, f32(-2/ropeDim)), from the host
//   angle_i = f32(scale * a_i)                                 scale = linear RoPE scaling (1 / factor)
//   (x0, x1) -> (x0 cos(angle) - x1 sin(angle), x0 sin(angle) + x1 cos(angle))
// WGSL's * is correctly rounded, so the angle is bit-reproducible on every conforming device. The angle is then reduced
// to [-pi, pi] (Cody-Waite, exact for |angle| < 2^16 * 2 pi) before sin/cos, whose accuracy WGSL only bounds there.
// PIE rotates a row from position p to p' by the angle of the integer delta p' - p, through the same rope_angle.
//
// Pair layout: 0 = "normal" (GGUF llama): pair i is dims (2i, 2i+1); 1 = "neox": pair i is dims (i, i + ropeDim/2).

// The angle of pair i at position pos: pos * thetaScale^i by repeated f32 multiplication starting from pos, then the
// linear scaling, in ggml's order (ggml_rope_cache_init), so that our angles are llama.cpp's bit for bit. At most
// ropeDim/2 - 1 multiplies; deterministic, unlike pow().
fn rope_angle(pos: i32, i: u32, scale: f32, thetaScale: f32) -> f32 {
  var t = f32(pos);
  for (var j = 0u; j < i; j++) {
    t = t * thetaScale;
  }
  return scale * t;
}

// cos and sin of an angle, to about 1 ulp on every device: WGSL only bounds its built-in sin/cos to 2^-11 absolute
// error on [-pi, pi], and SwiftShader's are that coarse (1e-4 relative error in rotated keys), so they are not used.
// First the angle is reduced to r in [-pi, pi] by k * 2 pi (Cody-Waite: C1 and C2 have 8 significant bits, so k * C1 and
// k * C2 are exact for |k| < 2^16, i.e. angles up to 4e5, positions up to 4e5 / scale), then by q * pi/2 to y in
// [-pi/4, pi/4], where minimax polynomials (Cephes' sinf/cosf coefficients) give sin and cos; the quadrant q picks which.
const TWO_PI_C1: f32 = 6.28125;
const TWO_PI_C2: f32 = 0.00193023681640625;
const TWO_PI_C3: f32 = 5.070363179981996e-6;
const INV_TWO_PI: f32 = 0.15915494309189535;
const HALF_PI_C1: f32 = 1.5703125;
const HALF_PI_C2: f32 = 4.8382679489661923e-4;
const TWO_OVER_PI: f32 = 0.6366197723675814;

fn rope_cos_sin(angle: f32) -> vec2<f32> {
  let k = round(angle * INV_TWO_PI);
  let r = ((angle - k * TWO_PI_C1) - k * TWO_PI_C2) - k * TWO_PI_C3;
  let qf = round(r * TWO_OVER_PI);
  let y = (r - qf * HALF_PI_C1) - qf * HALF_PI_C2;
  let z = y * y;
  let s = y + y * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch ((i32(qf) + 4) % 4) {
    case 1: {
      return vec2<f32>(-s, c);
    }
    case 2: {
      return vec2<f32>(-c, -s);
    }
    case 3: {
      return vec2<f32>(s, -c);
    }
    default: {
      return vec2<f32>(c, s);
    }
  }
}

// Offsets in the head of the two dims of pair i.
fn rope_pair(i: u32, halfRot: u32, neox: u32) -> vec2<u32> {
  if (neox != 0u) {
    return vec2<u32>(i, i + halfRot);
  }
  return vec2<u32>(2u * i, 2u * i + 1u);
}

fn rope_rotate(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}
