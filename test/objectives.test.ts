/**
 * The objectives table and ESCM2's counterfactual risks: the estimators' defining properties (IPS is
 * unbiased for the entire-space loss, DR reduces to IPS and to the imputation), the losses computed
 * through the autograd against those float64 definitions, gradient checks, and extreme logits.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCheckpoint, saveCheckpoint } from "../src/node/index.js";
import { Dataset, Esmm, OBJECTIVES, train, PRESETS, PRESET_NAMES, Rng, add, crc32Hex, gradcheck, parameterCount, resolveConfig, tensor, type CounterfactualConfig, type LossContext, type Tensor } from "../src/index.js";
import { checkLossWeights, drEstimate, ipsEstimate, propensityWeights } from "../src/esmm/objectives.js";

const sig = (v: number): number => 1 / (1 + Math.exp(-v));
const softplus = (v: number): number => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
/** BCE(sigmoid(z), y) for a soft or hard label y, in float64. */
const bce = (z: number, y: number): number => softplus(z) - y * z;
const logit = (p: number): number => Math.log(p / (1 - p));

function ctx(a: number[], z: number[], u: number[] | null, click: number[], conv: number[], cf: CounterfactualConfig): LossContext {
  return {
    ctrLogit: tensor(a),
    cvrLogit: tensor(z, undefined, { requiresGrad: true }),
    impLogit: u ? tensor(u, undefined, { requiresGrad: true }) : null,
    click: Float32Array.from(click),
    conversion: Float32Array.from(conv),
    ctcvr: Float32Array.from(click.map((c, i) => c * conv[i]!)),
    counterfactual: cf,
  };
}

describe("the estimators", () => {
  it("IPS over clicks drawn with known propensities has the entire-space loss as its expectation", () => {
    // 50 impressions with propensities from 0.05 to 0.9 and a known CVR loss each (the loss their
    // conversion label would give if it were observed)
    const rng = new Rng(3);
    const B = 50;
    const p = Array.from({ length: B }, (_, i) => 0.05 + (0.85 * i) / (B - 1));
    // rows that are rarely clicked have the larger errors (selection bias: the clicked sample is easy)
    const e = p.map((pi) => 0.2 + 2 * (1 - pi) + 0.3 * rng.uniform());
    const truth = e.reduce((s, v) => s + v, 0) / B;
    const draws = 20_000;
    let mean = 0;
    let sq = 0;
    for (let d = 0; d < draws; d++) {
      const click = p.map((pi) => (rng.uniform() < pi ? 1 : 0));
      const { w, n } = propensityWeights(Float32Array.from(p.map(logit)), Float32Array.from(click), { clip: 0.01, normalize: false });
      const v = ipsEstimate(e, w, n);
      mean += v / draws;
      sq += (v * v) / draws;
    }
    const se = Math.sqrt((sq - mean * mean) / draws);
    expect(Math.abs(mean - truth)).toBeLessThan(4 * se);
    expect(se).toBeLessThan(0.01); // the check has teeth: 4 se is under 0.04 of a truth near 1.4
    // while the clicked-only mean's expectation, sum p e / sum p, is far below the truth
    let pe = 0;
    let ps = 0;
    for (let i = 0; i < B; i++) (pe += p[i]! * e[i]!), (ps += p[i]!);
    expect(truth - pe / ps).toBeGreaterThan(50 * se);
  });

  it("DR is IPS when the imputed errors are zero, the observed mean when every row is clicked with propensity 1, the imputation without clicks", () => {
    const e = [0.3, 1.2, 0.7, 2.0];
    const eHat = [0.5, 0.4, 0.9, 1.1];
    const w = [1 / 0.2, 0, 1 / 0.5, 0];
    expect(drEstimate(e, [0, 0, 0, 0], w, 4)).toBeCloseTo(ipsEstimate(e, w, 4), 15);
    expect(drEstimate(e, eHat, [1, 1, 1, 1], 4)).toBeCloseTo((0.3 + 1.2 + 0.7 + 2.0) / 4, 15);
    expect(drEstimate(e, eHat, [0, 0, 0, 0], 4)).toBeCloseTo((0.5 + 0.4 + 0.9 + 1.1) / 4, 15);
    // and a perfect imputation needs no correction, whatever the propensities
    expect(drEstimate(e, e, w, 4)).toBeCloseTo((0.3 + 1.2 + 0.7 + 2.0) / 4, 15);
  });

  it("propensity weights: 1 / max(pCTR, clip) on clicks, 0 elsewhere; N is B or their sum", () => {
    const a = [logit(0.5), logit(0.01), logit(0.2), logit(0.9)];
    const { w, n, sum } = propensityWeights(Float32Array.from(a), Float32Array.of(1, 1, 0, 1), { clip: 0.05, normalize: false });
    expect(Array.from(w)).toEqual([Math.fround(1 / Math.fround(sig(Math.fround(a[0]!)))), Math.fround(1 / 0.05), 0, Math.fround(1 / sig(Math.fround(a[3]!)))].map((x) => expect.closeTo(x, 5)));
    expect(n).toBe(4);
    expect(sum).toBeCloseTo(2 + 20 + 1 / 0.9, 4);
    expect(propensityWeights(Float32Array.from(a), Float32Array.of(1, 1, 0, 1), { clip: 0.05, normalize: true }).n).toBeCloseTo(2 + 20 + 1 / 0.9, 4);
  });
});

