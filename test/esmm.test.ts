import { describe, expect, it } from "vitest";
import { AppStoreSimulator, Dataset, Esmm, Rng, denseGrad, denseStats, evaluate, evaluateWithGates, gateUsage, gradcheck, train, type LabeledBatch, type MetricName } from "../src/index.js";

/** A tiny all-single-field model and a batch with labels. */
function tiny(variant: "esmm-mmoe" | "esmm" | "base", seed = 1, share: "all" | "owned" = "owned", gatePrior = 3): Esmm {
  return new Esmm({
    preset: variant,
    fields: [{ name: "user", vocab: 10 }, { name: "item", vocab: 8 }, { name: "pos", vocab: 4 }],
    dim: 4,
    experts: { count: 2, hidden: [8, 6], share, gatePrior },
    towers: { hidden: [5] },
    seed,
  });
}

function batchOf(n: number, seed: number): LabeledBatch {
  const rng = new Rng(seed);
  const ids = new Int32Array(n * 3);
  const click = new Float32Array(n);
  const conversion = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    ids[i * 3] = rng.int(10);
    ids[i * 3 + 1] = rng.int(8);
    ids[i * 3 + 2] = rng.int(4);
    // a learnable rule: low item ids are clicked, even users convert
    click[i] = ids[i * 3 + 1]! < 3 || rng.bernoulli(0.1) ? 1 : 0;
    conversion[i] = click[i]! && ids[i * 3]! % 2 === 0 ? 1 : 0;
  }
  return { size: n, ids, bags: [], dense: null, click, conversion };
}

