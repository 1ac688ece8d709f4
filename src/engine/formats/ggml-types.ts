// ggml's tensor type ids and their block traits: they belong to the tensor formats (the registry in index.ts names the
// ones the engine decodes); the GGUF reader (model/gguf.ts) imports them from here to check a file's tensors.

/** ggml tensor types (ggml.h `enum ggml_type`). Ids 4, 5, 31-33 and 36-38 were removed from ggml. */
export enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
}

/** [elements per block, bytes per block] for every type ggml can store (checked against ggml's own type traits). */
const TYPE_TRAITS: ReadonlyMap<number, readonly [number, number]> = new Map<number, readonly [number, number]>([
  [GGMLType.F32, [1, 4]],
  [GGMLType.F16, [1, 2]],
  [GGMLType.Q4_0, [32, 18]],
  [GGMLType.Q4_1, [32, 20]],
  [GGMLType.Q5_0, [32, 22]],
  [GGMLType.Q5_1, [32, 24]],
  [GGMLType.Q8_0, [32, 34]],
  [GGMLType.Q8_1, [32, 36]],
  [GGMLType.Q2_K, [256, 84]],
  [GGMLType.Q3_K, [256, 110]],
  [GGMLType.Q4_K, [256, 144]],
  [GGMLType.Q5_K, [256, 176]],
  [GGMLType.Q6_K, [256, 210]],
  [GGMLType.Q8_K, [256, 292]],
  [GGMLType.IQ2_XXS, [256, 66]],
  [GGMLType.IQ2_XS, [256, 74]],
  [GGMLType.IQ3_XXS, [256, 98]],
  [GGMLType.IQ1_S, [256, 50]],
  [GGMLType.IQ4_NL, [32, 18]],
  [GGMLType.IQ3_S, [256, 110]],
  [GGMLType.IQ2_S, [256, 82]],
  [GGMLType.IQ4_XS, [256, 136]],
  [GGMLType.I8, [1, 1]],
  [GGMLType.I16, [1, 2]],
  [GGMLType.I32, [1, 4]],
  [GGMLType.I64, [1, 8]],
  [GGMLType.F64, [1, 8]],
  [GGMLType.IQ1_M, [256, 56]],
  [GGMLType.BF16, [1, 2]],
  [GGMLType.TQ1_0, [256, 54]],
  [GGMLType.TQ2_0, [256, 66]],
  [GGMLType.MXFP4, [32, 17]],
  [GGMLType.NVFP4, [64, 36]],
  [GGMLType.Q1_0, [128, 18]],
  [GGMLType.Q2_0, [64, 18]],
]);

/** Ids ggml removed, by their old names. */
export const REMOVED_TYPES: ReadonlyMap<number, string> = new Map([
  [4, 'Q4_2'],
  [5, 'Q4_3'],
  [31, 'Q4_0_4_4'],
  [32, 'Q4_0_4_8'],
  [33, 'Q4_0_8_8'],
  [36, 'IQ4_NL_4_4'],
  [37, 'IQ4_NL_4_8'],
  [38, 'IQ4_NL_8_8'],
]);

/** "Q4_K" for a known type, "unknown type 99" otherwise. */
export function ggmlTypeName(t: number): string {
  return TYPE_TRAITS.has(t) ? (GGMLType[t] as string) : `unknown type ${t}`;
}

/** Elements per block and bytes per block of a ggml type, or undefined for an unknown id. */
export function ggmlTypeTraits(t: number): { blockSize: number; typeSize: number } | undefined {
  const tr = TYPE_TRAITS.get(t);
  return tr && { blockSize: tr[0], typeSize: tr[1] };
}
