import { describe, expect, it } from "vitest";
import { Adam, Embedding, Linear, Rng, Tensor, denseGrad, gather, mean, mul, sum, tensor } from "../src/index.js";
import { expectAllClose } from "./helpers.js";

describe("Adam", () => {
  it("first step moves each weight by about lr * sign(g)", () => {
    const p = tensor([1, -2, 3, 0.5], undefined, { requiresGrad: true });
    const opt = new Adam([["p", p]], { lr: 0.01 });
    sum(mul(p, tensor([3, -0.001, 50, -7]))).backward();
    opt.step();
    // m_hat = g, v_hat = g^2 at t = 1, so the step is lr * g / (|g| + eps)
    expectAllClose(p.data, [1 - 0.01, -2 + 0.01, 3 - 0.01, 0.5 + 0.01], 1e-6);
  });

  it("matches the closed form for two steps (AdamW with weight decay)", () => {
    const lr = 0.1;
    const b1 = 0.9;
    const b2 = 0.99;
    const eps = 1e-8;
    const wd = 0.1;
    const p = tensor([2], undefined, { requiresGrad: true });
    const opt = new Adam([["p", p]], { lr, beta1: b1, beta2: b2, eps, weightDecay: wd });
    // loss = p^2 -> g = 2p
    let x = 2;
    let m = 0;
    let v = 0;
    for (let t = 1; t <= 2; t++) {
      p.zeroGrad();
      sum(mul(p, p)).backward();
      opt.step();
      const g = 2 * x;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      x = x * (1 - lr * wd) - (lr * (m / (1 - b1 ** t))) / (Math.sqrt(v / (1 - b2 ** t)) + eps);
    }
    // t=1: g=4, m=0.4, v=0.16, x = 2*0.99 - 0.1*4/4 = 1.88
    // t=2: g=3.76, m=0.736, v=0.29978..., x = 1.88*0.99 - 0.1*(0.736/0.19)/(sqrt(0.29978/0.0199)) = 1.7614...
    expect(x).toBeCloseTo(1.7614, 3);
    expect(p.data[0]).toBeCloseTo(x, 5);
  });

  it("lazy row updates equal dense updates when every row is touched", () => {
    const mk = (sparse: boolean): Embedding => new Embedding(5, 3, { rng: new Rng(1), sparse });
    const a = mk(true);
    const b = mk(false);
    expect(Array.from(a.weight.data)).toEqual(Array.from(b.weight.data));
    const oa = new Adam([["w", a.weight]], { lr: 0.05, weightDecay: 0.01 });
    const ob = new Adam([["w", b.weight]], { lr: 0.05, weightDecay: 0.01 });
    const ids = Int32Array.from([4, 0, 1, 2, 3, 1, 0]);
    const target = tensor(Array.from({ length: 21 }, (_, i) => Math.sin(i)), [7, 3]);
    for (let s = 0; s < 3; s++) {
      for (const [e, o] of [[a, oa], [b, ob]] as const) {
        o.zeroGrad();
        mean(mul(gather(e.weight, ids), target)).backward();
        o.step();
      }
    }
    expectAllClose(a.weight.data, b.weight.data, 1e-7, 1e-6);
  });

  it("lazy updates leave untouched rows and their moments alone", () => {
    const e = new Embedding(6, 2, { rng: new Rng(2) });
    const before = e.weight.data.slice();
    const opt = new Adam([["w", e.weight]], { lr: 0.1 });
    sum(gather(e.weight, Int32Array.from([1, 4, 1]))).backward();
    expect(Array.from(e.weight.sparseGrad!.rows)).toEqual([1, 4]);
    opt.step();
    const st = opt.stateDict().get("w")!;
    for (const r of [0, 2, 3, 5]) {
      expect(e.weight.data[r * 2]).toBe(before[r * 2]);
      expect(st.m[r * 2]).toBe(0);
    }
    expect(e.weight.data[2]).not.toBe(before[2]);
  });

  it("clips the global gradient norm", () => {
    const p = tensor([0, 0], undefined, { requiresGrad: true });
    const opt = new Adam([["p", p]], { lr: 1, maxGradNorm: 1 });
    sum(mul(p, tensor([30, 40]))).backward();
    expect(opt.gradNorm()).toBeCloseTo(50, 5);
    // Adam is scale-invariant on the first step, so check the moments carry the scaled gradient.
    opt.step();
    const m = opt.stateDict().get("p")!.m;
    expectAllClose(m, [0.1 * 0.6, 0.1 * 0.8], 1e-6);
    // stateView: the same values without the copy, so the next step shows through it (stateDict's copy stays)
    const view = opt.stateView().get("p")!;
    expect([Array.from(view.m), view.step]).toEqual([Array.from(m), 1]);
    sum(mul(p, tensor([30, 40]))).backward();
    opt.step();
    expect(view.m[0]).not.toBe(m[0]);
    expect(Array.from(view.m)).toEqual(Array.from(opt.stateDict().get("p")!.m));
  });

  it("state saved and restored continues exactly", () => {
    const make = (): { lin: Linear; opt: Adam } => {
      const lin = new Linear(4, 3, { rng: new Rng(3) });
      return { lin, opt: new Adam(lin.namedParameters(), { lr: 0.01 }) };
    };
    const x = tensor(Array.from({ length: 8 }, (_, i) => i / 8 - 0.4), [2, 4]);
    const step = (s: { lin: Linear; opt: Adam }): void => {
      s.opt.zeroGrad();
      mean(mul(s.lin.forward(x), s.lin.forward(x))).backward();
      s.opt.step();
    };
    const a = make();
    for (let i = 0; i < 4; i++) step(a);
    const b = make();
    for (let i = 0; i < 2; i++) step(b);
    const saved = { w: b.lin.stateDict(), o: b.opt.stateDict() };
    const c = make();
    c.lin.loadStateDict(saved.w);
    c.opt.loadStateDict(saved.o);
    for (let i = 0; i < 2; i++) step(c);
    expect(Array.from(c.lin.weight.data)).toEqual(Array.from(a.lin.weight.data));
    expect(() => c.opt.loadStateDict(new Map([["nope", { step: 1, m: new Float32Array(1), v: new Float32Array(1) }]]))).toThrow(/unknown parameter "nope"/);
  });

  it("a sparse table's dense view matches its coalesced rows", () => {
    const t = new Tensor(new Float32Array(8), [4, 2], { requiresGrad: true, sparseGrad: true });
    sum(gather(t, Int32Array.from([3, 3]))).backward();
    expect(Array.from(denseGrad(t))).toEqual([0, 0, 0, 0, 0, 0, 2, 2]);
  });
});
