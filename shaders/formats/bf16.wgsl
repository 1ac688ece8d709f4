// BF16: two elements per word, the first in the low half; each is the top half of an f32 (src/engine/formats/bf16.ts).

fn w_chunk(row: u32, j: u32) -> array<vec4<f32>, 8> {
  var c: array<vec4<f32>, 8>;
  let o = row + j * 16u;
  for (var i = 0u; i < 8u; i++) {
    let a = w[o + 2u * i];
    let b = w[o + 2u * i + 1u];
    c[i] = bitcast<vec4<f32>>(vec4<u32>(a << 16u, a & 0xffff0000u, b << 16u, b & 0xffff0000u));
  }
  return c;
}

fn w_elem(row: u32, k: u32) -> f32 {
  return bitcast<f32>((w[row + (k >> 1u)] << (16u - (k & 1u) * 16u)) & 0xffff0000u);
}
