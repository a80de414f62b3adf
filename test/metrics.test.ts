import { describe, expect, it } from "vitest";
import { Rng, auc, esmmMetrics, gauc, logLoss, weightedAuc } from "../src/index.js";

describe("AUC", () => {
  it("matches sklearn's roc_auc_score on a hand-checked case", () => {
    // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
  });

  it("counts ties as one half (average ranks)", () => {
    // positives at 0.5 and 0.9; negatives at 0.5, 0.5: pairs 0.5+0.5+1+1 = 3 of 4
    // sklearn.metrics.roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.9]) == 0.75
    expect(auc([0.5, 0.5, 0.5, 0.9], [0, 1, 0, 1])).toBe(0.75);
    expect(auc([1, 1, 1, 1], [0, 1, 0, 1])).toBe(0.5);
  });

  it("is undefined (null) over one class, not 0.5 and not an exception", () => {
    expect(auc([0.1, 0.2], [1, 1])).toBe(null);
    expect(auc([], [])).toBe(null);
  });

  it("weighted AUC equals the brute-force pair sum", () => {
    const rng = new Rng(5);
    const n = 60;
    const s = Array.from({ length: n }, () => Math.round(rng.next() * 10) / 10); // many ties
    const p = Array.from({ length: n }, () => rng.next());
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const w = p[i]! * (1 - p[j]!);
      den += w;
      num += w * (s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0);
    }
    // The pair sum over i != j differs from the all-pairs one by the i = j terms, which count 1/2 each.
    let diag = 0;
    for (let i = 0; i < n; i++) diag += p[i]! * (1 - p[i]!);
    expect(weightedAuc(s, p, p.map((v) => 1 - v))!).toBeCloseTo((num + 0.5 * diag) / (den + diag), 12);
  });
});

describe("log loss and GAUC", () => {
  it("log loss at p = 0.5 is ln 2, and p = 0 for a positive stays finite", () => {
    expect(logLoss([0.5, 0.5], [1, 0])).toBeCloseTo(Math.LN2, 12);
    expect(logLoss([0], [1])).toBeCloseTo(-Math.log(1e-7), 6);
  });

  it("GAUC weights users by impressions and skips one-class users", () => {
    // user 1: auc 1 (3 rows); user 2: auc 0 (2 rows); user 3: one class, skipped
    const g = gauc([0.1, 0.9, 0.5, 0.8, 0.2, 0.3], [0, 1, 0, 0, 1, 1], [1, 1, 1, 2, 2, 3]);
    expect(g).toBeCloseTo((1 * 3 + 0 * 2) / 5, 12);
  });
});

describe("ESMM's protocol", () => {
  it("CVR AUC uses clicked rows only; CTCVR uses click AND conversion on all rows", () => {
    const click = [1, 1, 1, 0, 0, 1];
    const conv = [1, 0, 0, 0, 0, 1];
    // pCvr ranks unclicked rows highest: they must not matter for the CVR AUC.
    const pCvr = [0.9, 0.2, 0.3, 0.99, 0.98, 0.1];
    const pCtr = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
    const pCtcvr = pCtr.map((v, i) => v * pCvr[i]!);
    const m = esmmMetrics({ pCtr, pCvr, pCtcvr, click, conversion: conv });
    // clicked: scores [0.9, 0.2, 0.3, 0.1], labels [1, 0, 0, 1] -> pairs: 0.9 beats both, 0.1 beats none -> 2/4
    expect(m.cvrAuc).toBe(0.5);
    expect(m.ctrAuc).toBe(auc(pCtr, click));
    expect(m.ctcvrAuc).toBe(auc(pCtcvr, conv));
    expect(m.clicks).toBe(4);
    expect(m.conversions).toBe(2);
    expect(m.calibration.cvr.observed).toBe(0.5);
    expect(m.calibration.cvr.predicted).toBeCloseTo((0.9 + 0.2 + 0.3 + 0.1) / 4, 12);
  });
});

describe("sorting for AUCs at scale", () => {
  /** Row indices by ascending score with a comparator (stable): the reference order. */
  const byComparator = (s: ArrayLike<number>): number[] => Array.from({ length: s.length }, (_, i) => i).sort((a, b) => s[a]! - s[b]!);

  it("ascendingOrder gives the comparator sort's order: ties in index order, negatives, -0 with +0, non-float32 numbers", async () => {
    const { ascendingOrder } = await import("../src/esmm/metrics.js");
    const rng = new Rng(5);
    const ties = Float32Array.from({ length: 5000 }, () => Math.floor(rng.uniform() * 40) / 40);
    const signed = Float32Array.from({ length: 3000 }, (_, i) => (i % 5 === 0 ? (i % 2 ? -0 : 0) : (rng.uniform() - 0.5) * 10 ** (rng.uniform() * 40 - 20)));
    const doubles = Float64Array.from({ length: 2000 }, () => rng.uniform() + 1e-12); // not float32 values: the comparator path
    for (const s of [ties, signed, doubles, Float32Array.from([0.5, 0.25, 0.5])]) expect(Array.from(ascendingOrder(s))).toEqual(byComparator(s));
  });

  it("gauc over thousands of users equals the mean of each user's AUC weighted by impressions", () => {
    const rng = new Rng(6);
    const n = 6000;
    const users = Int32Array.from({ length: n }, () => rng.int(700) * 3 + 11);
    const labels = Float32Array.from({ length: n }, () => (rng.uniform() < 0.3 ? 1 : 0));
    const scores = Float32Array.from({ length: n }, (_, i) => Math.round((rng.uniform() + 0.3 * labels[i]!) * 50) / 50); // ties within users
    const byUser = new Map<number, number[]>();
    users.forEach((u, i) => byUser.set(u, [...(byUser.get(u) ?? []), i]));
    let num = 0;
    let den = 0;
    for (const idx of byUser.values()) {
      const a = auc(idx.map((i) => scores[i]!), idx.map((i) => labels[i]!));
      if (a === null) continue;
      num += a * idx.length;
      den += idx.length;
    }
    expect(gauc(scores, labels, users)).toBe(num / den);
    expect(() => gauc(scores, labels, users.subarray(1))).toThrow("gauc: 5999 users but 6000 scores and 6000 labels");
  });
});
