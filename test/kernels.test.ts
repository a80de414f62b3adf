/**
 * Every fast kernel against the naive oracle, on awkward shapes (1, 7, 33: remainders of the 4x4
 * tile are where bugs live), plus reference values a reader can re-derive by hand.
 */
import { describe, expect, it } from "vitest";
import { Rng, fastKernels, naiveKernels, wasmKernels, wasmSimdSupported, type AdamHyper, type Kernels } from "../src/index.js";

/** The backends every kernel test below runs on (wasm where this engine has SIMD). */
const BACKEND_SETS: Array<[string, Kernels]> = [["naive", naiveKernels], ["ts", fastKernels], ...(wasmSimdSupported() ? ([["wasm", wasmKernels]] as Array<[string, Kernels]>) : [])];
import { expectAllClose, gemmCases } from "./helpers.js";

function rand(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 33];

describe("gemm: fast vs naive", () => {
  const forms = [
    { name: "A@B", transA: false, transB: false },
    { name: "A^T@B", transA: true, transB: false },
    { name: "A@B^T", transA: false, transB: true },
    { name: "A^T@B^T", transA: true, transB: true },
  ];
  for (const form of forms) {
    it(`${form.name} on all awkward shapes, plain, accumulating, with the bias / ReLU epilogue`, () => {
      for (const { m, n, k, a, b, init, opts } of gemmCases(form, SIZES, SIZES, [1, 7, 33])) {
        const ref = init.slice();
        const got = init.slice();
        naiveKernels.gemm(ref, a, b, m, n, k, opts);
        fastKernels.gemm(got, a, b, m, n, k, opts);
        // Same summation order in doubles: the results agree bit for bit.
        expect(Array.from(got)).toEqual(Array.from(ref));
      }
    });
  }

  it("matches a hand-computed product", () => {
    // [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]]
    for (const k of [naiveKernels, fastKernels]) {
      const out = new Float32Array(4);
      k.gemm(out, Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8), 2, 2, 2);
      expect(Array.from(out)).toEqual([19, 22, 43, 50]);
      // A^T @ B with A stored [[1,3],[2,4]] is the same product
      k.gemm(out, Float32Array.of(1, 3, 2, 4), Float32Array.of(5, 6, 7, 8), 2, 2, 2, { transA: true });
      expect(Array.from(out)).toEqual([19, 22, 43, 50]);
    }
  });

  it("the epilogue stores exactly what gemm, addRowVector and relu store in three passes", () => {
    const [m, n, k] = [9, 7, 5];
    const a = rand(m * k, 90);
    const b = rand(k * n, 91);
    const bias = rand(n, 92);
    for (const K of [naiveKernels, fastKernels]) {
      const three = new Float32Array(m * n);
      K.gemm(three, a, b, m, n, k);
      K.addRowVector(three, three, bias, m, n);
      K.relu(three, three, m * n);
      const fused = new Float32Array(m * n);
      K.gemm(fused, a, b, m, n, k, { bias, relu: true });
      expect(Array.from(fused)).toEqual(Array.from(three));
      expect(three.some((v) => v === 0) && three.some((v) => v > 0)).toBe(true); // both sides of the ReLU
    }
  });

  it("k = 0 gives zeros (or leaves out alone when accumulating)", () => {
    const out = Float32Array.of(1, 2);
    fastKernels.gemm(out, new Float32Array(0), new Float32Array(0), 1, 2, 0, { accumulate: true });
    expect(Array.from(out)).toEqual([1, 2]);
    fastKernels.gemm(out, new Float32Array(0), new Float32Array(0), 1, 2, 0);
    expect(Array.from(out)).toEqual([0, 0]);
  });
});

type Case = (k: Kernels) => Float32Array[];

const hyper: AdamHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3, gradScale: 0.5 };

