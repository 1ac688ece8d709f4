// y (tokens, N) = x (tokens, K) · wᵀ with w (N, K) row-major in any tensor format; with accumulate, y += that.
// The wrapper prepends the format's decoder (shaders/formats/: w_chunk, w_elem over `w`; src/engine/formats/format.ts),
// so this body is written once for every format.
//
// Barrier-free (CPU drivers punish barriers): each invocation owns a register tile of TT tokens × TR weight rows and
// runs the whole K loop, 32 elements (one chunk) at a time, each row's chunk decoded once per tile. Neighbouring
// invocations take neighbouring row tiles of the same token tile. TT = 1 is the decode shape (matrix-vector), TT = 4
// the prefill shape. Rows whose length is not a multiple of 32 (element formats only) end with an element-wise tail.
//
// Accumulators: a_r (r < TR) is a vec4. With TT = 4, a_r[j] is the dot product of row r with token j's x. With TT = 1,
// a_r holds four partial sums of row r with token 0 (summed at the end).
//
// Declarations and the dot-product helpers are in matmul_common.wgsl, which the wrapper prepends.
//
// The weights may be bound in row ranges (a matrix over the largest storage binding): weight row 0 of this binding is
// column col0 of y, and y rows are ldy long.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rowTiles = (params.N + TR - 1u) / TR;
  let tokenTiles = (params.tokens + TT - 1u) / TT;
  let tile = (wid.x + wid.y * nwg.x) * WG + lid;
  if (tile >= rowTiles * tokenTiles) {
    return;
  }
  let K = params.K;
  let n0 = (tile % rowTiles) * TR;
  let t0 = (tile / rowTiles) * TT;
  // Rows and tokens past the end read the last valid one and are not stored: no branches in the loops.
  let rows = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.N - 1u)) * params.rowWords;
  let toks = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.tokens - 1u));
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);

  let chunks = K >> 5u;
  for (var j = 0u; j < chunks; j++) {
    if (TT == 1u) {
      // decode: one row's chunk at a time against the token's 32 x values
      let k = j << 5u;
      a0 += dot_chunk(w_chunk(rows.x, j), toks, k);
      if (TR > 1u) { a1 += dot_chunk(w_chunk(rows.y, j), toks, k); }
      if (TR > 2u) { a2 += dot_chunk(w_chunk(rows.z, j), toks, k); }
      if (TR > 3u) { a3 += dot_chunk(w_chunk(rows.w, j), toks, k); }
    } else {
      // prefill: 4 elements at a time, the 4 tokens' x loaded once for the TR rows (fewer live values and x loads
      // than a whole chunk per row: 1.7-2x faster on lavapipe)
      for (var i = 0u; i < 8u; i++) {
        let xv = xm(toks, (j << 5u) + 4u * i);
        a0 += w_quad(rows.x, j, i) * xv;
        if (TR > 1u) { a1 += w_quad(rows.y, j, i) * xv; }
        if (TR > 2u) { a2 += w_quad(rows.z, j, i) * xv; }
        if (TR > 3u) { a3 += w_quad(rows.w, j, i) * xv; }
      }
    }
  }
  for (var k = chunks << 5u; k < K; k++) {
    a0 += dot_elem(w_elem(rows.x, k), toks, k);
    if (TR > 1u) { a1 += dot_elem(w_elem(rows.y, k), toks, k); }
    if (TR > 2u) { a2 += dot_elem(w_elem(rows.z, k), toks, k); }
    if (TR > 3u) { a3 += dot_elem(w_elem(rows.w, k), toks, k); }
  }

  for (var j = 0u; j < TT; j++) {
    store(t0 + j, n0, result(a0, j));
    if (TR > 1u) { store(t0 + j, n0 + 1u, result(a1, j)); }
    if (TR > 2u) { store(t0 + j, n0 + 2u, result(a2, j)); }
    if (TR > 3u) { store(t0 + j, n0 + 3u, result(a3, j)); }
  }
}
