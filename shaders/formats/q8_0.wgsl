// Q8_0 (src/engine/formats/q8_0.ts): blocks of 32, x = d * q. GPU block of 9 words: word 0 holds the f16 scale d in its
// low half (2 pad bytes after it), words 1..8 the 32 int8 q, 4 per word, element 0 in the low byte.

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + j * 9u;
  return fmt_f16lo(o) * fmt_i8x4(w[o + 1u + i]);
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 5u) * 9u;
  return fmt_f16lo(o) * fmt_i8x4(w[o + 1u + ((k & 31u) >> 2u)])[k & 3u];
}
