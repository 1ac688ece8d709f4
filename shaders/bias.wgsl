// Bias add, in place: y[r, i] += bias[i] (the biases of the linear layers: q/k/v/o, ffn up/down).
// No barriers, no integer division: a 2D grid-stride loop. Workgroups along x stride over the columns of a row (so
// neighbouring invocations touch neighbouring elements), workgroups along y over the rows; the host bounds both counts
// (as swiglu.wgsl does), so no count ever nears the 65535 limit whatever rows and n are.

struct Params {
  rows: u32, // number of rows (tokens)
  n: u32,    // row length (output features)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>; // (rows, n), updated in place
@group(0) @binding(2) var<storage, read> bias: array<f32>;    // (n)

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = nwg.x * WG;
  for (var r = wid.y; r < params.rows; r += nwg.y) {
    let base = r * params.n;
    for (var i = wid.x * WG + lid; i < params.n; i += T) {
      y[base + i] += bias[i];
    }
  }
}