describe("Esmm forward", () => {
  it("returns named outputs of the right shapes, with pCtcvr = pCtr * pCvr", () => {
    const m = tiny("esmm-mmoe");
    const b = batchOf(7, 1);
    const o = m.forward(b.ids);
    for (const t of [o.ctrLogit, o.cvrLogit, o.pCtr, o.pCvr, o.pCtcvr]) expect(t.shape).toEqual([7]);
    expect(o.gates!.ctr.shape).toEqual([7, 2]);
    for (let i = 0; i < 7; i++) expect(o.pCtcvr.data[i]).toBe(Math.fround(o.pCtr.data[i]! * o.pCvr.data[i]!));
    expect(tiny("esmm").forward(b.ids).gates).toBe(undefined);
  });

  it("{ draw: false } leaves every embedding table at zero and draws the rest; loading a drawn model's weights makes it that model", () => {
    const drawn = tiny("esmm-mmoe");
    const blank = new Esmm(drawn.config, { draw: false });
    const tables = (m: Esmm): Float32Array[] => m.namedParameters().filter(([n]) => n.startsWith("embeddings.")).map(([, p]) => p.data);
    expect(tables(blank).length).toBe(drawn.config.fields.length);
    for (const t of tables(blank)) expect(t.every((v) => v === 0)).toBe(true);
    for (const t of tables(drawn)) expect(t.some((v) => v !== 0)).toBe(true);
    const gate = (m: Esmm): Float32Array => m.gates!.ctr.linear.weight.data;
    expect(gate(blank).some((v) => v !== 0)).toBe(true);
    for (const [n, p] of blank.namedParameters()) p.data.set(new Map(drawn.namedParameters()).get(n)!.data);
    const b = batchOf(5, 3);
    expect(Array.from(blank.forward(b.ids).pCtcvr.data)).toEqual(Array.from(drawn.forward(b.ids).pCtcvr.data));
  });

  it("a zero gate weighs each expert 1/E", () => {
    const m = tiny("esmm-mmoe");
    for (const g of [m.gates!.ctr, m.gates!.cvr]) for (const p of g.parameters()) p.data.fill(0);
    const o = m.forward(batchOf(5, 2).ids);
    expect(Array.from(o.gates!.ctr.data).every((v) => v === 0.5)).toBe(true);
    expect(Array.from(o.gates!.cvr.data).every((v) => v === 0.5)).toBe(true);
  });

  it("names its parameters as checkpoints expect", () => {
    const names = tiny("esmm-mmoe").namedParameters().map(([n]) => n);
    expect(names).toEqual([
      "embeddings.user.weight", "embeddings.item.weight", "embeddings.pos.weight",
      "experts.0.0.weight", "experts.0.0.bias", "experts.0.1.weight", "experts.0.1.bias",
      "experts.1.0.weight", "experts.1.0.bias", "experts.1.1.weight", "experts.1.1.bias",
      "gates.ctr.weight", "gates.ctr.bias", "gates.cvr.weight", "gates.cvr.bias",
      "towers.ctr.0.weight", "towers.ctr.0.bias", "towers.ctr.1.weight", "towers.ctr.1.bias",
      "towers.cvr.0.weight", "towers.cvr.0.bias", "towers.cvr.1.weight", "towers.cvr.1.bias",
    ]);
    const shapes = Object.fromEntries(tiny("esmm-mmoe").namedParameters().map(([n, p]) => [n, p.shape]));
    expect(shapes["experts.0.0.weight"]).toEqual([8, 12]); // [H, F*D]
    expect(shapes["gates.cvr.weight"]).toEqual([2, 12]);
    expect(shapes["towers.ctr.1.weight"]).toEqual([1, 5]);
  });

  it("rejects ids out of range naming the field", () => {
    const m = tiny("esmm");
    expect(() => m.forward(Int32Array.from([0, 8, 0]))).toThrow(/id 8 at row 0, field item is out of range for a table of 8 rows/);
  });

  it("names what is wrong with an input that is not a batch (JavaScript callers can pass anything)", () => {
    const m = tiny("esmm");
    const f = (x: unknown) => () => m.predict(x as Int32Array);
    // each of these once ended in a TypeError inside an op, or in scores of a wrong size
    expect(f(Float32Array.of(0, 1, 0))).toThrow("Esmm.forward: expected a batch ({ size, ids: Int32Array, bags, dense }) or an Int32Array of ids, got Float32Array");
    expect(f([0, 1, 0])).toThrow("got Array");
    expect(f(undefined)).toThrow("got undefined");
    expect(f({ size: 1, ids: [0, 1, 0], bags: [], dense: null })).toThrow("Esmm.forward: batch.ids must be an Int32Array, got Array");
    expect(f({ size: Number.NaN, ids: Int32Array.of(0, 1, 0), bags: [], dense: null })).toThrow("Esmm.forward: batch.size must be a whole number of rows, got NaN");
    expect(f({ size: 1, ids: Int32Array.of(0, 1, 0), dense: null })).toThrow("Esmm.forward: batch.bags must be an array (one bag per multi-valued field), got undefined");
    expect(f({ size: 1, ids: Int32Array.of(0, 1, 0), bags: [], dense: [1] })).toThrow("Esmm.forward: batch.dense must be a Float32Array or null, got Array");
    // and a well-formed batch still scores
    expect(m.predict({ size: 1, ids: Int32Array.of(0, 1, 0), bags: [], dense: null }).pCtr.length).toBe(1);
  });

  it("the whole model passes a gradient check along random directions", () => {
    // plain MMoE with even gates: owned experts are, by design, not trained by the full gradient
    // (below); the gate prior only changes initial bias values, not a backward, and with it one of
    // these float32 central differences lands 2.4% off (the tolerance is float32's 1e-3 relative)
    const m = tiny("esmm-mmoe", 1, "all", 0);
    const b = batchOf(6, 3);
    const params = m.parameters().filter((p) => !p.sparse);
    const res = gradcheck(() => m.loss(m.forward(b.ids), b.click, b.conversion).total, params, { maxExhaustive: 0, directions: 2 });
    expect(res.failures).toEqual([]);
  });

  it("expert dropout: drops whole experts per row while training only, the same way for a seed", () => {
    const b = batchOf(64, 5);
    const make = (dropout: number): Esmm => new Esmm({ preset: "esmm-mmoe", fields: [{ name: "user", vocab: 10 }, { name: "item", vocab: 8 }, { name: "pos", vocab: 4 }], dim: 4, experts: { count: 2, hidden: [8, 6], dropout }, towers: { hidden: [5] }, seed: 3 });
    const [d, plain, again] = [make(0.5), make(0), make(0.5)];
    // scoring never drops: the same weights score the same with or without dropout
    expect(Array.from(d.predict(b.ids).pCtcvr)).toEqual(Array.from(plain.predict(b.ids).pCtcvr));
    // training does, per row, and a second model of the same seed draws the same masks
    const t1 = d.forward(b.ids).pCtcvr.data;
    expect(Array.from(t1)).not.toEqual(Array.from(plain.forward(b.ids).pCtcvr.data));
    expect(Array.from(again.forward(b.ids).pCtcvr.data)).toEqual(Array.from(t1));
    expect(() => make(0.95)).toThrow("config.experts.dropout: must be <= 0.9");
  });

  it("owned experts: the same forward pass as plain MMoE, and each task's loss trains its own expert only", () => {
    const b = batchOf(12, 4);
    const owned = tiny("esmm-mmoe", 2, "owned");
    const all = tiny("esmm-mmoe", 2, "all");
    expect(Array.from(owned.forward(b.ids).pCtcvr.data)).toEqual(Array.from(all.forward(b.ids).pCtcvr.data));
    const expertGradNorms = (m: Esmm, w: { ctr: number; cvr: number }): number[] => {
      m.zeroGrad();
      m.loss(m.forward(b.ids), b.click, b.conversion, w).total.backward();
      return m.experts.map((e) => Math.hypot(...e.parameters().flatMap((p) => Array.from(denseGrad(p)))));
    };
    // the CTR loss reaches expert 1 (the CVR task's) only in plain MMoE
    const [o0, o1] = expertGradNorms(owned, { ctr: 1, cvr: 0 });
    const [a0, a1] = expertGradNorms(all, { ctr: 1, cvr: 0 });
    expect(o1).toBe(0);
    expect(a1).toBeGreaterThan(0);
    expect(o0).toBeCloseTo(a0!, 6); // expert 0's CTR gradient is the same in both
    // the CTCVR term trains expert 1 through the CVR tower, and expert 0 only through the CTR tower
    const [, c1] = expertGradNorms(owned, { ctr: 0, cvr: 1 });
    expect(c1).toBeGreaterThan(0);
  });

  it("refuses a new model whose one expert only the CTR task would train; one expert shared by both tasks, and a loaded checkpoint's, are built", () => {
    const one = (share: "all" | "owned" | "cgc", draw?: boolean): Esmm =>
      new Esmm({ preset: "esmm-mmoe", fields: [{ name: "user", vocab: 10 }], dim: 4, experts: { count: 1, hidden: [6], share } }, draw === undefined ? {} : { draw });
    for (const share of ["owned", "cgc"] as const) expect(() => one(share)).toThrow(`config.experts.count: is 1 with share "${share}"`);
    // with share "all" the one expert is trained by both tasks: the CVR loss reaches it
    const m = one("all");
    const b = batchOf(12, 4);
    m.loss(m.forward(b.ids.filter((_, i) => i % 3 === 0)), b.click, b.conversion, { ctr: 0, cvr: 1 }).total.backward();
    expect(Math.hypot(...m.experts[0]!.parameters().flatMap((p) => Array.from(denseGrad(p))))).toBeGreaterThan(0);
    // a checkpoint holding one (weights loaded next) still loads, so an old model stays usable
    expect(one("owned", false).experts.length).toBe(1);
  });
});

