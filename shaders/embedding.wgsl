// Embedding lookup: out[t, c] = table[ids[t], c], dequantized to f32 from f32, f16 or q8_0 (layouts as in matmul.wgsl).
// One workgroup per token (a 2D grid past 65535 tokens), its invocations striding over the columns; no barriers. The
// token, and so its id, is uniform in the workgroup: one id load and no integer division per element (on lavapipe one
// invocation per element was 3 ms for 512 tokens of 288 columns: per-invocation overhead and a u32 division each).
// The table may be bound in row ranges (one dispatch per range, see weightRowChunks): a dispatch writes only the
// tokens whose id falls in its range [row0, row0 + rows).

struct Params {
  tokens: u32, // rows of out (entries of ids)
  cols: u32,   // row length of the table and of out
  row0: u32,   // table row that row 0 of this binding holds
  rows: u32,   // table rows in this binding
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;       // (tokens)
@group(0) @binding(2) var<storage, read> table: array<u32>;     // (rows, cols): f32 bits | f16 pairs | q8_0 int8 quads
@group(0) @binding(3) var<storage, read> scales: array<f32>;    // (rows, cols / 32) q8_0 block scales; a dummy otherwise
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // (tokens, cols)

override WTYPE: u32 = 0u; // 0 f32, 1 f16, 2 q8_0
override WG: u32 = 64u;

// Element e (flat index) of this binding of the table.
fn element(e: u32) -> f32 {
  if (WTYPE == 0u) {
    return bitcast<f32>(table[e]);
  }
  if (WTYPE == 1u) {
    return unpack2x16float(table[e >> 1u])[e & 1u];
  }
  // Byte e & 3 of the word, sign-extended.
  let q = bitcast<i32>(table[e >> 2u] << (24u - (e & 3u) * 8u)) >> 24u;
  return f32(q) * scales[e >> 5u];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.tokens) {
    return;
  }
  // Unsigned: ids below row0 wrap around to large values and fail the test too.
  let r = ids[t] - params.row0;
  if (r >= params.rows) {
    return;
  }
  for (var c = lid; c < params.cols; c += WG) {
    out[t * params.cols + c] = element(r * params.cols + c);
  }
}
