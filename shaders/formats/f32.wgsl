// F32: one element per word (src/engine/formats/f32.ts).

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let q = row + j * 32u + i * 4u;
  return bitcast<vec4<f32>>(vec4<u32>(w[q], w[q + 1u], w[q + 2u], w[q + 3u]));
}

fn w_elem(row: u32, k: u32) -> f32 {
  return bitcast<f32>(w[row + k]);
}
