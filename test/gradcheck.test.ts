/**
 * Every op the tape can record, gradient-checked by central differences (float32, eps 1e-3).
 * `cases` is a Record<OpName, ...>: adding an op name without a case here fails to compile.
 */
import { describe, expect, it } from "vitest";
import {
  Rng,
  Tensor,
  add,
  bceWithLogits,
  bceWithLogitsProduct,
  concat,
  div,
  embeddingBag,
  exp,
  fieldInput,
  fieldsLinear,
  gather,
  gatherFields,
  gradcheck,
  linear,
  log,
  logSigmoid,
  matmul,
  mean,
  mixExperts,
  mul,
  neg,
  relu,
  reshape,
  sigmoid,
  softmax,
  softplus,
  sub,
  sum,
  type OpName,
} from "../src/index.js";
import { randn } from "./helpers.js";

interface GradCase {
  /** Builds fresh inputs and the function of them to check. */
  make: () => { inputs: Tensor[]; f: (...xs: Tensor[]) => Tensor };
}

/** Values kept away from ReLU's kink so a finite difference never straddles it. */
function awayFromZero(shape: number[], seed: number): Tensor {
  const t = randn(shape, seed);
  for (let i = 0; i < t.size; i++) t.data[i] = t.data[i]! + (t.data[i]! >= 0 ? 0.1 : -0.1);
  return t;
}

const ids = Int32Array.from([2, 0, 2, 3, 2]); // repeated ids: gradients must accumulate

const cases: Record<OpName, GradCase> = {
  add: { make: () => ({ inputs: [randn([3, 4], 1), randn([4], 2)], f: (a, b) => add(a!, b!) }) }, // broadcast bias
  sub: { make: () => ({ inputs: [randn([3, 1], 3), randn([2, 1, 4], 4)], f: (a, b) => sub(a!, b!) }) },
  mul: { make: () => ({ inputs: [randn([3, 4], 5)], f: (a) => mul(a!, a!) }) }, // mul(x, x)
  div: {
    make: () => {
      const b = randn([4], 7);
      for (let i = 0; i < b.size; i++) b.data[i] = 1 + Math.abs(b.data[i]!);
      return { inputs: [randn([2, 4], 6), b], f: (x, y) => div(x!, y!) };
    },
  },
  neg: { make: () => ({ inputs: [randn([5], 8)], f: (a) => neg(a!) }) },
  relu: { make: () => ({ inputs: [awayFromZero([4, 5], 9)], f: (a) => relu(a!) }) },
  sigmoid: { make: () => ({ inputs: [randn([6], 10, 3)], f: (a) => sigmoid(a!) }) },
  logSigmoid: { make: () => ({ inputs: [randn([6], 11, 4)], f: (a) => logSigmoid(a!) }) },
  softplus: { make: () => ({ inputs: [randn([6], 12, 4)], f: (a) => softplus(a!) }) },
  exp: { make: () => ({ inputs: [randn([6], 13)], f: (a) => exp(a!) }) },
  log: {
    make: () => {
      const x = randn([6], 14);
      for (let i = 0; i < x.size; i++) x.data[i] = 0.5 + Math.abs(x.data[i]!);
      return { inputs: [x], f: (a) => log(a!) };
    },
  },
  matmul: { make: () => ({ inputs: [randn([3, 5], 15), randn([5, 7], 16)], f: (a, b) => matmul(a!, b!) }) },
  linear: { make: () => ({ inputs: [randn([4, 6], 17), randn([3, 6], 18), randn([3], 19)], f: (x, w, b) => linear(x!, w!, b!) }) },
  linearRelu: {
    make: () => {
      // weights chosen so no pre-activation sits within eps of zero
      const x = randn([4, 6], 20);
      const w = randn([3, 6], 21);
      const b = randn([3], 22);
      return { inputs: [x, w, b], f: (xx, ww, bb) => linear(xx!, ww!, bb!, true) };
    },
  },
  softmax: {
    make: () => {
      const x = randn([3, 4], 23);
      x.data[0] = 12; // a large logit gap within a row
      return { inputs: [x], f: (a) => softmax(a!) };
    },
  },
  sum: { make: () => ({ inputs: [randn([2, 3, 4], 24)], f: (a) => sum(a!, 1) }) },
  mean: { make: () => ({ inputs: [randn([2, 3, 4], 25)], f: (a) => mean(a!, -1, true) }) },
  reshape: { make: () => ({ inputs: [randn([2, 6], 26)], f: (a) => mul(reshape(a!, [3, -1]), reshape(a!, [3, 4])) }) },
  concat: { make: () => ({ inputs: [randn([2, 3], 27), randn([2, 2], 28)], f: (a, b) => concat([a!, b!], 1) }) },
  gather: {
    make: () => {
      const t = randn([4, 3], 29);
      return { inputs: [t], f: (a) => gather(a!, ids) };
    },
  },
  gatherFields: {
    make: () => {
      const t0 = new Tensor(randn([4, 2], 30).data, [4, 2], { requiresGrad: true, sparseGrad: true });
      const t1 = randn([3, 2], 31);
      // B = 3 rows, F = 2 fields; field 0 repeats id 1
      return { inputs: [t0, t1], f: (a, b) => gatherFields([a!, b!], Int32Array.from([1, 0, 1, 2, 3, 2])) };
    },
  },
  fieldsLinear: {
    make: () => {
      // F = 3 fields of D = 2, B = 4 rows: fields 0 and 1 repeat ids (computed per id; field 0's table
      // is sparse), field 2's ids are all distinct (gathered in front of the 3 rest columns); O = 3
      // outputs; once plain and once with the fused ReLU, no rest and every field per id.
      const t0 = new Tensor(randn([4, 2], 50).data, [4, 2], { requiresGrad: true, sparseGrad: true });
      const t1 = randn([3, 2], 51);
      const t2 = randn([5, 2], 55);
      const ids3 = Int32Array.from([1, 0, 4, 3, 2, 0, 1, 2, 1, 3, 0, 2]);
      return {
        inputs: [t0, t1, t2, randn([4, 3], 52), randn([3, 9], 53), randn([3], 54)],
        f: (a, b, c, r, w, bias) => {
          const mixed = fieldInput([a!, b!, c!], ids3, [r!]);
          const allPerId = fieldInput([a!, b!, c!], ids3, [], 1);
          return concat([fieldsLinear(mixed, w!, bias!), fieldsLinear(allPerId, sliceColumns(w!, 6), null, true)], 1);
        },
      };
    },
  },
  embeddingBag: {
    make: () => {
      const t = new Tensor(randn([5, 3], 32).data, [5, 3], { requiresGrad: true, sparseGrad: true });
      const offsets = Int32Array.from([0, 2, 2, 5]); // the middle bag is empty
      const bag = Int32Array.from([1, 4, 4, 0, 1]);
      const w = Float32Array.from([0.5, 2, 1, -1, 3]);
      return {
        inputs: [t],
        f: (a) => concat([embeddingBag(a!, offsets, bag, w, "sum"), embeddingBag(a!, offsets, bag, null, "mean")], 1),
      };
    },
  },
  mixExperts: {
    make: () => ({
      inputs: [softmaxLeaf([3, 2], 33), randn([3, 4], 34), randn([3, 4], 35)],
      f: (g, e0, e1) => mixExperts(g!, [e0!, e1!]),
    }),
  },
  bceWithLogits: {
    make: () => ({
      inputs: [randn([6], 36, 3)],
      f: (z) => bceWithLogits(z!, Float32Array.from([1, 0, 1, 0, 0, 1]), { weights: Float32Array.from([1, 0, 2, 1, 1, 0.5]) }),
    }),
  },
  bceWithLogitsProduct: {
    make: () => ({
      inputs: [randn([6], 37, 3), randn([6], 38, 3)],
      f: (a, b) => bceWithLogitsProduct(a!, b!, Float32Array.from([1, 0, 1, 0, 0, 1])),
    }),
  },
};

