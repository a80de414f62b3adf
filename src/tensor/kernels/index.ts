export type { AdamHyper, BackendBuffer, BinaryOp, GemmOpts, Kernels, SharedMemory, UnaryOp } from "./types.js";
export { naiveKernels, sigmoidScalar, softplusScalar } from "./naive.js";
export { fastKernels } from "./fast.js";
export { wasmKernels, wasmKernelsAllSimd, wasmFmaKernels, wasmSimdSupported, wasmFmaSupported, gemmModuleBytes, wasmWarmup } from "./wasm.js";
import { fastKernels } from "./fast.js";
import { naiveKernels } from "./naive.js";
import type { Kernels } from "./types.js";
import { wasmFmaKernels, wasmFmaSupported, wasmKernels, wasmSimdSupported } from "./wasm.js";

/**
 * A backend is one kernel set; every op calls whichever is current:
 *  - "naive": the obvious loops, the oracle every other set is tested against;
 *  - "ts":    the fast TypeScript kernels (packed, register-tiled, fused; bit-identical to naive);
 *  - "wasm":  the ts set with gemm as WebAssembly SIMD, emitted by our module builder (float32
 *             accumulation: within float32 rounding of naive, not bit-identical).
 *  - "wasm-fma": opt-in only, never the default: "wasm" with a gemm that multiply-adds with relaxed
 *             SIMD (f32x4.relaxed_madd; fused or not as the CPU has it, so bits vary by machine;
 *             Node 20 needs --experimental-wasm-relaxed-simd).
 * The default is "wasm" where WebAssembly.validate accepts SIMD128, else "ts".
 */
export type BackendName = "naive" | "ts" | "wasm" | "wasm-fma";
/** Every `BackendName`. */
export const BACKENDS: readonly BackendName[] = ["naive", "ts", "wasm", "wasm-fma"];

const SETS: Record<BackendName, Kernels> = { naive: naiveKernels, ts: fastKernels, wasm: wasmKernels, "wasm-fma": wasmFmaKernels };

/** The kernel set every op calls: set by `useBackend` (or `useKernels`). */
export let kernels: Kernels = wasmSimdSupported() ? wasmKernels : fastKernels;

/** Swaps the kernel set directly (benchmarks, a reader stepping through plain loops). */
export function useKernels(k: Kernels): void {
  kernels = k;
}

/** Selects a backend by name; "wasm" where this engine has no SIMD is an error naming why. */
export function useBackend(name: BackendName): void {
  if (!BACKENDS.includes(name)) throw new Error(`useBackend: "${String(name)}" is not one of ${BACKENDS.join(", ")}`);
  if (name === "wasm" && !wasmSimdSupported()) throw new Error('useBackend: "wasm" needs WebAssembly with SIMD128, which this engine lacks (use "ts")');
  if (name === "wasm-fma" && !wasmFmaSupported()) throw new Error('useBackend: "wasm-fma" needs relaxed SIMD, which this engine does not accept (Node 20: node --experimental-wasm-relaxed-simd; or use "wasm")');
  kernels = SETS[name];
}

/** The current backend's name ("custom" after useKernels with another set). */
export function backendName(): BackendName | "custom" {
  return (Object.keys(SETS) as BackendName[]).find((n) => SETS[n] === kernels) ?? "custom";
}
