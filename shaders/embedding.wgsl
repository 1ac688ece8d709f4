// Embedding lookup: out[t, c] = table[ids[t], c], dequantized to f32 from any tensor format (the wrapper prepends the
// format's decoder, shaders/formats/; src/engine/formats/format.ts).
// One workgroup per token (a 2D grid past 65535 tokens), its invocations striding over the row's 32-element chunks
// (then over the element-wise tail of a row whose length is not a multiple of 32); no barriers. The token, and so its
// id, is uniform in the workgroup.
// The table may be bound in row ranges (one dispatch per range, see weightRowChunks): a dispatch writes only the
// tokens whose id falls in its range [row0, row0 + rows).

struct Params {
  tokens: u32,   // rows of out (entries of ids)
  cols: u32,     // row length of the table and of out
  row0: u32,     // table row that row 0 of this binding holds
  rows: u32,     // table rows in this binding
  rowWords: u32, // u32 words per table row in the format's GPU layout
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;       // (tokens)
@group(0) @binding(2) var<storage, read> w: array<u32>;         // (rows, rowWords): the format's GPU layout
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (tokens, cols)

override WG: u32 = 64;

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
  let row = r * params.rowWords;
  let o = t * params.cols;
  let chunks = params.cols >> 5u;
  for (var j = lid; j < chunks; j += WG) {
    let c = w_chunk(row, j);
    for (var i = 0u; i < 8u; i++) {
      let e = o + (j << 5u) + 4u * i;
      out[e] = c[i].x;
      out[e + 1u] = c[i].y;
      out[e + 2u] = c[i].z;
      out[e + 3u] = c[i].w;
    }
  }
  for (var k = (chunks << 5u) + lid; k < params.cols; k += WG) {
    out[o + k] = w_elem(row, k);
  }
}
