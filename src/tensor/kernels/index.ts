export type { AdamHyper, BinaryOp, GemmOpts, Kernels, UnaryOp } from "./types.js";
export { naiveKernels, sigmoidScalar, softplusScalar } from "./naive.js";
export { fastKernels } from "./fast.js";
export { wasmKernels, wasmKernelsAllSimd, wasmSimdSupported, gemmModuleBytes, wasmWarmup } from "./wasm.js";
import { fastKernels } from "./fast.js";
import { naiveKernels } from "./naive.js";
import type { Kernels } from "./types.js";
import { wasmKernels, wasmSimdSupported } from "./wasm.js";

/**
 * A backend is one kernel set; every op calls whichever is current:
 *  - "naive": the obvious loops, the oracle every other set is tested against;
 *  - "ts":    the fast TypeScript kernels (packed, register-tiled, fused; bit-identical to naive);
 *  - "wasm":  the ts set with gemm as WebAssembly SIMD, emitted by our module builder (float32
 *             accumulation: within float32 rounding of naive, not bit-identical).
 * The default is "wasm" where WebAssembly.validate accepts SIMD128, else "ts".
 */
export type BackendName = "naive" | "ts" | "wasm";
export const BACKENDS: readonly BackendName[] = ["naive", "ts", "wasm"];

const SETS: Record<BackendName, Kernels> = { naive: naiveKernels, ts: fastKernels, wasm: wasmKernels };

export let kernels: Kernels = wasmSimdSupported() ? wasmKernels : fastKernels;

/** Swaps the kernel set directly (benchmarks, a reader stepping through plain loops). */
export function useKernels(k: Kernels): void {
  kernels = k;
}

/** Selects a backend by name; "wasm" where this engine has no SIMD is an error naming why. */
export function useBackend(name: BackendName): void {
  if (!BACKENDS.includes(name)) throw new Error(`useBackend: "${String(name)}" is not one of ${BACKENDS.join(", ")}`);
  if (name === "wasm" && !wasmSimdSupported()) throw new Error('useBackend: "wasm" needs WebAssembly with SIMD128, which this engine lacks (use "ts")');
  kernels = SETS[name];
}

/** The current backend's name ("custom" after useKernels with another set). */
export function backendName(): BackendName | "custom" {
  return (Object.keys(SETS) as BackendName[]).find((n) => SETS[n] === kernels) ?? "custom";
}
