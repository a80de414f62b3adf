/** The tape's contract: accumulation, determinism, release, grad mode, errors, extremes. */
import { describe, expect, it } from "vitest";
import {
  Tensor,
  add,
  bceWithLogits,
  bceWithLogitsProduct,
  denseGrad,
  gather,
  gatherFields,
  linear,
  logSigmoid,
  matmul,
  mean,
  mul,
  noGrad,
  reshape,
  sigmoid,
  softmax,
  softplus,
  sum,
  tensor,
  zeros,
} from "../src/index.js";
import { expectAllClose, randn } from "./helpers.js";

describe("accumulation", () => {
  it("mul(x, x) gives 2x", () => {
    const x = tensor([1, -2, 3], undefined, { requiresGrad: true });
    sum(mul(x, x)).backward();
    expect(Array.from(x.grad!)).toEqual([2, -4, 6]);
  });

  it("backward twice without zeroing adds up; zeroGrad clears", () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    sum(mul(x, 3)).backward();
    sum(mul(x, 3)).backward();
    expect(Array.from(x.grad!)).toEqual([6, 6]);
    x.zeroGrad();
    expect(Array.from(x.grad!)).toEqual([0, 0]);
  });

  it("a repeated id gets every contribution, dense and row-sparse alike", () => {
    for (const sparseGrad of [false, true]) {
      const t = new Tensor(new Float32Array(8), [4, 2], { requiresGrad: true, sparseGrad });
      const y = gather(t, Int32Array.from([1, 3, 1, 1]));
      sum(mul(y, tensor([[1, 2], [3, 4], [5, 6], [7, 8]]))).backward();
      // row 1 gets [1,2] + [5,6] + [7,8]; row 3 gets [3,4]
      expect(Array.from(denseGrad(t))).toEqual([0, 0, 13, 16, 0, 0, 3, 4]);
    }
  });

  it("a sparse table's gradient lists only the rows a batch touched, coalesced", () => {
    const t = new Tensor(new Float32Array(1000 * 4), [1000, 4], { requiresGrad: true, sparseGrad: true });
    const other = randn([2, 4], 1);
    sum(gatherFields([t, t], Int32Array.from([7, 500, 7, 7]))).backward();
    expect(other.grad).toBe(null);
    const g = t.sparseGrad!;
    expect(Array.from(g.rows)).toEqual([7, 500]);
    expect(Array.from(g.values)).toEqual([3, 3, 3, 3, 1, 1, 1, 1]);
    expect(t.grad).toBe(null); // never a dense buffer
  });

  it("a broadcast bias receives the column sums", () => {
    const x = zeros([3, 2]);
    const b = tensor([0.5, -1], undefined, { requiresGrad: true });
    sum(mul(add(x, b), tensor([[1, 2], [3, 4], [5, 6]]))).backward();
    expect(Array.from(b.grad!)).toEqual([9, 12]);
  });
});

describe("graph", () => {
  it("is released after backward: intermediates lose node and grad", () => {
    const x = randn([2, 3], 2);
    const h = sigmoid(x);
    const L = sum(h);
    expect(h.node).not.toBe(null);
    L.backward();
    expect(h.node).toBe(null);
    expect(h.grad).toBe(null);
    expect(x.grad).not.toBe(null);
  });

  it("noGrad records nothing", () => {
    const x = randn([2], 3);
    const y = noGrad(() => mul(x, x));
    expect(y.node).toBe(null);
    expect(() => sum(y).backward()).toThrow(/does not require grad/);
  });

  it("is deterministic: two runs give identical gradients bit for bit", () => {
    const run = (): number[] => {
      const x = randn([16, 8], 4);
      const w = randn([5, 8], 5);
      const b = randn([5], 6);
      mean(softmax(linear(x, w, b))).backward();
      return [...w.grad!, ...x.grad!, ...b.grad!];
    };
    expect(run()).toEqual(run());
  });

  it("reshape shares data and routes the gradient back", () => {
    const x = randn([2, 3], 7);
    const y = reshape(x, [3, 2]);
    expect(y.data).toBe(x.data);
    sum(mul(y, y)).backward();
    expectAllClose(x.grad!, Array.from(x.data, (v) => 2 * v));
  });
});

describe("bad input names the op and the shapes", () => {
  it("shape mismatches", () => {
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow("matmul: shapes [2, 3] and [4, 5] do not chain");
    expect(() => add(zeros([2, 3]), zeros([4]))).toThrow("add: shapes [2, 3] and [4] cannot be broadcast together");
    expect(() => linear(zeros([2, 3]), zeros([4, 5]))).toThrow("linear: input [2, 3] and weight [4, 5] do not match");
    expect(() => linear(zeros([2, 3]), zeros([4, 3]), zeros([5]))).toThrow("linear: bias [5] does not match weight [4, 3]");
  });

  it("ids out of range or not integers", () => {
    expect(() => gather(zeros([4, 2]), Int32Array.from([0, 4]))).toThrow("gather: id 4 at position 1 is out of range for a table of 4 rows");
    expect(() => gather(zeros([4, 2]), Int32Array.from([-1]))).toThrow(/id -1/);
    expect(() => gather(zeros([4, 2]), [1.5])).toThrow("gather: id at position 0 is 1.5, not an integer");
  });

  it("backward on a non-scalar", () => {
    const x = randn([2, 2], 8);
    expect(() => mul(x, 2).backward()).toThrow("backward: needs a scalar (one element), got tensor[2, 2]");
  });

  it("data that does not fit the shape", () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow("tensor: data has 3 elements but shape [2, 2] needs 4");
  });
});

