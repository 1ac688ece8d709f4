// BF16: two elements per word, the first in the low half; each is the top half of an f32 (src/engine/formats/bf16.ts).

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + j * 16u + 2u * i;
  let a = w[o];
  let b = w[o + 1u];
  return bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
}

fn w_elem(row: u32, k: u32) -> f32 {
  return bitcast<f32>((w[row + (k >> 1u)] << (16u - (k & 1u) * 16u)) & 0xffff0000u);
}