describe("the entire-space loss", () => {
  it("is finite at logits of +-50 and +-100", () => {
    const m = tiny("esmm");
    const b = batchOf(4, 4);
    const o = m.forward(b.ids);
    o.ctrLogit.data.set([50, -50, 100, -100]);
    o.cvrLogit.data.set([-100, 100, -50, 50]);
    const l = m.loss(o, Float32Array.of(1, 0, 1, 1), Float32Array.of(0, 0, 1, 1));
    expect(Number.isFinite(l.total.item())).toBe(true);
    l.total.backward();
    for (const p of m.parameters()) for (const v of denseGrad(p)) expect(Number.isFinite(v)).toBe(true);
  });

  it("rejects a conversion without a click", () => {
    const m = tiny("esmm");
    const o = m.forward(batchOf(2, 5).ids);
    expect(() => m.loss(o, Float32Array.of(0, 1), Float32Array.of(1, 1))).toThrow("row 0 has a conversion without a click");
  });

  it("base: unclicked rows give the CVR net no gradient at all", () => {
    const grads = (variant: "base" | "esmm", b: LabeledBatch): Float32Array[] => {
      const m = tiny(variant, 9);
      m.loss(m.forward(b.ids), b.click, b.conversion).total.backward();
      return m.towers.cvr.parameters().map((p) => denseGrad(p));
    };
    const all = batchOf(40, 6);
    const clicked: number[] = [];
    for (let i = 0; i < all.size; i++) if (all.click[i] === 1) clicked.push(i);
    expect(clicked.length).toBeGreaterThan(3);
    expect(clicked.length).toBeLessThan(all.size);
    const sub: LabeledBatch = {
      size: clicked.length,
      ids: Int32Array.from(clicked.flatMap((i) => [all.ids[i * 3]!, all.ids[i * 3 + 1]!, all.ids[i * 3 + 2]!])),
      bags: [],
      dense: null,
      click: Float32Array.from(clicked.map((i) => all.click[i]!)),
      conversion: Float32Array.from(clicked.map((i) => all.conversion[i]!)),
    };
    // The clicked-only mean over the full batch equals the mean over the clicked rows: same gradient.
    const gAll = grads("base", all);
    const gSub = grads("base", sub);
    gAll.forEach((g, k) => {
      for (let i = 0; i < g.length; i++) expect(g[i]).toBeCloseTo(gSub[k]![i]!, 6);
    });
    // A batch with no click at all leaves the base CVR net untouched, while ESMM still trains it.
    const none: LabeledBatch = { ...all, click: new Float32Array(all.size), conversion: new Float32Array(all.size) };
    expect(grads("base", none).every((g) => g.every((v) => v === 0))).toBe(true);
    expect(grads("esmm", none).some((g) => g.some((v) => v !== 0))).toBe(true);
  });
});

