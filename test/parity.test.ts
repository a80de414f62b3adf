/**
 * Parity with PyTorch: golden fixtures made by interop/pytorch/make_fixtures.py (float64) from the
 * PyTorch twin of the model. esmm-ts (float32) must agree within 1e-5 relative on outputs, loss, every
 * gradient and the weights after two Adam steps. No Python is needed to run this test.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { afterAll, beforeAll } from "vitest";
import { Adam, Esmm, PRESET_NAMES, denseGrad, fastKernels, naiveKernels, useKernels, wasmKernels, wasmSimdSupported, type Batch, type EsmmConfigInput, type Kernels } from "../src/index.js";
import { wasmKernelsAllSimd } from "../src/tensor/kernels/index.js";

interface Fixture {
  config: EsmmConfigInput;
  weights: Record<string, { shape: number[]; data: number[] }>;
  batch: {
    ids: number[][];
    bags: Array<{ offsets: number[]; ids: number[]; weights: number[] | null }>;
    dense: number[][];
    click: number[];
    conversion: number[];
  };
  outputs: Record<string, number[]>;
  loss: { total: number; ctr: number; cvr: number; counterfactual?: number; imputation?: number };
  grads: Record<string, number[]>;
  adam: { lr: number; steps: number; weights: Record<string, number[]> };
}

function close(got: ArrayLike<number>, want: number[], what: string, rtol = 1e-5, atol = 1e-6): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const ok = Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!);
    if (!ok) throw new Error(`${what}[${i}]: esmm-ts ${got[i]} vs PyTorch ${want[i]}`);
  }
}

function setup(fx: Fixture): { model: Esmm; batch: Batch; click: Float32Array; conversion: Float32Array } {
  const model = new Esmm(fx.config);
  model.loadStateDict(new Map(Object.entries(fx.weights).map(([n, w]) => [n, Float32Array.from(w.data)])));
  for (const [n, p] of model.namedParameters()) expect(p.shape, n).toEqual(fx.weights[n]!.shape);
  const b = fx.batch;
  const batch: Batch = {
    size: b.ids.length,
    ids: Int32Array.from(b.ids.flat()),
    bags: b.bags.map((g) => ({ offsets: Int32Array.from(g.offsets), ids: Int32Array.from(g.ids), weights: g.weights ? Float32Array.from(g.weights) : null })),
    dense: Float32Array.from(b.dense.flat()),
  };
  return { model, batch, click: Float32Array.from(b.click), conversion: Float32Array.from(b.conversion) };
}

// Every backend; the fixtures' layers are small (n k < 256), which the wasm set computes with the
// TypeScript gemm, so it runs once more with every product forced through its SIMD kernel.
const BACKEND_SETS: Array<[string, Kernels]> = [["naive", naiveKernels], ["ts", fastKernels], ...(wasmSimdSupported() ? ([["wasm", wasmKernels], ["wasm, every product in SIMD", wasmKernelsAllSimd]] as Array<[string, Kernels]>) : [])];
const PAIRS = BACKEND_SETS.flatMap(([b, k]) => [...PRESET_NAMES, "esmm-mmoe-shared-experts", "esmm-mmoe-cgc"].map((v) => [v, b, k] as const));

describe.each(PAIRS)("parity with PyTorch: %s on %s", (variant, _backend, kernelSet) => {
  beforeAll(() => useKernels(kernelSet));
  afterAll(() => useKernels(wasmSimdSupported() ? wasmKernels : fastKernels));
  const fx = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", `pytorch-${variant}.json`), "utf8")) as Fixture;

  it("same parameter names and shapes", () => {
    const { model } = setup(fx);
    expect(model.namedParameters().map(([n]) => n).sort()).toEqual(Object.keys(fx.weights).sort());
  });

  it("outputs, loss and every gradient agree", () => {
    const { model, batch, click, conversion } = setup(fx);
    const out = model.forward(batch);
    close(out.ctrLogit.data, fx.outputs.ctr_logit!, "ctr_logit");
    close(out.cvrLogit.data, fx.outputs.cvr_logit!, "cvr_logit");
    close(out.pCtr.data, fx.outputs.p_ctr!, "p_ctr");
    close(out.pCvr.data, fx.outputs.p_cvr!, "p_cvr");
    close(out.pCtcvr.data, fx.outputs.p_ctcvr!, "p_ctcvr");
    if (out.gates) {
      close(out.gates.ctr.data, fx.outputs.gates_ctr!, "gates_ctr");
      close(out.gates.cvr.data, fx.outputs.gates_cvr!, "gates_cvr");
    }
    if (fx.outputs.imp_logit) close(out.impLogit!.data, fx.outputs.imp_logit, "imp_logit");
    const l = model.loss(out, click, conversion);
    close([l.total.item(), l.ctr, l.cvr], [fx.loss.total, fx.loss.ctr, fx.loss.cvr], "loss");
    for (const k of ["counterfactual", "imputation"] as const) {
      expect(l.terms[k] === undefined, `the ${k} term`).toBe(fx.loss[k] === undefined);
      if (fx.loss[k] !== undefined) close([l.terms[k]!], [fx.loss[k]], `loss ${k}`);
    }
    l.total.backward();
    for (const [n, p] of model.namedParameters()) close(denseGrad(p), fx.grads[n]!, `grad ${n}`, 1e-5, 1e-6);
  });

  it("two Adam steps land on the same weights", () => {
    const { model, batch, click, conversion } = setup(fx);
    const opt = new Adam(model.namedParameters(), { lr: fx.adam.lr });
    for (let s = 0; s < fx.adam.steps; s++) {
      opt.zeroGrad();
      model.loss(model.forward(batch), click, conversion).total.backward();
      opt.step();
    }
    for (const [n, p] of model.namedParameters()) close(p.data, fx.adam.weights[n]!, `weights after Adam ${n}`, 1e-5, 1e-6);
  });
});