describe("the ESCM2 losses", () => {
  const a = [0.4, -2.5, 1.1, -0.3, 0.0, -4.0];
  const z = [-1.0, 0.5, 2.2, -0.7, 1.3, -2.0];
  const u = [0.2, -1.5, 0.9, 0.0, -0.4, 2.5];
  const click = [1, 0, 1, 1, 0, 1];
  const conv = [1, 0, 0, 1, 0, 0];

  for (const cf of [{ clip: 0.05, normalize: false }, { clip: 0.3, normalize: true }]) {
    const tag = `clip ${cf.clip}${cf.normalize ? ", normalised" : ""}`;
    it(`escm2-ips: its counterfactual term is the IPS estimate of the CVR loss (${tag})`, () => {
      const c = ctx(a, z, null, click, conv, cf);
      const terms = OBJECTIVES["escm2-ips"].loss(c);
      const { w, n } = propensityWeights(c.ctrLogit.data, c.click, cf);
      const e = z.map((zi, i) => bce(Math.fround(zi), conv[i]!));
      expect(terms.counterfactual!.item()).toBeCloseTo(ipsEstimate(e, w, n), 5);
      expect(Object.keys(terms).sort()).toEqual(["counterfactual", "ctr", "cvr"]);
    });

    it(`escm2-dr: the DR estimate with e^ = BCE(pCVR, q), and the imputation loss (${tag})`, () => {
      const c = ctx(a, z, u, click, conv, cf);
      const terms = OBJECTIVES["escm2-dr"].loss(c);
      const { w, n } = propensityWeights(c.ctrLogit.data, c.click, cf);
      const q = u.map((v) => sig(Math.fround(v)));
      const e = z.map((zi, i) => bce(Math.fround(zi), conv[i]!));
      const eHat = z.map((zi, i) => bce(Math.fround(zi), q[i]!));
      expect(terms.counterfactual!.item()).toBeCloseTo(drEstimate(e, eHat, w, n), 5);
      let imp = 0;
      for (let i = 0; i < z.length; i++) imp += (w[i]! * (e[i]! - eHat[i]!) ** 2) / n;
      expect(terms.imputation!.item()).toBeCloseTo(imp, 5);
    });
  }

  // What each term holds fixed is held fixed here too: the propensities always, q in the DR term (it
  // trains the CVR tower), the CVR logit in the imputation term (it trains the imputation tower).
  it("gradients of the IPS and DR terms match central differences in what they train", () => {
    const cf = { clip: 0.05, normalize: false };
    const fixed = ctx(a, z, u, click, conv, cf);
    const live = (v: number[]): Tensor => tensor(v, undefined, { requiresGrad: true });
    const checks: Array<[string, (t: Tensor) => Tensor, number[]]> = [
      ["escm2-ips / z", (zt) => OBJECTIVES["escm2-ips"].loss({ ...fixed, cvrLogit: zt }).counterfactual!, z],
      ["escm2-dr / z", (zt) => OBJECTIVES["escm2-dr"].loss({ ...fixed, cvrLogit: zt }).counterfactual!, z],
      ["escm2-dr imputation / u", (ut) => OBJECTIVES["escm2-dr"].loss({ ...fixed, impLogit: ut }).imputation!, u],
    ];
    for (const [what, f, x] of checks) {
      const r = gradcheck(f, [live(x)], { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
      expect(r.failures, what).toEqual([]);
      expect(r.ok, what).toBe(true);
    }
  });

  it("the DR term sends the CVR logit (sigmoid(z) - q)/B + w (q - y)/N, the imputation term nothing", () => {
    const cf = { clip: 0.05, normalize: false };
    const c = ctx(a, z, u, click, conv, cf);
    const t = OBJECTIVES["escm2-dr"].loss(c);
    t.counterfactual!.backward();
    const { w, n } = propensityWeights(c.ctrLogit.data, c.click, cf);
    const B = z.length;
    z.forEach((zi, i) => {
      const q = sig(Math.fround(u[i]!));
      expect(c.cvrLogit.grad![i]).toBeCloseTo((sig(Math.fround(zi)) - q) / B + (w[i]! * (q - conv[i]!)) / n, 6);
    });
    expect(c.impLogit!.grad === null || Array.from(c.impLogit!.grad).every((g) => g === 0)).toBe(true);
  });

  it("extreme logits give finite losses and gradients", () => {
    const big = [-80, 80, -1e4, 1e4, 30, -30];
    for (const name of ["escm2-ips", "escm2-dr"] as const) {
      const c = ctx(big, big.map((v) => -v), big, [1, 1, 1, 1, 0, 1], [1, 0, 1, 0, 0, 1], { clip: 0.05, normalize: false });
      const terms = OBJECTIVES[name].loss(c);
      let total = terms.ctr!;
      for (const k of ["cvr", "counterfactual", "imputation"] as const) if (terms[k]) total = add(total, terms[k]!);
      expect(Number.isFinite(total.item()), name).toBe(true);
      total.backward();
      expect(Array.from(c.cvrLogit.grad!).every(Number.isFinite), name).toBe(true);
      if (c.impLogit?.grad) expect(Array.from(c.impLogit.grad).every(Number.isFinite), name).toBe(true);
    }
  });
});

describe("bottoms, objectives and presets in checkpoints", () => {
  it("every preset names its bottom and objective; a config may override either; the old `variant` key is refused", () => {
    for (const name of PRESET_NAMES) {
      const m = new Esmm({ preset: name, fields: [{ name: "a", vocab: 3 }], dim: 2, experts: { hidden: [3] }, towers: { hidden: [] } });
      expect(m.config.bottom).toBe(PRESETS[name].bottom);
      expect(m.config.objective).toBe(PRESETS[name].objective);
      expect(m.name).toBe(name);
      expect(m.parameterCount()).toBe(parameterCount(m.config));
    }
    const custom = new Esmm({ bottom: "mmoe", objective: "escm2-dr", fields: [{ name: "a", vocab: 3 }], dim: 2, experts: { hidden: [3] } });
    expect(custom.name).toBe("mmoe/escm2-dr");
    expect(custom.namedParameters().some(([n]) => n.startsWith("towers.imp."))).toBe(true);
    const sep = new Esmm({ preset: "base", fields: [{ name: "a", vocab: 3 }], dim: 2, experts: { hidden: [3] } });
    expect(sep.namedParameters().map(([n]) => n).filter((n) => n.includes("mbeddings"))).toEqual(["embeddings.a.weight", "cvrEmbeddings.a.weight"]);
    expect(() => new Esmm({ variant: "base", fields: [{ name: "a", vocab: 3 }] } as never)).toThrow("config.variant: is gone");
    expect(() => new Esmm({ preset: "esmm", bottom: "tree", fields: [{ name: "a", vocab: 3 }] } as never)).toThrow("config.bottom: must be one of mmoe, shared, separate");
    expect(() => new Esmm({ preset: "escm2-ips", counterfactual: { clip: 0 }, fields: [{ name: "a", vocab: 3 }] })).toThrow("config.counterfactual.clip");
  });

  it("the CVR tower's sizes: [128, 64] for the mmoe bottom by default, the CTR tower's where those are given, and as they were for a checkpoint before format 5", async () => {
    const fields = [{ name: "a", vocab: 5 }, { name: "b", vocab: 4 }];
    const towers = (c: Parameters<typeof resolveConfig>[0]): unknown => resolveConfig(c).towers;
    expect(towers({ fields })).toEqual({ hidden: [64], cvr: [128, 64] }); // esmm-mmoe
    for (const preset of ["esmm", "base", "escm2-dr"] as const) expect(towers({ preset, fields })).toEqual({ hidden: [64], cvr: [64] }); // the paper's nets as they were
    expect(towers({ fields, towers: { hidden: [32] } })).toEqual({ hidden: [32], cvr: [32] });
    expect(towers({ preset: "esmm", fields, towers: { cvr: [16, 8] } })).toEqual({ hidden: [64], cvr: [16, 8] });
    const m = new Esmm({ fields, dim: 2, experts: { hidden: [4] } });
    expect(m.namedParameters().filter(([n]) => n.startsWith("towers.")).map(([n, p]) => `${n} ${p.shape.join("x")}`)).toEqual([
      "towers.ctr.0.weight 64x4", "towers.ctr.0.bias 64", "towers.ctr.1.weight 1x64", "towers.ctr.1.bias 1",
      "towers.cvr.0.weight 128x4", "towers.cvr.0.bias 128", "towers.cvr.1.weight 64x128", "towers.cvr.1.bias 64", "towers.cvr.2.weight 1x64", "towers.cvr.2.bias 1",
    ]);
    // a model.json of format 4 names no CVR tower (and a minimal one no towers at all): its CVR tower was the CTR tower's size
    const dir = mkdtempSync(join(tmpdir(), "esmm-towers-"));
    const old = new Esmm({ fields, dim: 2, experts: { hidden: [4] }, towers: { hidden: [64], cvr: [64] }, seed: 5 });
    await saveCheckpoint(dir, old);
    const path = join(dir, "model.json");
    const j = JSON.parse(readFileSync(path, "utf8")) as { formatVersion: number; config: Record<string, unknown>; preprocessor?: unknown; training?: unknown; checksums: Record<string, string> };
    const { towers: _t, ...rest } = j.config;
    j.formatVersion = 4;
    j.config = rest;
    j.checksums.content = crc32Hex(JSON.stringify([j.config, j.preprocessor ?? null, j.training ?? null]));
    writeFileSync(path, JSON.stringify(j));
    const back = (await loadCheckpoint(dir)).model;
    expect(back.config.towers).toEqual({ hidden: [64], cvr: [64] });
    const ids = Int32Array.of(0, 1, 4, 3, 2, 2);
    expect(Array.from(back.predict(ids).pCvr)).toEqual(Array.from(old.predict(ids).pCvr));
  });

  it("a checkpoint of format 2 loads with its variant's meaning (its base is base-shared) and scores as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-legacy-"));
    const model = new Esmm({ preset: "base-shared", fields: [{ name: "a", vocab: 5 }, { name: "b", vocab: 4 }], dim: 3, experts: { hidden: [4] }, towers: { hidden: [] }, seed: 3 });
    await saveCheckpoint(dir, model);
    const path = join(dir, "model.json");
    const j = JSON.parse(readFileSync(path, "utf8")) as { formatVersion: number; config: Record<string, unknown>; preprocessor?: unknown; training?: unknown; checksums: Record<string, string> };
    const { bottom: _b, objective: _o, counterfactual: _c, ...rest } = j.config;
    j.formatVersion = 2;
    j.config = { variant: "base", ...rest };
    j.checksums.content = crc32Hex(JSON.stringify([j.config, j.preprocessor ?? null, j.training ?? null]));
    writeFileSync(path, JSON.stringify(j));
    const back = (await loadCheckpoint(dir)).model;
    expect(back.name).toBe("base-shared");
    const ids = Int32Array.of(0, 1, 4, 3, 2, 2);
    expect(Array.from(back.predict(ids).pCvr)).toEqual(Array.from(model.predict(ids).pCvr));
  });
});

