enable subgroups;
diagnostic(off, subgroup_uniformity);

// y (tokens, N) = x (tokens, K) · wᵀ, the subgroup variant of matmul.wgsl (same bindings, uniforms and overrides, and
// the same format decoder prepended by the wrapper): the lanes of one subgroup share a tile of TT tokens × TR weight
// rows and split the row between them, a 32-element chunk each in turn, so that neighbouring lanes read neighbouring
// blocks of w (where matmul.wgsl's lanes read rows apart); each tile ends with one subgroupAdd per output. No workgroup
// barriers. Declarations and the dot-product helpers are in matmul_common.wgsl, which the wrapper prepends.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) S: u32) {
  let rowTiles = (params.N + TR - 1u) / TR;
  let tokenTiles = (params.tokens + TT - 1u) / TT;
  // Subgroup number lid / S: WGSL does not promise that a subgroup holds consecutive local indices, but drivers lay
  // 1D workgroups out that way in practice (lavapipe and SwiftShader do: the tests cover both). The tile, and so the
  // early return below, is then uniform in each subgroup, as subgroupAdd needs.
  let tile = (wid.x + wid.y * nwg.x) * (WG / S) + lid / S;
  if (tile >= rowTiles * tokenTiles) {
    return;
  }
  let K = params.K;
  let n0 = (tile % rowTiles) * TR;
  let t0 = (tile / rowTiles) * TT;
  let rows = min(vec4<u32>(n0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.N - 1u)) * params.rowWords;
  let toks = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.tokens - 1u));
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  let chunks = K >> 5u;
  for (var j = lane; j < chunks; j += S) {
    let k = j << 5u;
    a0 += dot_chunk(w_chunk(rows.x, j), toks, k);
    if (TR > 1u) { a1 += dot_chunk(w_chunk(rows.y, j), toks, k); }
    if (TR > 2u) { a2 += dot_chunk(w_chunk(rows.z, j), toks, k); }
    if (TR > 3u) { a3 += dot_chunk(w_chunk(rows.w, j), toks, k); }
  }
  for (var k = (chunks << 5u) + lane; k < K; k += S) {
    a0 += dot_elem(w_elem(rows.x, k), toks, k);
    if (TR > 1u) { a1 += dot_elem(w_elem(rows.y, k), toks, k); }
    if (TR > 2u) { a2 += dot_elem(w_elem(rows.z, k), toks, k); }
    if (TR > 3u) { a3 += dot_elem(w_elem(rows.w, k), toks, k); }
  }
  a0 = subgroupAdd(a0);
  if (TR > 1u) { a1 = subgroupAdd(a1); }
  if (TR > 2u) { a2 = subgroupAdd(a2); }
  if (TR > 3u) { a3 = subgroupAdd(a3); }
  if (lane == 0u) {
    for (var j = 0u; j < TT; j++) {
      store(t0 + j, n0, result(a0, j));
      if (TR > 1u) { store(t0 + j, n0 + 1u, result(a1, j)); }
      if (TR > 2u) { store(t0 + j, n0 + 2u, result(a2, j)); }
      if (TR > 3u) { store(t0 + j, n0 + 3u, result(a3, j)); }
    }
  }
}