describe("training", () => {
  const data = (): { batches: (e: number) => LabeledBatch[] } => ({ batches: (e) => [0, 1, 2, 3].map((k) => batchOf(64, 100 + k + 4 * (e % 2))) });

  it("a seeded tiny run's loss falls, and two runs agree bit for bit", async () => {
    const run = async (): Promise<{ losses: number[]; w: number[] }> => {
      const m = tiny("esmm-mmoe", 3);
      const r = await train(m, data(), { epochs: 8, lr: 0.02 });
      return { losses: r.history.map((h) => h.loss), w: m.parameters().flatMap((p) => Array.from(p.data)) };
    };
    const a = await run();
    const b = await run();
    expect(a.losses[7]!).toBeLessThan(a.losses[0]! * 0.8);
    expect(b.w).toEqual(a.w);
    expect(b.losses).toEqual(a.losses);
  });

  it("stops early on a validation metric and restores the best weights", async () => {
    const sim = new AppStoreSimulator({ users: 200, apps: 100, seed: 3 });
    const tr = sim.dataset(3000, 0);
    const va = sim.dataset(1000, 1);
    const st = denseStats(tr);
    const m = new Esmm({ preset: "esmm", fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], denseMean: st.mean, denseStd: st.std, dim: 4, experts: { count: 2, hidden: [16] }, towers: { hidden: [8] } });
    const seen: Array<Map<string, Float32Array>> = [];
    const r = await train(m, tr, {
      epochs: 6,
      batchSize: 256,
      lr: 0.05, // deliberately high so that validation log loss turns up
      valid: va,
      earlyStopping: { metric: "ctrLogLoss", patience: 1 },
      onEpoch: () => {
        seen.push(m.stateDict());
      },
    });
    const losses = r.history.map((h) => h.valid!.ctrLogLoss!);
    const best = losses.indexOf(Math.min(...losses));
    expect(r.bestEpoch).toBe(best);
    // the run stopped one epoch after the best one, or ran out of epochs
    expect(r.history.length === best + 2 || r.history.length === 6).toBe(true);
    const now = m.stateDict();
    for (const [k, v] of seen[best]!) expect(Array.from(now.get(k)!)).toEqual(Array.from(v));
  });

  it("refuses early stopping on a metric the validation set leaves undefined, before training", async () => {
    // with no clicks in the validation set every epoch's CVR AUC was NaN: training stopped after one
    // epoch of the asked three, saying the metric "has not improved"
    const sim = new AppStoreSimulator({ users: 100, apps: 50, seed: 3 });
    const tr = sim.dataset(600, 0);
    const m = new Esmm({ preset: "esmm", fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], dim: 4, experts: { count: 2, hidden: [8] }, towers: { hidden: [4] } });
    const before = m.stateDict();
    const noClicks = sim.dataset(300, 1);
    noClicks.click.fill(0);
    noClicks.conversion.fill(0);
    const neverConverts = sim.dataset(300, 2);
    neverConverts.conversion.fill(0);
    const cases: Array<[Dataset, MetricName, string]> = [
      [noClicks, "cvrAuc", "the validation set has no clicks, so cvrAuc is undefined on it at every epoch"],
      [noClicks, "ctrAuc", "has no clicks"],
      [noClicks, "cvrLogLoss", "has no clicks"],
      [neverConverts, "cvrAuc", "has no conversions among its clicks"],
      [neverConverts, "ctcvrAuc", "has no conversions"],
    ];
    for (const [valid, metric, msg] of cases) await expect(train(m, tr, { epochs: 3, valid, earlyStopping: { metric } }), metric).rejects.toThrow(msg);
    for (const [k, v] of before) expect(Array.from(m.stateDict().get(k)!), k).toEqual(Array.from(v)); // nothing trained
    // metrics that are defined there still stop early as before
    expect((await train(m, tr, { epochs: 1, valid: noClicks, earlyStopping: { metric: "ctrLogLoss" } })).history.length).toBe(1);
  });

  it("evaluateWithGates gives evaluate's metrics and gateUsage's means from one pass", () => {
    const sim = new AppStoreSimulator({ users: 80, apps: 40, seed: 5 });
    const ds = sim.dataset(700, 2);
    const m = new Esmm({ preset: "esmm-mmoe", fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], dim: 4, experts: { count: 2, hidden: [8] }, towers: { hidden: [4] } });
    const both = evaluateWithGates(m, ds, 256);
    expect(both.metrics).toEqual(evaluate(m, ds, 256));
    expect(both.gates).toEqual(gateUsage(m, ds, 256));
    // each task's gate weights are a softmax: its mean usage over the experts sums to 1
    expect(both.gates!.ctr[0]! + both.gates!.ctr[1]!).toBeCloseTo(1, 5);
    expect(both.gates!.cvr[0]! + both.gates!.cvr[1]!).toBeCloseTo(1, 5);
    const plain = new Esmm({ preset: "esmm", fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], dim: 4, experts: { count: 2, hidden: [8] }, towers: { hidden: [4] } });
    expect(evaluateWithGates(plain, ds).gates).toBe(null); // no gates without experts
  });

  it("the simulator's multi-valued and dense features flow through the model", () => {
    const sim = new AppStoreSimulator({ users: 50, apps: 30, seed: 4 });
    const ds = sim.dataset(16);
    const m = new Esmm({ preset: "esmm-mmoe", fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], dim: 4, experts: { count: 2, hidden: [8] }, towers: { hidden: [4] } });
    const o = m.forward(ds.all());
    expect(o.pCtr.shape).toEqual([16]);
    m.loss(o, ds.click, ds.conversion).total.backward();
    const bagTable = m.embeddings[m.config.fields.findIndex((f) => f.name === "recent_cats")]!.weight;
    // the bag table receives rows for exactly the categories present in the batch's bags
    const present = new Set(Array.from(ds.bags[0]!.ids));
    expect(new Set(Array.from(bagTable.sparseGrad!.rows))).toEqual(present);
  });
});
