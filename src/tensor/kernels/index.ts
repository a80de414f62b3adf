export type { AdamHyper, GemmOpts, Kernels } from "./types.js";
export { naiveKernels, sigmoidScalar } from "./naive.js";
export { fastKernels } from "./fast.js";
import { fastKernels } from "./fast.js";
import type { Kernels } from "./types.js";

/**
 * The kernel set every op calls. It starts as the fast set; `useKernels(naiveKernels)` swaps it, which
 * is how benchmarks compare implementations end to end and how a reader can step through plain loops.
 */
export let kernels: Kernels = fastKernels;

export function useKernels(k: Kernels): void {
  kernels = k;
}
