// Q5_1 (src/engine/formats/q5_1.ts): blocks of 32, x = d * q + m. GPU block of 6 words: word 0 holds the f16 d (low
// half) and m (high half), word 1 qh (bit e is bit 4 of element e), words 2..5 the 16 bytes qs; elements 4i .. 4i + 3
// are the low nibbles of word 2 + i, elements 16 + 4i .. 16 + 4i + 3 its high nibbles.

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + j * 6u;
  let dm = unpack2x16float(w[o]);
  let v = w[o + 2u + (i & 3u)] >> ((i >> 2u) * 4u);
  return dm.x * vec4<f32>(fmt_lo4x4(v) | fmt_bits4x16(w[o + 1u], 4u * i)) + dm.y;
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 5u) * 6u;
  let e = k & 31u;
  let l = e & 15u;
  let lo = (w[o + 2u + (l >> 2u)] >> ((l & 3u) * 8u + (e >> 4u) * 4u)) & 0xfu;
  let q = lo | (((w[o + 1u] >> e) & 1u) << 4u);
  let dm = unpack2x16float(w[o]);
  return dm.x * f32(q) + dm.y;
}
