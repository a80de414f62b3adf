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
