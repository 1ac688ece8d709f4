// IEEE half and bfloat16 to f32 on the CPU (the GPU uses WGSL's unpack2x16float and a shift).

/** IEEE half (bits in the low 16 of `h`) to a number: exact, including subnormals, infinities and NaN. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));

/** bfloat16 (bits in the low 16 of `h`) to a number: the top half of an f32. */
export function bf16ToF32(h: number): number {
  bf16Scratch.setUint32(0, (h & 0xffff) << 16);
  return bf16Scratch.getFloat32(0);
}

/** The little-endian f16 at byte `at` of `raw`. */
export function f16At(raw: Uint8Array, at: number): number {
  return f16ToF32(raw[at]! | (raw[at + 1]! << 8));
}
