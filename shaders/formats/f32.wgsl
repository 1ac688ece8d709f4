// F32: one element per word (src/engine/formats/f32.ts).

fn w_chunk(row: u32, j: u32) -> array<vec4<f32>, 8> {
  var c: array<vec4<f32>, 8>;
  let o = row + j * 32u;
  for (var i = 0u; i < 8u; i++) {
    let q = o + i * 4u;
    c[i] = bitcast<vec4<f32>>(vec4<u32>(w[q], w[q + 1u], w[q + 2u], w[q + 3u]));
  }
  return c;
}

fn w_elem(row: u32, k: u32) -> f32 {
  return bitcast<f32>(w[row + k]);
}
