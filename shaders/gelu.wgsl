// GELU, tanh approximation (ggml_gelu): out[i] = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), x = x[i].
// No barriers; the grid-stride loop of swiglu.wgsl (a bounded number of workgroups whatever n is).
//
// Computed as x / (1 + exp(-2u)), the same number (1 + tanh(u) = 2 / (1 + exp(-2u))), without tanh: WGSL's tanh of a
// large argument may be NaN or inaccurate on some drivers, and 1 + tanh(u) cancels for x < 0 (u = -8 leaves 2e-7, a
// few ulp of tanh's -1). exp only ever sees -2|u| (u has the sign of x), so it never overflows; for x < 0,
// x / (1 + 1/e) = x * e / (1 + e) with e = exp(2u) in (0, 1], as silu in swiglu.wgsl. x is clamped to +-20 inside u
// only: there exp(-2|u|) = exp(-602) is 0 in f32 already (out = x, or -0), and x^3 cannot overflow for any input.
//
// ggml's CPU backend does not evaluate this formula for f32 (ggml-cpu/vec.h defines GGML_GELU_FP16 unconditionally):
// x <= -10 gives +0, x >= 10 gives x, and anything else is rounded to f16 and looked up in a 65536-entry f16 table of
// f16(gelu_f32(v)) over every f16 v (ggml_table_gelu_f16, filled by ggml_cpu_init; gelu_f32 is the formula with tanhf).
// Both x and the result so carry f16's 11 significant bits. Against the exact formula: up to 1.0e-3 relative for
// x >= 0 and 1.3e-3 for x in [-2, 0), growing in the negative tail where the slope amplifies the rounding of x (5.6e-3
// at x = -4); below x = -4.03 the result is an f16 subnormal and below -5.16 it is 0 (absolute error under 7e-7 there,
// relative up to 100%). Largest absolute error 3.9e-3, just above x = 8 (f16's spacing there is 7.8e-3); normalised
// error over randn inputs 3.4e-4. This kernel computes the formula itself in f32 (a few ulp), not the table.

struct Params {
  n: u32, // elements
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (n)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (n)

override WG: u32 = 256u;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_COEF_A: f32 = 0.044715;

fn gelu(v: f32) -> f32 {
  let c = clamp(v, -20.0, 20.0);
  let u = SQRT_2_OVER_PI * c * (1.0 + GELU_COEF_A * c * c);
  let e = exp(-2.0 * abs(u));
  return select(v * e, v, v >= 0.0) / (1.0 + e);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = nwg.x * WG;
  for (var i = wid.x * WG + lid; i < params.n; i += T) {
    out[i] = gelu(x[i]);
  }
}