const elementwiseCases: Record<string, Case> = {
  addRowVector: (k) => {
    const out = new Float32Array(7 * 33);
    k.addRowVector(out, rand(7 * 33, 1), rand(33, 2), 7, 33);
    return [out];
  },
  sumRowsInto: (k) => {
    const out = rand(33, 3);
    k.sumRowsInto(out, rand(7 * 33, 4), 7, 33);
    return [out];
  },
  relu: (k) => {
    const y = new Float32Array(33);
    const dx = rand(33, 6);
    k.relu(y, rand(33, 5), 33);
    k.reluBackward(dx, rand(33, 7), y, 33);
    return [y, dx];
  },
  sigmoid: (k) => {
    const y = new Float32Array(33);
    const x = rand(33, 8);
    x[0] = 100;
    x[1] = -100;
    k.sigmoid(y, x, 33);
    const dx = rand(33, 9);
    k.sigmoidBackward(dx, rand(33, 10), y, 33);
    return [y, dx];
  },
  softmaxRows: (k) => {
    const x = rand(7 * 5, 11);
    x[0] = 1000;
    const y = new Float32Array(35);
    k.softmaxRows(y, x, 7, 5);
    const dx = rand(35, 12);
    k.softmaxRowsBackward(dx, rand(35, 13), y, 7, 5);
    return [y, dx];
  },
  gatherRows: (k) => {
    const out = new Float32Array(7 * 3);
    k.gatherRows(out, rand(5 * 3, 14), Int32Array.from([4, 0, 0, 2, 1, 4, 3]), 3);
    return [out];
  },
  scatterAddRows: (k) => {
    const g = rand(5 * 3, 15);
    k.scatterAddRows(g, rand(7 * 3, 16), Int32Array.from([4, 0, 0, 2, 1, 4, 4]), 3);
    return [g];
  },
  gatherFields: (k) => {
    const out = new Float32Array(7 * 2 * 3);
    const ids = Int32Array.from([0, 1, 2, 3, 4, 0, 1, 1, 2, 2, 3, 0, 4, 4]);
    k.gatherFields(out, [rand(5 * 3, 17), rand(5 * 3, 18)], ids, 7, 3);
    return [out];
  },
  sumRowBags: (k) => {
    // bags of 2, 0 (empty), 3 and 1 rows of a 5-row x, with a repeated row; plain and accumulating
    const offsets = Int32Array.from([0, 2, 2, 5, 6]);
    const rows = Int32Array.from([4, 0, 1, 1, 3, 2]);
    const x = rand(5 * 33, 40);
    const plain = new Float32Array(4 * 33);
    k.sumRowBags(plain, x, offsets, rows, 33, false, false);
    const acc = rand(4 * 33, 41);
    k.sumRowBags(acc, x, offsets, rows, 33, true, false);
    const rectified = rand(4 * 33, 42);
    k.sumRowBags(rectified, x, offsets, rows, 33, true, true);
    return [plain, acc, rectified];
  },
  bceWithLogits: (k) => {
    const z = rand(33, 19);
    z[0] = 60;
    z[1] = -60;
    const y = new Float32Array(33).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const w = rand(33, 20).map(Math.abs);
    const dz1 = new Float32Array(33);
    const dz2 = new Float32Array(33);
    const l1 = k.bceWithLogits(dz1, z, y, null, 33);
    const l2 = k.bceWithLogits(dz2, z, y, w, 33);
    return [Float32Array.of(l1, l2), dz1, dz2];
  },
  adamDense: (k) => {
    const p = rand(33, 21);
    const m = rand(33, 22).map((v) => v * 0.1);
    const v = rand(33, 23).map((x) => x * x * 0.01);
    k.adamDense(p, rand(33, 24), m, v, 33, hyper);
    return [p, m, v];
  },
  adamRows: (k) => {
    const p = rand(7 * 3, 25);
    const m = rand(21, 26).map((v) => v * 0.1);
    const v = rand(21, 27).map((x) => x * x * 0.01);
    k.adamRows(p, rand(3 * 3, 28), Int32Array.from([6, 0, 3]), m, v, 3, hyper);
    return [p, m, v];
  },
};

// Only kernels the fast set replaces are compared: one the fast set inherits would be compared with itself.
const replaced = Object.keys(elementwiseCases).filter((k) => fastKernels[k as keyof Kernels] !== naiveKernels[k as keyof Kernels]);

it("the fast set replaces the kernels that matter", () => {
  expect(replaced).toEqual(["addRowVector", "sumRowsInto", "softmaxRows", "gatherRows", "scatterAddRows", "gatherFields", "sumRowBags", "bceWithLogits", "adamDense", "adamRows"]);
});

describe.each(replaced)("kernel %s: fast vs naive", (name) => {
  it("agrees", () => {
    const ref = elementwiseCases[name]!(naiveKernels);
    const got = elementwiseCases[name]!(fastKernels);
    ref.forEach((r, i) => expectAllClose(got[i]!, r, 1e-6, 1e-6));
  });
});

