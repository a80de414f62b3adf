/**
 * Products into gradients, for the ops' backward passes (speed code: see scripts/lines.mjs). It sits
 * in a file of its own because it reads both a Tensor and the step arena, and tensor.ts already
 * imports the arena: here neither imports the other back.
 */
import { allocUnfilled } from "./arena.js";
import { kernels, type GemmOpts } from "./kernels/index.js";
import type { Tensor } from "./tensor.js";

/**
 * gemm(a, b) added into t's gradient. An intermediate's first contribution in a backward pass
 * overwrites a buffer taken unfilled instead of adding into zeros; every later one adds, and so does
 * every leaf's (leaves keep their gradients across backward calls).
 */
export function gemmIntoGrad(t: Tensor, a: Float32Array, b: Float32Array, m: number, n: number, k: number, o: GemmOpts = {}): void {
  const first = t.grad === null && t.node !== null && !t.sparse;
  if (first) t.grad = allocUnfilled(t.size);
  kernels.gemm(t.gradBuffer(), a, b, m, n, k, { ...o, accumulate: !first });
}
