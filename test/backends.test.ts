/**
 * The backends end to end, and what the docs promise about bits: one backend and one thread count
 * give bit-identical weights for a seed; another backend rounds differently (ts's gemm keeps the
 * oracle's bits but some elementwise kernels do not; wasm's gemm accumulates in float32) and lands
 * on the same validation AUCs within 0.002.
 */
import { afterAll, describe, expect, it } from "vitest";
import { AppStoreSimulator, DENSE_FEATURES, Esmm, denseStats, evaluate, fastKernels, naiveKernels, train, useKernels, wasmKernels, wasmSimdSupported, type Kernels } from "../src/index.js";
import { wasmKernelsAllSimd } from "../src/tensor/kernels/index.js";

const sim = new AppStoreSimulator({ users: 400, apps: 150, seed: 11 });
const trainSet = sim.dataset(5000, 0);
const validSet = sim.dataset(4000, 1);
const st = denseStats(trainSet);

async function trained(k: Kernels): Promise<{ weights: Map<string, Float32Array>; auc: { ctr: number; cvr: number; ctcvr: number } }> {
  useKernels(k);
  const model = new Esmm({ preset: "esmm-mmoe", fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, dim: 8, experts: { count: 2, hidden: [32, 16] }, towers: { hidden: [8] }, seed: 4 });
  await train(model, trainSet, { epochs: 2, batchSize: 256, lr: 3e-3, seed: 2 });
  const m = evaluate(model, validSet);
  return { weights: model.stateDict(), auc: { ctr: m.ctrAuc!, cvr: m.cvrAuc!, ctcvr: m.ctcvrAuc! } };
}

const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean => [...a].every(([n, w]) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(b.get(n)!.buffer, b.get(n)!.byteOffset, b.get(n)!.byteLength)));

describe("backends end to end", () => {
  afterAll(() => useKernels(wasmSimdSupported() ? wasmKernels : fastKernels));

  it("naive and ts: each the same bits run after run, and the same AUCs within 0.002", async () => {
    const naive = await trained(naiveKernels);
    const ts = await trained(fastKernels);
    expect(same(ts.weights, (await trained(fastKernels)).weights)).toBe(true);
    for (const key of ["ctr", "cvr", "ctcvr"] as const) expect(Math.abs(naive.auc[key] - ts.auc[key]), key).toBeLessThan(0.002);
  });

  it.skipIf(!wasmSimdSupported())("wasm: the same bits run after run; the same AUCs as ts within 0.002", async () => {
    const ts = await trained(fastKernels);
    for (const k of [wasmKernels, wasmKernelsAllSimd]) {
      const a = await trained(k);
      const b = await trained(k);
      expect(same(a.weights, b.weights)).toBe(true);
      if (k === wasmKernelsAllSimd) expect(same(a.weights, ts.weights)).toBe(false); // the SIMD path ran: float32 sums round differently
      for (const key of ["ctr", "cvr", "ctcvr"] as const) expect(Math.abs(a.auc[key] - ts.auc[key]), key).toBeLessThan(0.002);
    }
  });
});
