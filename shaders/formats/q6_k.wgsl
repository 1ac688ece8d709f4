// Q6_K (src/engine/formats/q6_k.ts): super-blocks of 256 in 16 sub-blocks of 16, x = d * scale * (q - 32). GPU block of
// 53 words: words 0..31 the 128 bytes ql, words 32..47 the 64 bytes qh, words 48..51 the 16 int8 scales, word 52 the
// f16 d in its low half (2 pad bytes after it). Chunk s = 4h + t (h = half, t = 0..3): low 4 bits from the low (t < 2)
// or high (t >= 2) nibbles of words 16h + 8 (t & 1) .. + 7, high 2 bits from bits 2t, 2t + 1 of the bytes of words
// 32 + 8h .. + 7, scales 8h + 2t (elements 0..15) and 8h + 2t + 1 (16..31).

// Bits b, b + 1 of byte 0, 1, 2, 3 of v (b < 7), shifted to bits 4, 5.
fn q6k_hi2x4(v: u32, b: u32) -> vec4<u32> {
  return ((vec4<u32>(v >> b) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(3u)) << vec4<u32>(4u);
}

fn w_quad(row: u32, j: u32, i: u32) -> vec4<f32> {
  let o = row + (j >> 3u) * 53u;
  let s = j & 7u;
  let h = s >> 2u;
  let t = s & 3u;
  // the scale of elements 0..15 of the chunk (quads 0..3) is byte 8h + 2t of the scales, of 16..31 the next byte
  let sc = w[o + 48u + 2u * h + (t >> 1u)] >> ((t & 1u) * 16u + (i >> 2u) * 8u);
  let q = fmt_lo4x4(w[o + 16u * h + 8u * (t & 1u) + i] >> ((t >> 1u) * 4u)) | q6k_hi2x4(w[o + 32u + 8u * h + i], 2u * t);
  return (fmt_f16lo(o + 52u) * f32(bitcast<i32>(sc << 24u) >> 24u)) * (vec4<f32>(q) - 32.0);
}

fn w_elem(row: u32, k: u32) -> f32 {
  let o = row + (k >> 8u) * 53u;
  let s = (k >> 5u) & 7u;
  let h = s >> 2u;
  let t = s & 3u;
  let l = k & 31u;
  let lo = (w[o + 16u * h + 8u * (t & 1u) + (l >> 2u)] >> ((l & 3u) * 8u + (t >> 1u) * 4u)) & 0xfu;
  let hi = (w[o + 32u + 8u * h + (l >> 2u)] >> ((l & 3u) * 8u + 2u * t)) & 3u;
  let sc = f32(bitcast<i32>(fmt_byte(o, 192u + 8u * h + 2u * t + (l >> 4u)) << 24u) >> 24u);
  return (fmt_f16lo(o + 52u) * sc) * (f32(lo | (hi << 4u)) - 32.0);
}