describe("reference values", () => {
  it("sumRowBags sums each bag's rows (an empty bag sums to 0), accumulating and rectifying on request", () => {
    const x = Float32Array.of(1, 2, 3, 4, 5, -6); // rows [1, 2], [3, 4], [5, -6]
    const offsets = Int32Array.of(0, 2, 2, 3); // bags {2, 0}, {}, {1}
    const rows = Int32Array.of(2, 0, 1);
    for (const K of [naiveKernels, fastKernels]) {
      const out = new Float32Array(6).fill(9);
      K.sumRowBags(out, x, offsets, rows, 2, false, false);
      expect(Array.from(out)).toEqual([6, -4, 0, 0, 3, 4]);
      const acc = Float32Array.of(-10, 1, 0, -1, 0, 0);
      K.sumRowBags(acc, x, offsets, rows, 2, true, true); // [-4, -3] -> [0, 0]; [0, -1] -> [0, 0]
      expect(Array.from(acc)).toEqual([0, 0, 0, 0, 3, 4]);
    }
  });

  it("sigmoid(0) = 0.5, saturates without NaN at +-100", () => {
    const y = new Float32Array(3);
    fastKernels.sigmoid(y, Float32Array.of(0, 100, -100), 3);
    expect(y[0]).toBe(0.5);
    expect(y[1]).toBe(1);
    expect(y[2]).toBeGreaterThan(0);
    expect(y[2]).toBeLessThan(1e-40);
  });

  it("softmax rows sum to 1, even with a gap of 1000", () => {
    const y = new Float32Array(6);
    fastKernels.softmaxRows(y, Float32Array.of(1, 2, 3, 1000, 0, -1000), 2, 3);
    expect(y[0]! + y[1]! + y[2]!).toBeCloseTo(1, 6);
    // e^1 / (e^1 + e^2 + e^3) = 0.09003057
    expect(y[0]).toBeCloseTo(0.09003057, 7);
    expect(Array.from(y.subarray(3))).toEqual([1, 0, 0]);
  });

  it("BCE at p = 0.5 is ln 2; at logit 100 with label 0 it is 100", () => {
    const dz = new Float32Array(2);
    expect(fastKernels.bceWithLogits(dz, Float32Array.of(0, 0), Float32Array.of(1, 0), null, 2)).toBeCloseTo(Math.LN2, 7);
    expect(Array.from(dz)).toEqual([-0.25, 0.25]); // (sigmoid(0) - y) / n
    expect(fastKernels.bceWithLogits(dz, Float32Array.of(100), Float32Array.of(0), null, 1)).toBe(100);
    expect(dz[0]).toBe(1);
  });
});

