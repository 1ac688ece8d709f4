// F16: two elements per word, the first in the low half (src/engine/formats/f16.ts).

fn w_chunk(row: u32, j: u32) -> array<vec4<f32>, 8> {
  var c: array<vec4<f32>, 8>;
  let o = row + j * 16u;
  for (var i = 0u; i < 8u; i++) {
    c[i] = vec4<f32>(unpack2x16float(w[o + 2u * i]), unpack2x16float(w[o + 2u * i + 1u]));
  }
  return c;
}

fn w_elem(row: u32, k: u32) -> f32 {
  return unpack2x16float(w[row + (k >> 1u)])[k & 1u];
}
