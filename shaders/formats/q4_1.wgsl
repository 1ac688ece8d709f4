// Q4_1 (src/engine/formats/q4_1.ts): blocks of 32, x = d * q + m. GPU block of 5 words: word 0 holds the f16 d (low
// half) and m (high half), words 1..4 the 16 bytes qs; elements 4i .. 4i + 3 are the low nibbles of word 1 + i,
// elements 16 + 4i .. 16 + 4i + 3 its high nibbles.

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + j * 5u;
  let dm = unpack2x16float(w[o]);
  let v = w[o + 1u + (i & 3u)] >> ((i >> 2u) * 4u);
  return dm.x * vec4<f32>(fmt_lo4x4(v)) + dm.y;
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 5u) * 5u;
  let e = k & 31u;
  let l = e & 15u;
  let q = (w[o + 1u + (l >> 2u)] >> ((l & 3u) * 8u + (e >> 4u) * 4u)) & 0xfu;
  let dm = unpack2x16float(w[o]);
  return dm.x * f32(q) + dm.y;
}
