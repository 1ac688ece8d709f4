// Helpers shared by the format decoders in this folder (prepended before a format's file; see
// src/engine/formats/format.ts for the contract), and w_chunk, built from the format's w_quad. They read the weights
// binding `w: array<u32>` that the kernel declares.

// The 4 bytes of word v as signed 8-bit integers, byte 0 first.
fn fmt_i8x4(v: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// The 4 bytes of word v as unsigned integers, byte 0 first.
fn fmt_u8x4(v: u32) -> vec4<u32> {
  return (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// Byte b (0-based, from word `base`) of the weights, for layouts whose fields are not word-sized.
fn fmt_byte(base: u32, b: u32) -> u32 {
  return (w[base + (b >> 2u)] >> ((b & 3u) * 8u)) & 0xffu;
}

// The f16 in the low half of word i.
fn fmt_f16lo(i: u32) -> f32 {
  return unpack2x16float(w[i]).x;
}

// The f16 in the high half of word i.
fn fmt_f16hi(i: u32) -> f32 {
  return unpack2x16float(w[i]).y;
}

// The low nibbles of the 4 bytes of word v, byte 0 first.
fn fmt_lo4x4(v: u32) -> vec4<u32> {
  return (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xfu);
}

// The high nibbles of the 4 bytes of word v, byte 0 first.
fn fmt_hi4x4(v: u32) -> vec4<u32> {
  return (vec4<u32>(v) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(0xfu);
}

// Bits b, b + 1, b + 2, b + 3 of v (b <= 28), each as 0 or 16: the fifth bit of 5-bit quants.
fn fmt_bits4x16(v: u32, b: u32) -> vec4<u32> {
  return ((vec4<u32>(v >> b) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(4u);
}

// Bit b of byte 0, 1, 2, 3 of v (b < 8), each as 0 or 16: the fifth bit of Q5_K quants.
fn fmt_bytebit4x16(v: u32, b: u32) -> vec4<u32> {
  return ((vec4<u32>(v >> b) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(1u)) << vec4<u32>(4u);
}

// The 6-bit scale (x) and min (y) of sub-block j (0..7) of a Q4_K or Q5_K super-block, from its 12 scale bytes in
// words base .. base + 2 (ggml's get_scale_min_k4): sub-blocks 0..3 in the low 6 bits of bytes j and j + 4; 4..7 in
// the nibbles of byte j + 4 with the top 2 bits of bytes j - 4 and j as their high bits.
fn fmt_k4_scale_min(base: u32, j: u32) -> vec2<u32> {
  let sh = (j & 3u) * 8u;
  let a = w[base] >> sh;
  let b = w[base + 1u] >> sh;
  if (j < 4u) {
    return vec2<u32>(a & 63u, b & 63u);
  }
  let c = w[base + 2u] >> sh;
  return vec2<u32>((c & 0xfu) | (((a >> 6u) & 3u) << 4u), ((c >> 4u) & 0xfu) | (((b >> 6u) & 3u) << 4u));
}

// Elements 32j .. 32j + 31 of the row at word `row`: the chunk's 8 quads (the decoder's per-chunk work, such as reading
// a scale, is the same expression in each quad, which the shader compiler computes once).
fn w_chunk(row: u32, j: u32) -> array<vec4<f32>, 8> {
  return array<vec4<f32>, 8>(w_quad(row, j, 0u), w_quad(row, j, 1u), w_quad(row, j, 2u), w_quad(row, j, 3u),
                             w_quad(row, j, 4u), w_quad(row, j, 5u), w_quad(row, j, 6u), w_quad(row, j, 7u));
}
