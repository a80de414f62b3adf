/**
 * The wasm gemm against the ts one at the workload's shapes in one form, medians of 40 calls each,
 * in one process: `npm run build:bench && node build/bench/gemm-ratio.js [nn|tn|nt]` (default tn,
 * the form whose packing costs most).
 */
import { fastKernels, wasmKernels, type Kernels } from "../src/index.js";

const form = process.argv[2] ?? "tn";
const o = { transA: form === "tn", transB: form === "nt" };
const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
for (const [m, n, k] of [[1024, 64, 128], [1024, 128, 256], [1024, 256, 384]] as const) {
  const a = Float32Array.from({ length: m * k }, (_, i) => (i % 7) - 3);
  const b = Float32Array.from({ length: k * n }, (_, i) => (i % 5) - 2);
  const out = new Float32Array(m * n);
  const rate = (K: Kernels): number => {
    for (let r = 0; r < 5; r++) K.gemm(out, a, b, m, n, k, o);
    const t: number[] = [];
    for (let r = 0; r < 40; r++) {
      const t0 = performance.now();
      K.gemm(out, a, b, m, n, k, o);
      t.push(performance.now() - t0);
    }
    return (2 * m * n * k) / (median(t) / 1e3) / 1e9;
  };
  const ts = rate(fastKernels);
  const wasm = rate(wasmKernels);
  console.log(`${m}x${n}x${k} ${form}: ts ${ts.toFixed(2)} GFLOP/s, wasm ${wasm.toFixed(2)} GFLOP/s, ${(wasm / ts).toFixed(2)}x`);
}
