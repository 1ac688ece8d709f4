// Q4_0 (src/engine/formats/q4_0.ts): blocks of 32, x = d * (q - 8). GPU block of 5 words: word 0 holds the f16 scale d
// in its low half (2 pad bytes after it), words 1..4 the 16 bytes qs; elements 4i .. 4i + 3 are the low nibbles of
// word 1 + i, elements 16 + 4i .. 16 + 4i + 3 its high nibbles.

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + j * 5u;
  let v = w[o + 1u + (i & 3u)] >> ((i >> 2u) * 4u);
  return fmt_f16lo(o) * (vec4<f32>(fmt_lo4x4(v)) - 8.0);
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 5u) * 5u;
  let e = k & 31u;
  let l = e & 15u;
  let q = (w[o + 1u + (l >> 2u)] >> ((l & 3u) * 8u + (e >> 4u) * 4u)) & 0xfu;
  return fmt_f16lo(o) * (f32(q) - 8.0);
}
