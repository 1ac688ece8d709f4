// F16: two elements per word, the first in the low half (src/engine/formats/f16.ts).

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + j * 16u + 2u * i;
  return vec4<f32>(unpack2x16float(w[o]), unpack2x16float(w[o + 1u]));
}

fn w_elem(row: u32, k: u32) -> f32 {
  return unpack2x16float(w[row + (k >> 1u)])[k & 1u];
}