describe("kernels the ops call (moved from inline loops), every backend, hand-derived values", () => {
  it.each(BACKEND_SETS)("%s: mixExperts and its backward", (_, K) => {
    // gates [0.25, 0.75]; experts [1, 2] and [3, 4]: y = 0.25 [1, 2] + 0.75 [3, 4] = [2.5, 3.5]
    const y = new Float32Array(2);
    const gates = Float32Array.of(0.25, 0.75);
    const experts = [Float32Array.of(1, 2), Float32Array.of(3, 4)];
    K.mixExperts(y, gates, experts, 1, 2);
    expect(Array.from(y)).toEqual([2.5, 3.5]);
    const dg = new Float32Array(2);
    const dx = [new Float32Array(2), null];
    K.mixExpertsBackward(dg, dx, Float32Array.of(1, 1), gates, experts, 1, 2);
    expect(Array.from(dg)).toEqual([3, 7]); // <dy, expert e>
    expect(Array.from(dx[0]!)).toEqual([0.25, 0.25]); // gate e * dy; expert 1's gradient skipped
  });

  it.each(BACKEND_SETS)("%s: every ReLU keeps a NaN (as PyTorch's and ONNX's do), so it reaches the scores instead of scoring as 0", (_, K) => {
    const y = new Float32Array(4);
    K.relu(y, Float32Array.of(-2, Number.NaN, -0, 3), 4);
    expect(Array.from(y)).toEqual([0, Number.NaN, 0, 3]);
    expect(Object.is(y[2], 0)).toBe(true); // -0 becomes +0
    // gemm's epilogue, the register-tile path (k = n = 16: wasm's smallest) and the narrow ones (x @ W^T
    // with one output, dz @ W with one input): row 0 of a holds a NaN, so each of its outputs is NaN;
    // row 1 gives b's first row, -1 and 2 alternating
    const a = new Float32Array(32);
    a[0] = Number.NaN;
    a[16] = 1;
    const b = new Float32Array(256);
    for (let j = 0; j < 16; j++) b[j] = j % 2 ? 2 : -1;
    const wide = new Float32Array(32);
    K.gemm(wide, a, b, 2, 16, 16, { relu: true, bias: new Float32Array(16) });
    expect(Array.from(wide)).toEqual([...Array<number>(16).fill(Number.NaN), ...Array.from({ length: 16 }, (_, j) => (j % 2 ? 2 : 0))]);
    const narrow = new Float32Array(2);
    K.gemm(narrow, a, b.subarray(0, 16), 2, 1, 16, { transB: true, relu: true });
    expect(Array.from(narrow)).toEqual([Number.NaN, 0]);
    const narrowIn = new Float32Array(32);
    K.gemm(narrowIn, Float32Array.of(Number.NaN, 1), b.subarray(0, 16), 2, 16, 1, { relu: true });
    expect(Array.from(narrowIn)).toEqual(Array.from(wide));
    // sumRowBags (the per-id first layer's sums), 8 wide: bag 0 sums a NaN row and a row of 1s, bag 1 a row of -1s
    const x = Float32Array.of(...Array<number>(8).fill(Number.NaN), ...Array<number>(8).fill(1), ...Array<number>(8).fill(-1));
    const bags = new Float32Array(16);
    K.sumRowBags(bags, x, Int32Array.of(0, 2, 3), Int32Array.of(0, 1, 2), 8, false, true);
    expect(Array.from(bags)).toEqual([...Array<number>(8).fill(Number.NaN), ...Array<number>(8).fill(0)]);
  });

  it.each(BACKEND_SETS)("%s: countNonFinite and zero", (_, K) => {
    // NaN and both infinities count; the largest float32, its negative and -0 do not
    const x = Float32Array.of(1, Number.NaN, 3.4028234663852886e38, -Infinity, -0, Infinity, -3.4028234663852886e38);
    expect(K.countNonFinite(x, x.length)).toBe(3);
    expect(K.countNonFinite(x, 2)).toBe(1); // only the first n
    K.zero(x);
    expect(Array.from(x)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(K.countNonFinite(x, x.length)).toBe(0);
  });

  it.each(BACKEND_SETS)("%s: the product loss at a = b = 0 (p = 1/4)", (_, K) => {
    const da = new Float32Array(2);
    const db = new Float32Array(2);
    // row 0: y = 1, loss ln 4, d/da = -sig(-a) = -1/2; row 1: y = 0, loss -ln(3/4), d/da = p sig(-a) / (1 - p) = 1/6
    const loss = K.bceWithLogitsProduct(da, db, new Float32Array(2), new Float32Array(2), Float32Array.of(1, 0), null, 2);
    expect(loss).toBeCloseTo((Math.log(4) - Math.log(0.75)) / 2, 12);
    expect(da[0]).toBeCloseTo(-0.5 / 2, 7);
    expect(da[1]).toBeCloseTo(1 / 6 / 2, 7);
    expect(Array.from(db)).toEqual(Array.from(da)); // symmetric in a and b
    expect(K.bceWithLogitsProduct(da, db, Float32Array.of(1), Float32Array.of(1), Float32Array.of(1), Float32Array.of(0), 1)).toBe(0); // all weights zero
  });

  it.each(BACKEND_SETS)("%s: copyColumns and addScaled", (_, K) => {
    const dst = new Float32Array(6); // [2, 3]
    K.copyColumns(dst, 3, 1, Float32Array.of(1, 2, 3, 4), 2, 0, 2, 2, false); // src [2, 2] into columns 1..2
    expect(Array.from(dst)).toEqual([0, 1, 2, 0, 3, 4]);
    K.copyColumns(dst, 3, 0, Float32Array.of(10, 20), 1, 0, 1, 2, true);
    expect(Array.from(dst)).toEqual([10, 1, 2, 20, 3, 4]);
    const out = Float32Array.of(1, 1);
    K.addScaled(out, Float32Array.of(2, 4), 0.5, 2);
    expect(Array.from(out)).toEqual([2, 3]);
  });
});

describe("embedding kernels (gatherFields' backward, embeddingBag), hand-derived", () => {
  it.each(BACKEND_SETS)("%s", (_, K) => {
    // x [2 rows, 2 fields x 2]: field 1 of row 0 is [3, 4], of row 1 [7, 8]
    const col = new Float32Array(4);
    K.fieldColumn(col, Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, 2, 1, 2);
    expect(Array.from(col)).toEqual([3, 4, 7, 8]);
    // table rows [1, 2], [3, 4], [5, 6]; bag 0 = {row 2 x 0.5, row 0 x 0.5} (a mean of two), bag 1 = {} (zeros)
    const y = new Float32Array(4);
    const ids = Int32Array.of(2, 0);
    const offsets = Int32Array.of(0, 2, 2);
    const coef = Float32Array.of(0.5, 0.5);
    K.bagForward(y, Float32Array.of(1, 2, 3, 4, 5, 6), ids, offsets, coef, 2);
    expect(Array.from(y)).toEqual([3, 4, 0, 0]);
    const vals = new Float32Array(4);
    K.bagBackward(vals, Float32Array.of(2, -2, 9, 9), offsets, coef, 2);
    expect(Array.from(vals)).toEqual([1, -1, 1, -1]); // each id of bag 0 gets 0.5 dy[0]
  });
});

describe("broadcast binary kernels, hand-derived", () => {
  it.each(BACKEND_SETS)("%s: [2, 2] op [2] (a row broadcast) and its backward", (_, K) => {
    const y = new Float32Array(4);
    const sa = Int32Array.of(2, 1);
    const sb = Int32Array.of(0, 1); // b repeats along the rows
    K.binary("sub", y, Float32Array.of(1, 2, 3, 4), Float32Array.of(10, 20), [2, 2], sa, sb);
    expect(Array.from(y)).toEqual([-9, -18, -7, -16]);
    K.binary("mul", y, Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8), [2, 2], null, null);
    expect(Array.from(y)).toEqual([5, 12, 21, 32]);
    const ga = new Float32Array(4);
    const gb = new Float32Array(2);
    K.binaryBackward("mul", ga, gb, Float32Array.of(1, 1, 1, 1), Float32Array.of(1, 2, 3, 4), Float32Array.of(10, 20), [2, 2], sa, sb);
    expect(Array.from(ga)).toEqual([10, 20, 10, 20]); // dy * b
    expect(Array.from(gb)).toEqual([4, 6]); // dy * a, summed over the broadcast rows
  });
});

