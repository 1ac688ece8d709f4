// Q5_K (src/engine/formats/q5_k.ts): super-blocks of 256 in 8 sub-blocks of 32, x = d * scale * q - dmin * min. GPU
// block of 44 words (the file's layout): word 0 holds the f16 d (low half) and dmin (high half), words 1..3 the packed
// 6-bit scales and mins (fmt_k4_scale_min), words 4..11 the 32 bytes qh, words 12..43 the 128 bytes qs. Sub-block s
// (one chunk): low 4 bits from the low (s even) or high (s odd) nibbles of words 12 + 8 (s / 2) .. + 7, bit 4 of its
// element l is bit s of qh byte l.

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + (j >> 3u) * 44u;
  let s = j & 7u;
  let dm = unpack2x16float(w[o]);
  let sm = fmt_k4_scale_min(o + 1u, s);
  let q = w[o + 12u + (s >> 1u) * 8u + i] >> ((s & 1u) * 4u);
  return (dm.x * f32(sm.x)) * vec4<f32>(fmt_lo4x4(q) | fmt_bytebit4x16(w[o + 4u + i], s)) - dm.y * f32(sm.y);
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 8u) * 44u;
  let s = (k >> 5u) & 7u;
  let l = k & 31u;
  let lo = (w[o + 12u + (s >> 1u) * 8u + (l >> 2u)] >> ((l & 3u) * 8u + (s & 1u) * 4u)) & 0xfu;
  let q = lo | (((w[o + 4u + (l >> 2u)] >> ((l & 3u) * 8u + s)) & 1u) << 4u);
  let dm = unpack2x16float(w[o]);
  let sm = fmt_k4_scale_min(o + 1u, s);
  return dm.x * f32(sm.x) * f32(q) - dm.y * f32(sm.y);
}