describe("extreme inputs stay finite and correct", () => {
  it("sigmoid, softplus and logSigmoid at +-30 and +-100", () => {
    const x = tensor([-100, -30, 30, 100], undefined, { requiresGrad: true });
    const s = sigmoid(x);
    expect(Array.from(s.data).every(Number.isFinite)).toBe(true);
    expect(s.data[3]).toBe(1);
    expect(s.data[0]).toBe(Math.fround(Math.exp(-100))); // a float32 denormal, not 0
    const ls = logSigmoid(x);
    expect(Array.from(ls.data)).toEqual([-100, -30, Math.fround(-9.357622968840175e-14), Math.fround(-3.720075976020836e-44)]);
    const sp = softplus(x);
    expect(sp.data[3]).toBe(100);
    sum(add(ls, sp)).backward();
    // d/dx [logSigmoid + softplus] = sigmoid(-x) + sigmoid(x) = 1
    expectAllClose(x.grad!, [1, 1, 1, 1], 1e-7);
  });

  it("bceWithLogits at +-30 and +-100 with both labels", () => {
    const z = tensor([-100, -30, 30, 100, -100, -30, 30, 100], undefined, { requiresGrad: true });
    const y = Float32Array.of(1, 1, 1, 1, 0, 0, 0, 0);
    const L = bceWithLogits(z, y);
    // losses: 100, 30, ~0, ~0, ~0, ~0, 30, 100 -> mean 260 / 8
    expect(L.item()).toBeCloseTo(260 / 8, 4);
    L.backward();
    expect(Array.from(z.grad!).every(Number.isFinite)).toBe(true);
    expectAllClose(z.grad!, [-1 / 8, -1 / 8, 0, 0, 0, 0, 1 / 8, 1 / 8], 1e-9);
  });

  it("bceWithLogitsProduct matches a float64 oracle where the naive formula is exact", () => {
    const a = tensor([0.3, -1.2, 2], undefined, { requiresGrad: true });
    const b = tensor([-0.7, 0.4, 1.5], undefined, { requiresGrad: true });
    const y = Float32Array.of(1, 0, 0);
    const sig = (v: number): number => 1 / (1 + Math.exp(-v));
    let want = 0;
    for (let i = 0; i < 3; i++) {
      const p = sig(a.data[i]!) * sig(b.data[i]!);
      want += -(y[i]! * Math.log(p) + (1 - y[i]!) * Math.log(1 - p)) / 3;
    }
    expect(bceWithLogitsProduct(a, b, y).item()).toBeCloseTo(want, 6);
  });

  it("bceWithLogitsProduct at logits +-50 and +-100: finite losses, gradients equal finite differences", () => {
    const vals = [-100, -50, 50, 100];
    for (const av of vals) for (const bv of vals) for (const yv of [0, 1]) {
      const a = tensor([av], undefined, { requiresGrad: true });
      const b = tensor([bv], undefined, { requiresGrad: true });
      const L = bceWithLogitsProduct(a, b, [yv]);
      expect(Number.isFinite(L.item())).toBe(true);
      L.backward();
      // Central differences in float64 on the closed form (logits are exact integers, steps of 1e-3 exact enough).
      const f = (x: number, z: number): number => {
        const lsx = -Math.max(-x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
        const lsz = -Math.max(-z, 0) - Math.log1p(Math.exp(-Math.abs(z)));
        const m = Math.max(-x, -z, -x - z);
        const l1m = m + Math.log(Math.exp(-x - m) + Math.exp(-z - m) + Math.exp(-x - z - m)) + lsx + lsz;
        return -(yv * (lsx + lsz) + (1 - yv) * l1m);
      };
      const h = 1e-3;
      const nA = (f(av + h, bv) - f(av - h, bv)) / (2 * h);
      const nB = (f(av, bv + h) - f(av, bv - h)) / (2 * h);
      expect(Number.isFinite(a.grad![0]!)).toBe(true);
      expect(Math.abs(a.grad![0]! - nA)).toBeLessThan(1e-5);
      expect(Math.abs(b.grad![0]! - nB)).toBeLessThan(1e-5);
    }
  });

  it("softmax with a large logit gap", () => {
    const x = tensor([[0, 500, -500]], undefined, { requiresGrad: true });
    const y = softmax(x);
    expect(Array.from(y.data)).toEqual([0, 1, 0]);
    sum(mul(y, tensor([[1, 2, 3]]))).backward();
    expect(Array.from(x.grad!).every(Number.isFinite)).toBe(true);
  });
});