describe("unary and reduction kernels, hand-derived", () => {
  it.each(BACKEND_SETS)("%s", (_, K) => {
    const y = new Float32Array(2);
    K.unary("softplus", y, Float32Array.of(0, 100), 2);
    expect(y[0]).toBeCloseTo(Math.LN2, 7); // ln 2
    expect(y[1]).toBe(100); // no overflow
    const dx = new Float32Array(2);
    K.unaryBackward("exp", dx, Float32Array.of(2, 3), Float32Array.of(0, 0), Float32Array.of(1, 1), 2); // d e^x = e^x = y
    expect(Array.from(dx)).toEqual([2, 3]);
    // x [2, 3, 1] summed over the middle axis: [1+2+3, 4+5+6]; mean scales by 1/3
    const s = new Float32Array(2);
    K.sumAxis(s, Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3, 1, 1 / 3);
    expect(Array.from(s)).toEqual([2, 5]);
    const g = new Float32Array(6);
    K.sumAxisBackward(g, Float32Array.of(3, 6), 2, 3, 1, 1 / 3);
    expect(Array.from(g)).toEqual([1, 1, 1, 2, 2, 2]);
  });
});

describe("groupBySlot (the per-id layer's row grouping), hand-derived", () => {
  it.each(BACKEND_SETS)("%s", (_, K) => {
    // rows 0..5 with slots 2, 0, 2, 1, 0, 2: slot 0 holds rows 1, 4; slot 1 row 3; slot 2 rows 0, 2, 5
    const first = new Int32Array(4);
    const rows = new Int32Array(6);
    K.groupBySlot(first, rows, Int32Array.of(2, 0, 2, 1, 0, 2), 3);
    expect(Array.from(first)).toEqual([0, 2, 3, 6]);
    expect(Array.from(rows)).toEqual([1, 4, 3, 0, 2, 5]);
  });
});
