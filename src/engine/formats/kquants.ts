// Shared by Q4_K and Q5_K: the 6-bit scales and mins of a super-block's 8 sub-blocks (ggml's get_scale_min_k4).

/**
 * Scale and min of sub-block j (0..7) from the 12 scale bytes at `at`: sub-blocks 0..3 in the low 6 bits of bytes j
 * and j + 4; sub-blocks 4..7 in the low and high nibble of byte j + 4, with the top 2 bits of bytes j - 4 and j above.
 */
export function scaleMinK4(raw: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [raw[at + j]! & 63, raw[at + j + 4]! & 63];
  const lo = raw[at + j + 4]!;
  return [(lo & 0xf) | ((raw[at + j - 4]! >> 6) << 4), (lo >> 4) | ((raw[at + j]! >> 6) << 4)];
}