describe("loss weights as a caller gives them", () => {
  it("are checked term by term, and against the objective's terms; train() refuses what it would have mistrained", async () => {
    const esmm = resolveConfig({ preset: "esmm", fields: [{ name: "x", vocab: 2 }] });
    const dr = resolveConfig({ preset: "escm2-dr", fields: [{ name: "x", vocab: 2 }] });
    expect(checkLossWeights({ ctr: 1, cvr: 0.5, counterfactual: 0 }, "w", dr)).toEqual({ ctr: 1, cvr: 0.5, counterfactual: 0 });
    expect(() => checkLossWeights({ ctrr: 1 }, "w")).toThrow("w.ctrr: is not a loss term (ctr, cvr, counterfactual, imputation)");
    expect(() => checkLossWeights({ cvr: -1 }, "w")).toThrow("w.cvr: must be a finite number >= 0, got -1");
    expect(() => checkLossWeights({ cvr: "2" }, "w")).toThrow('w.cvr: must be a finite number >= 0, got "2"');
    expect(() => checkLossWeights([1, 1], "w")).toThrow("w: must be an object of loss terms' weights");
    // 0 on every term of the objective trains nothing; a term the objective lacks does not count
    expect(() => checkLossWeights({ ctr: 0, cvr: 0, counterfactual: 5 }, "w", esmm)).toThrow("w: every term of the entire-space objective (ctr, cvr) weighs 0, so nothing would be trained");
    expect(checkLossWeights({ ctr: 0, cvr: 0 }, "w", dr)).toEqual({ ctr: 0, cvr: 0 }); // counterfactual and imputation keep 1
    const model = new Esmm({ preset: "esmm", fields: [{ name: "x", vocab: 2 }], dim: 2, seed: 1 });
    const data = new Dataset(2, Int32Array.of(1, 2), 1, [], null, 0, Float32Array.of(1, 0), Float32Array.of(0, 0));
    await expect(train(model, data, { lossWeights: { ctrr: 1 } as never })).rejects.toThrow("train: lossWeights.ctrr: is not a loss term");
  });
});