/** The first `n` columns of w as a tensor of its own that passes gradients back (via matmul with a selector). */
function sliceColumns(w: Tensor, n: number): Tensor {
  const I = w.shape[1]!;
  const sel = new Tensor(new Float32Array(I * n), [I, n]);
  for (let c = 0; c < n; c++) sel.data[c * n + c] = 1;
  return matmul(w, sel);
}

function softmaxLeaf(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const t = new Tensor(new Float32Array(shape[0]! * shape[1]!), shape, { requiresGrad: true });
  for (let i = 0; i < t.size; i++) t.data[i] = rng.uniform(0.1, 1);
  return t;
}

describe("gradcheck: every op", () => {
  it.each(Object.keys(cases) as OpName[])("%s", (name) => {
    const { inputs, f } = cases[name].make();
    const res = gradcheck(f, inputs);
    expect(res.failures).toEqual([]);
    expect(res.ok).toBe(true);
  });
});

describe("gradcheck itself", () => {
  it("catches a wrong backward", () => {
    // sigmoid's output used as if it were its own gradient rule: the check must fail.
    const x = randn([4], 40);
    const res = gradcheck((a) => mul(sigmoid(a!), 1), [x]);
    expect(res.ok).toBe(true);
    const wrong = (a: Tensor): Tensor => {
      const y = sigmoid(a);
      const node = y.node;
      if (!node) return y; // evaluated under noGrad: nothing to replace
      // Replace the backward with one that forgets the y(1 - y) factor.
      y.node = { op: node.op, inputs: node.inputs, backward: (dy) => {
        const g = a.gradBuffer();
        for (let i = 0; i < g.length; i++) g[i] = g[i]! + dy[i]!;
      } };
      return y;
    };
    expect(gradcheck(wrong, [randn([4], 41)]).ok).toBe(false);
  });

  it("checks large inputs along random directions", () => {
    const x = randn([20, 30], 42);
    const w = randn([8, 30], 43);
    const res = gradcheck((a, b) => linear(a!, b!), [x, w], { maxExhaustive: 16, directions: 3 });
    expect(res.failures).toEqual([]);
  });
});
