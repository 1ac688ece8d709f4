// Q4_K (src/engine/formats/q4_k.ts): super-blocks of 256 in 8 sub-blocks of 32, x = d * scale * q - dmin * min. GPU
// block of 36 words (the file's layout): word 0 holds the f16 d (low half) and dmin (high half), words 1..3 the packed
// 6-bit scales and mins (fmt_k4_scale_min), words 4..35 the 128 bytes qs; sub-block s (one chunk) is the low (s even)
// or high (s odd) nibbles of words 4 + 8 (s / 2) .. + 7.

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + (j >> 3u) * 36u;
  let s = j & 7u;
  let dm = unpack2x16float(w[o]);
  let sm = fmt_k4_scale_min(o + 1u, s);
  let q = w[o + 4u + (s >> 1u) * 8u + i] >> ((s & 1u) * 4u);
  return (dm.x * f32(sm.x)) * vec4<f32>(fmt_lo4x4(q)) - dm.y * f32(sm.y);
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 8u) * 36u;
  let s = (k >> 5u) & 7u;
  let l = k & 31u;
  let q = (w[o + 4u + (s >> 1u) * 8u + (l >> 2u)] >> ((l & 3u) * 8u + (s & 1u) * 4u)) & 0xfu;
  let dm = unpack2x16float(w[o]);
  let sm = fmt_k4_scale_min(o + 1u, s);
  return dm.x * f32(sm.x) * f32(q) - dm.y * f32(sm.y);
}
