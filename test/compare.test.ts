/**
 * Comparisons over seeds: the paired statistics against hand-derived values, `esmm compare` end to
 * end (deterministic, its differences consistent with its per-seed values), and the CLI's model
 * choice (--bottom, --objective, --emb-init) recorded in and enforced by checkpoints.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { AppStoreSimulator, IdVocabulary, meanOf, pairedDifference, sampleStd, t975, type Dataset } from "../src/index.js";
import { checkSchema, fitAndLoad, loadDataset, openSource } from "../src/node/index.js";
import { jobCost, planLanes } from "../src/cli/jobs.js";
import { COMPARE_METRICS, compareTable, type ModelSummary } from "../src/cli/comparison.js";
import type { DemoJob } from "../src/cli/demo-run.js";
import { runCli } from "./helpers.js";

const run = runCli;

describe("paired statistics", () => {
  it("mean, sample std and the paired 95% interval, by hand", () => {
    expect(meanOf([1, 2, 6])).toBe(3);
    expect(sampleStd([1, 2, 6])).toBeCloseTo(Math.sqrt((4 + 1 + 9) / 2), 12);
    // differences 1, 2, 2: mean 5/3, sd sqrt(1/3), half-width t(2) sd / sqrt(3) = 4.303 / 3
    const d = pairedDifference([1, 2, 3], [2, 4, 5]);
    expect(d.mean).toBeCloseTo(5 / 3, 12);
    expect(d.std).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(d.hi - d.mean).toBeCloseTo(4.303 / 3, 12);
    expect(d.mean - d.lo).toBeCloseTo(4.303 / 3, 12);
    expect(t975(4)).toBe(2.776);
    expect(t975(1000)).toBeCloseTo(1.96 + 0.082 * 0.03, 9);
    expect(() => pairedDifference([1], [1, 2])).toThrow("are not pairs");
  });
});

describe("the comparison's tables", () => {
  it("with one seed there is no spread: the std and the interval print '-', and it says 1 seed", () => {
    const metric: ModelSummary["metrics"][string] = { values: [0.7], mean: 0.7, std: sampleStd([0.7]), vs: { a: null } };
    const other = { ...metric, values: [0.75], mean: 0.75, vs: { a: pairedDifference([0.7], [0.75]) } };
    const model = (name: string, m: typeof metric): ModelSummary => ({ name, spec: { bottom: "shared", objective: "entire-space" } as const, metrics: Object.fromEntries(COMPARE_METRICS.map((x) => [x.key, m])), bestEpochs: [1], seconds: 1 });
    const c = { baselines: ["a"], seeds: [1], setup: {}, models: [model("a", metric), model("b", other)] };
    const text = compareTable(c);
    expect(text).toContain("CTR AUC (1 seed; higher is better)");
    expect(text).toContain("\n  b          0.7500       -  +0.0500 [-, -]\n");
    expect(text).not.toContain("0.0000");
    expect(compareTable({ ...c, seeds: [1, 2] })).toContain("(2 seeds; higher is better)");
  });
});

describe("the order lanes take jobs in", () => {
  const job = (variant: string, extra: Partial<DemoJob> = {}): DemoJob => ({ variant, model: { bottom: "shared", objective: "entire-space" }, trainRows: 1000, validRows: 200, testRows: 1000, epochs: 2, batch: 64, lr: 1e-3, seed: 1, sim: { seed: 7, ctr: 1, cvr: 1, bias: 1 }, ...extra });
  it("counts rows passed through the model: training 3x, each epoch's validation, the test and the A/B candidates", () => {
    // (3 * 1000 * 2 + 200 * 2 + 1000) rows, times 2 nets (one per task)
    expect(jobCost(job("a"))).toBe(2 * 7400);
    expect(jobCost(job("a", { abtest: { sessions: 10, candidates: 50, top: 5, seed: 1 } }))).toBe(2 * (7400 + 500));
    expect(jobCost(job("a", { model: { bottom: "mmoe", objective: "entire-space", experts: { count: 4 } } }))).toBe(4 * 7400);
  });
  it("plans lanes of about equal work where taking the most work first leaves one lane a job more", () => {
    // most work first to the least loaded lane: [3, 2, 2] = 7 and [3, 2] = 5; one swap gives 6 and 6
    expect(planLanes([3, 3, 2, 2, 2], 2)).toEqual([[2, 3, 4], [0, 1]]);
    // the demo's shape before 2026-12-08 (each model's first seed also played the A/B test): those three and one more
    // on one lane, the five others on the other, each lane the most work first, ties in job order
    const ab = { abtest: { sessions: 2000, candidates: 50, top: 10, seed: 1 } };
    const sizes = { trainRows: 100_000, validRows: 20_000, testRows: 100_000 };
    const demo = ["m", "e", "b"].flatMap((v) => [job(v, { ...sizes, ...ab }), job(v, sizes), job(v, sizes)]);
    expect(planLanes(demo.map(jobCost), 2)).toEqual([[0, 3, 6, 7], [1, 2, 4, 5, 8]]);
    // every job planned once, whatever the lanes
    for (const lanes of [1, 3, 4, 12]) expect(planLanes(demo.map(jobCost), lanes).flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(planLanes([5, 1, 1], 3)).toEqual([[0], [1], [2]]);
  });
});

describe("esmm compare", () => {
  const small = ["--rows", "3000", "--seeds", "3", "--dim", "4", "--expert-hidden", "16,8", "--tower-hidden", "4", "--workers", "0", "--json"];
  let first: { baselines: string[]; seeds: number[]; models: Array<{ name: string; metrics: Record<string, { values: number[]; mean: number; std: number; vs: Record<string, { mean: number; lo: number; hi: number } | null> }> }>; runs: Array<{ model: string; seed: number }> };

  beforeAll(async () => {
    const r = await run("compare", "--presets", "esmm,escm2-ips", "--bottoms", "separate", "--objectives", "escm2-dr", "--baseline", "esmm,escm2-ips", ...small);
    expect(r.code, r.err).toBe(0);
    first = JSON.parse(r.out);
  }, 120_000);

  it("trains every model for every seed and pairs the differences by seed", () => {
    expect(first.models.map((m) => m.name)).toEqual(["esmm", "escm2-ips", "separate/escm2-dr"]);
    expect(first.baselines).toEqual(["esmm", "escm2-ips"]);
    expect(first.seeds).toEqual([1, 2, 3]);
    expect(first.runs.map((r) => `${r.model}:${r.seed}`)).toEqual(["esmm:1", "esmm:2", "esmm:3", "escm2-ips:1", "escm2-ips:2", "escm2-ips:3", "separate/escm2-dr:1", "separate/escm2-dr:2", "separate/escm2-dr:3"]);
    const base = first.models[0]!.metrics.cvrAucEntireSpace!;
    expect(base.vs.esmm).toBeNull();
    expect(first.models[1]!.metrics.cvrAucEntireSpace!.vs["escm2-ips"]).toBeNull();
    for (const [bi, b] of [[0, "esmm"], [1, "escm2-ips"]] as const) {
      const ref = first.models[bi]!.metrics.cvrAucEntireSpace!;
      for (const m of first.models.filter((_, i) => i !== bi)) {
        const s = m.metrics.cvrAucEntireSpace!;
        expect(s.values).toHaveLength(3);
        const diffs = s.values.map((v, i) => v - ref.values[i]!);
        expect(s.vs[b]!.mean).toBeCloseTo(meanOf(diffs), 12);
        expect(s.vs[b]!.hi - s.vs[b]!.mean).toBeCloseTo((t975(2) * sampleStd(diffs)) / Math.sqrt(3), 12);
        expect(s.mean).toBeCloseTo(meanOf(s.values), 12);
      }
    }
    // different models really are different runs
    expect(first.models[1]!.metrics.cvrAucEntireSpace!.values).not.toEqual(base.values);
  });

  it("gives the same numbers on every run and whether the models train inline or on workers", async () => {
    // worker threads run the built CLI (dist/, which test/global-setup.ts builds)
    const again = await new Promise<string>((res, rej) =>
      execFile(process.execPath, [join(import.meta.dirname, "..", "dist", "cli", "bin.js"), "compare", "--presets", "esmm,escm2-ips", "--bottoms", "separate", "--objectives", "escm2-dr", "--baseline", "esmm,escm2-ips", ...small.slice(0, -3), "--workers", "2", "--json"], { maxBuffer: 1 << 26 }, (e, out) => (e ? rej(e) : res(out))),
    );
    const j = JSON.parse(again) as typeof first;
    expect(j.models.map((m) => m.metrics)).toEqual(first.models.map((m) => m.metrics));
  }, 120_000);

  it("prints tables, writes an HTML report, and refuses a baseline it does not train", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-compare-"));
    const r = await run("compare", "--presets", "esmm,base", "--rows", "2000", "--seeds", "2", "--dim", "4", "--expert-hidden", "8", "--workers", "0", "--out", dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("CVR AUC, entire space (vs true pCVR) (2 seeds; higher is better)");
    expect(r.out).toMatch(/\n {2}base +0\.\d{4} +0\.\d{4} +[+-]0\.\d{4} \[[+-]0\.\d{4}, [+-]0\.\d{4}\]/);
    const html = readFileSync(join(dir, "compare.html"), "utf8");
    expect(html).toContain("<h1>esmm-ts: models compared over 2 seeds</h1>");
    expect(JSON.parse(readFileSync(join(dir, "compare.json"), "utf8")).runs).toHaveLength(4);
    const bad = await run("compare", "--presets", "esmm", "--baseline", "base", "--rows", "200");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--baseline "base" is not one of the models compared (esmm)');
    expect((await run("compare", "--objectives", "magic")).code).toBe(2);
  }, 120_000);

  it("simulates the world size it is given (--users, --apps), as esmm generate does", async () => {
    const once = ["--presets", "esmm", "--rows", "2000", "--seeds", "1", "--dim", "4", "--expert-hidden", "8", "--tower-hidden", "4", "--workers", "0", "--json"];
    const metrics = async (...world: string[]) => {
      const r = await run("compare", ...once, ...world);
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as { setup: Record<string, unknown>; models: Array<{ metrics: Record<string, { values: number[] }> }> };
      return { setup: j.setup, values: j.models[0]!.metrics.ctrAuc!.values };
    };
    const byDefault = await metrics();
    const explicit = await metrics("--users", "20000", "--apps", "4000");
    const sparse = await metrics("--users", "200000", "--apps", "40000");
    expect(byDefault.setup["simulator users"]).toBe(20000);
    expect(sparse.setup).toMatchObject({ "simulator users": 200000, "simulator apps": 40000 });
    expect(explicit.values).toEqual(byDefault.values); // the defaults are the generator's
    expect(sparse.values).not.toEqual(byDefault.values); // another world, other users and apps
    expect((await run("compare", ...once, "--users", "0")).code).toBe(2);
  }, 120_000);
});

describe("simulated data with the vocabularies esmm train fits", () => {
  const world = { seed: 7, users: 200, apps: 80 };
  const sim = new AppStoreSimulator(world);
  const bagIds = (d: Dataset): number[] => Array.from(d.bags[0]!.ids);

  it("gives every id the row the generated CSV file gives it, in training and in later streams, at any min count", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-fit-ids-"));
    const [train, valid] = [join(dir, "train.csv"), join(dir, "valid.csv")];
    expect((await run("generate", "--rows", "3000", "--out", train, "--users", "200", "--apps", "80")).code).toBe(0);
    expect((await run("generate", "--rows", "1000", "--stream", "1", "--out", valid, "--users", "200", "--apps", "80")).code).toBe(0);
    const [tr, va] = [sim.dataset(3000, 0), sim.dataset(1000, 1)];
    for (const minCount of [1, 3]) {
      const { pre, data } = await fitAndLoad(await openSource({ format: "csv", path: train, csv: {} }), { minCount });
      const src = await openSource({ format: "csv", path: valid, csv: {} });
      checkSchema(src, pre, valid);
      const fromFile = await loadDataset(src, pre);
      const v = IdVocabulary.fit(tr, sim.fieldSpecs(), { minCount });
      expect(v.fields).toEqual(pre.fieldSpecs());
      const [a, b] = [v.dataset(tr), v.dataset(va)];
      expect(a.ids).toEqual(data.ids);
      expect(bagIds(a)).toEqual(bagIds(data));
      expect(b.ids).toEqual(fromFile.ids);
      expect(bagIds(b)).toEqual(bagIds(fromFile));
      expect(b.click).toBe(va.click); // labels and truth are the simulator's own arrays
    }
  });

  it("reads an id the training rows never hold as the out-of-vocabulary row 0, and refuses one outside the world", () => {
    const tr = sim.dataset(400, 0);
    const te = sim.dataset(400, 2);
    const Fs = tr.numSingle;
    const seen = new Set(Array.from({ length: tr.size }, (_, r) => tr.ids[r * Fs]!)); // user_id, field 0
    const unseen = Array.from({ length: te.size }, (_, r) => r).filter((r) => !seen.has(te.ids[r * Fs]!));
    expect(unseen.length).toBeGreaterThan(10); // 200 users, 400 rows: many are not in training
    const v = IdVocabulary.fit(tr, sim.fieldSpecs());
    expect(v.fields[0]).toEqual({ name: "user_id", kind: "single", vocab: seen.size + 1 });
    const mapped = v.dataset(te);
    for (const r of unseen) expect(mapped.ids[r * Fs]).toBe(0);
    for (let r = 0; r < te.size; r++) if (seen.has(te.ids[r * Fs]!)) expect(mapped.ids[r * Fs]).toBeGreaterThan(0);
    const b = te.take([0], 0, 1);
    b.ids[0] = 200;
    expect(() => v.batch(b)).toThrow("IdVocabulary: field user_id has ids 0..199, got 200");
  });

  it("esmm compare fits them by default; --vocab world gives every id of the world a row, as comparisons did before", async () => {
    const once = ["--presets", "esmm", "--rows", "2000", "--seeds", "1", "--dim", "4", "--expert-hidden", "8", "--tower-hidden", "4", "--workers", "0", "--users", "2000", "--apps", "300", "--json"];
    const parsed = async (...extra: string[]) => {
      const r = await run("compare", ...once, ...extra);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as { setup: Record<string, unknown>; models: Array<{ metrics: Record<string, { values: number[] }> }>; runs: Array<{ model: string }> };
    };
    const fitted = await parsed();
    const explicit = await parsed("--vocab", "fitted", "--min-count", "1");
    const worldRows = await parsed("--vocab", "world");
    expect(fitted.setup.vocabularies).toBe("fitted (min count 1)");
    expect(worldRows.setup.vocabularies).toBe("world");
    expect(explicit.models.map((m) => m.metrics)).toEqual(fitted.models.map((m) => m.metrics));
    expect(worldRows.models[0]!.metrics.ctrAuc!.values).not.toEqual(fitted.models[0]!.metrics.ctrAuc!.values);
    const bad = await run("compare", ...once, "--vocab", "all");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--vocab must be fitted or world, got "all"');
  }, 120_000);
});

describe("esmm compare --sessions: installs per user over seeds", () => {
  it("plays each run's A/B test on the same sessions: seed 1's installs are the demo's for its seed-1 model", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-compare-ab-"));
    const same = ["--rows", "2000", "--epochs", "1", "--sessions", "300", "--workers", "0"];
    const c = await run("compare", "--presets", "esmm,base", "--seeds", "2", "--baseline", "base", ...same, "--json");
    expect(c.code, c.err).toBe(0);
    const j = JSON.parse(c.out) as { setup: Record<string, unknown>; models: Array<{ name: string; metrics: Record<string, { values: number[]; vs: Record<string, { mean: number } | null> }> }> };
    expect(j.setup["A/B sessions"]).toBe("300 (50 candidates, top 10 by pCTCVR)");
    const installs = (name: string): { values: number[]; vs: Record<string, { mean: number } | null> } => j.models.find((m) => m.name === name)!.metrics.installsPerUser!;
    const d = await run("demo", "--variants", "esmm,base", "--seeds", "1", ...same, "--out", dir);
    expect(d.code, d.err).toBe(0);
    const ab = (JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as { abtest: Array<{ name: string; installsPerUser: number }> }).abtest;
    for (const name of ["esmm", "base"]) expect(installs(name).values[0]).toBe(ab.find((r) => r.name === name)!.installsPerUser);
    expect(installs("esmm").values[1]).not.toBe(installs("esmm").values[0]); // seed 2 is another model
    const [e, b] = [installs("esmm").values, installs("base").values];
    expect(installs("esmm").vs.base!.mean).toBeCloseTo((e[0]! - b[0]! + e[1]! - b[1]!) / 2, 12);
    const text = await run("compare", "--presets", "esmm,base", "--seeds", "2", ...same);
    expect(text.out).toContain("installs per user, simulated A/B test (expected, top by pCTCVR) (2 seeds; higher is better)");
    const without = await run("compare", "--presets", "esmm", "--seeds", "1", "--rows", "2000", "--epochs", "1", "--workers", "0", "--json");
    expect(Object.keys((JSON.parse(without.out) as typeof j).models[0]!.metrics)).not.toContain("installsPerUser");
    const files = await run("compare", "--train", "x.csv", "--valid", "y.csv", "--sessions", "10");
    expect(files.code).toBe(2);
    expect(files.err).toContain("--sessions plays the simulated A/B test, which needs the simulator's truth");
  }, 120_000);

  it("refuses an option of the other data source (the simulator's with --train, a file's without), which it used to ignore", async () => {
    for (const [flag, value] of [["--bias", "3"], ["--rows", "500"], ["--users", "10"], ["--vocab", "world"], ["--sim-seed", "8"]] as const) {
      const r = await run("compare", "--presets", "esmm", "--train", "x.csv", "--valid", "y.csv", flag, value);
      expect(r.code, flag).toBe(2);
      expect(r.err, flag).toContain(`${flag} describes the simulated data, and --train compares on files`);
    }
    for (const [flag, value] of [["--click", "clk"], ["--format", "aliccp-csv"], ["--common", "c.csv"], ["--delimiter", ";"]] as const) {
      const r = await run("compare", "--presets", "esmm", "--seeds", "1", flag, value);
      expect(r.code, flag).toBe(2);
      expect(r.err, flag).toContain(`${flag} describes a data file, and without --train compare runs on simulated data`);
    }
    const skip = await run("compare", "--presets", "esmm", "--seeds", "1", "--skip-bad");
    expect(skip.err).toContain("--skip-bad describes a data file");
  });
});

describe("esmm compare on files", () => {
  it("trains each model on --train, stops on --valid, scores --test; the ground-truth columns give the entire-space AUC", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-compare-files-"));
    const files = ["train", "valid", "test"].map((n) => join(dir, `${n}.csv`));
    for (const [i, f] of files.entries()) expect((await run("generate", "--rows", i === 0 ? "3000" : "1000", "--stream", String(i), "--out", f, "--users", "200", "--apps", "80")).code).toBe(0);
    const r = await run("compare", "--train", files[0]!, "--valid", files[1]!, "--test", files[2]!, "--presets", "esmm,base", "--seeds", "2", "--epochs", "2", "--early-stop", "ctcvrAuc", "--dim", "4", "--expert-hidden", "8", "--workers", "0", "--json");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { setup: Record<string, unknown>; models: Array<{ name: string; metrics: Record<string, { values: number[] }> }>; runs: Array<{ test: { rows: number } }> };
    expect(j.setup.test).toBe(files[2]);
    expect(j.runs.every((x) => x.test.rows === 1000)).toBe(true);
    for (const m of j.models) for (const v of m.metrics.cvrAucEntireSpace!.values) expect(v).toBeGreaterThan(0.3);
    expect(r.err).not.toContain("warning:");
    // without --test, the file early stopping chose the epochs on is the one scored: said, not hidden
    const onValid = await run("compare", "--train", files[0]!, "--valid", files[1]!, "--presets", "esmm", "--seeds", "1", "--epochs", "2", "--early-stop", "ctcvrAuc", "--dim", "4", "--workers", "0", "--json");
    expect(onValid.code, onValid.err).toBe(0);
    expect(onValid.err).toContain(`warning: without --test the models are scored on ${files[1]}, on which early stopping chose their epochs`);
    expect((await run("compare", "--valid", files[1]!)).code).toBe(2);
    // a job's error reads as the user's mistake, with the job it hit, on workers as inline (the
    // workers once sent their stack trace, and a missing file read "nope.csv:0: no such file")
    for (const workers of ["0", "1"]) {
      const missing = join(dir, "nope.csv");
      const bad = await run("compare", "--train", files[0]!, "--valid", missing, "--presets", "esmm", "--seeds", "1", "--epochs", "1", "--dim", "4", "--workers", workers);
      expect(bad.code, workers).toBe(1);
      expect(bad.err).toContain(`esmm compare: esmm (seed 1): ${missing}: no such file`);
      expect(bad.err).not.toMatch(/\n\s+at /);
    }
    // --schema stands in for a training file's sidecar: a copy without one gives the same runs
    const bare = join(dir, "bare.csv");
    copyFileSync(files[0]!, bare);
    const once = ["--valid", files[1]!, "--presets", "esmm", "--seeds", "1", "--epochs", "1", "--dim", "4", "--workers", "0", "--json"];
    const metrics = (out: string): unknown => (JSON.parse(out) as { models: Array<{ metrics: unknown }> }).models.map((m) => m.metrics);
    const withSidecar = await run("compare", "--train", files[0]!, ...once);
    const withSchema = await run("compare", "--train", bare, "--schema", `${files[0]}.schema.json`, ...once);
    const without = await run("compare", "--train", bare, ...once);
    expect([withSidecar.code, withSchema.code, without.code]).toEqual([0, 0, 0]);
    expect(metrics(withSchema.out)).toEqual(metrics(withSidecar.out));
    expect(metrics(without.out)).not.toEqual(metrics(withSidecar.out)); // its dense columns read as categorical
  }, 120_000);
});

describe("esmm train: --bottom, --objective, --emb-init", () => {
  const dir = mkdtempSync(join(tmpdir(), "esmm-choice-"));
  const csv = join(dir, "train.csv");
  beforeAll(async () => {
    expect((await run("generate", "--rows", "1500", "--out", csv, "--users", "100", "--apps", "50")).code).toBe(0);
  });

  it("records the choice in the checkpoint, resumes it, and refuses a contradiction", async () => {
    const m = join(dir, "m");
    const t = await run("train", "--train", csv, "--model", m, "--epochs", "1", "--dim", "4", "--expert-hidden", "8", "--bottom", "separate", "--objective", "escm2-dr", "--emb-init", "normal:0.0001", "--ips-clip", "0.1");
    expect(t.code, t.err).toBe(0);
    expect(t.err).toContain("separate/escm2-dr:");
    const c = JSON.parse(readFileSync(join(m, "model.json"), "utf8")).config;
    expect([c.bottom, c.objective, c.embeddingInit, c.counterfactual]).toEqual(["separate", "escm2-dr", { kind: "normal", std: 0.0001 }, { clip: 0.1, normalize: false }]);
    expect((await run("train", "--train", csv, "--model", m, "--epochs", "2", "--resume")).code).toBe(0);
    const ins = await run("inspect", "--model", m);
    expect(ins.out).toContain("separate/escm2-dr (bottom separate, objective escm2-dr), checkpoint format version 5");
    expect(ins.out).toContain("counterfactual: propensity clip 0.1, divided by the batch size");
    expect(ins.out).toContain("embedding init: normal:0.0001");
    expect(ins.out).toContain("(and escm2-dr's imputation tower), each on its own embeddings");
    const bad = await run("train", "--train", csv, "--model", m, "--epochs", "3", "--resume", "--objective", "clicked");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--objective clicked (from the options given) contradicts the checkpoint's escm2-dr");
    const preset = await run("train", "--train", csv, "--model", m, "--epochs", "3", "--resume", "--preset", "esmm");
    expect(preset.code).toBe(2);
    expect(preset.err).toContain("--bottom shared (from the options given) contradicts the checkpoint's separate");
    for (const [flag, v, msg] of [["--emb-init", "uniform:1", "--emb-init must be normal:STD"], ["--objective", "magic", "--objective must be one of"], ["--preset", "esmm2", "--preset must be one of"], ["--ips-clip", "0", "--ips-clip must be"]] as const) {
      const r = await run("train", "--train", csv, "--model", join(dir, "x"), "--epochs", "1", flag, v);
      expect(r.code, flag).toBe(2);
      expect(r.err, flag).toContain(msg);
    }
  }, 60_000);

  it("--cvr-tower-hidden sizes the CVR tower alone; the default esmm-mmoe's is [128, 64]; a resume that restates another is refused", async () => {
    const m = join(dir, "m-cvr");
    expect((await run("train", "--train", csv, "--model", m, "--epochs", "1", "--dim", "4", "--expert-hidden", "8", "--cvr-tower-hidden", "6,3")).code).toBe(0);
    expect(JSON.parse(readFileSync(join(m, "model.json"), "utf8")).config.towers).toEqual({ hidden: [64], cvr: [6, 3] });
    expect((await run("inspect", "--model", m)).out).toContain("towers CTR [8 -> 64 -> 1], CVR [8 -> 6 -> 3 -> 1]");
    const bad = await run("train", "--train", csv, "--model", m, "--epochs", "2", "--resume", "--cvr-tower-hidden", "6");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--cvr-tower-hidden contradicts the checkpoint's 6,3");
    const d = join(dir, "m-cvr-default");
    expect((await run("train", "--train", csv, "--model", d, "--epochs", "1", "--dim", "4", "--expert-hidden", "8")).code).toBe(0);
    expect(JSON.parse(readFileSync(join(d, "model.json"), "utf8")).config.towers).toEqual({ hidden: [64], cvr: [128, 64] });
  }, 60_000);
});

describe("esmm demo over seeds", () => {
  it("prints the first seed's table, the comparison over seeds against base, and the simulated A/B test; writes them to results.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-demo-"));
    const r = await run("demo", "--rows", "3000", "--seeds", "2", "--sessions", "100", "--workers", "0", "--out", dir);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("Test metrics, model seed 1:");
    expect(r.out).toContain("Over 2 model seeds (1, 2;");
    expect(r.out).toMatch(/vs base \(paired, 95%\)/);
    expect(r.out).toMatch(/\nbase +0\.\d{5} .*\(control\)/);
    expect(r.out).toMatch(/\noracle +0\.\d{5} .* 100\.0%/);
    expect(r.out).toContain("installs per user, simulated A/B test (expected, top by pCTCVR) (2 seeds; higher is better)");
    const j = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as { results: unknown[]; comparison: { seeds: number[]; baselines: string[]; models: Array<{ name: string; metrics: Record<string, { values: number[] }> }> }; abtest: Array<{ name: string; oracleShare: number; installsPerUser: number }> };
    // every seed played the A/B test; seed 1's installs are the A/B table's
    for (const m of j.comparison.models) expect(m.metrics.installsPerUser!.values[0]).toBe(j.abtest.find((a) => a.name === m.name)!.installsPerUser);
    expect(j.results).toHaveLength(3);
    expect(j.comparison.seeds).toEqual([1, 2]);
    expect(j.comparison.baselines).toEqual(["base"]);
    expect(j.abtest.map((a) => a.name)).toEqual(["base", "esmm-mmoe", "esmm", "popular", "random", "oracle"]);
    for (const a of j.abtest) expect(a.oracleShare).toBeLessThanOrEqual(1);
    expect(readFileSync(join(dir, "report.html"), "utf8")).toContain("<h2>Simulated A/B test</h2>");
  }, 120_000);
});

describe("esmm compare --models FILE", () => {
  it("compares models that differ in more than their preset, and checks every model before any run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-compare-models-"));
    const file = (name: string, models: unknown): string => {
      const p = join(dir, name);
      writeFileSync(p, JSON.stringify(models));
      return p;
    };
    const good = file("good.json", [
      { name: "ips", preset: "escm2-ips" },
      { name: "ips no ctcvr", preset: "escm2-ips", lossWeights: { ctr: 1, cvr: 0, counterfactual: 1 } },
      { preset: "esmm", towers: { hidden: [8] } },
    ]);
    const same = ["--seeds", "1", "--rows", "500", "--users", "100", "--apps", "50", "--dim", "4", "--workers", "0", "--json"];
    const r = await run("compare", "--models", good, ...same);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { models: Array<{ name: string; spec: Record<string, unknown>; metrics: Record<string, { values: number[] }> }> };
    expect(j.models.map((m) => m.name)).toEqual(["ips", "ips no ctcvr", "esmm"]);
    expect(j.models[1]!.spec.lossWeights).toEqual({ ctr: 1, cvr: 0, counterfactual: 1 });
    expect(j.models[0]!.metrics.ctrAuc!.values[0]).not.toBe(j.models[1]!.metrics.ctrAuc!.values[0]); // the weights changed the run
    // every one of these is a usage error before any model trains (they were run, ignored or crashed mid-way)
    for (const [name, models, message] of [
      ["dup", [{ name: "a", preset: "esmm" }, { name: "a", preset: "base" }], 'two models are named "a"'],
      ["typo", [{ preset: "esmm", lossweights: { ctr: 1 } }], 'model 0: unknown key "lossweights" (did you mean "lossWeights"?)'],
      ["term", [{ preset: "escm2-ips", lossWeights: { ctrr: 1 } }], "model 0: lossWeights.ctrr: is not a loss term"],
      ["value", [{ preset: "escm2-ips", lossWeights: { cvr: "x" } }], 'model 0: lossWeights.cvr: must be a finite number >= 0, got "x"'],
      ["zero", [{ preset: "esmm", lossWeights: { ctr: 0, cvr: 0 } }], "model 0: lossWeights: every term of the entire-space objective (ctr, cvr) weighs 0"],
      ["one expert", [{ preset: "esmm-mmoe", experts: { count: 1 } }], 'model 0: config.experts.count: is 1 with share "owned"'],
      ["tower", [{ preset: "esmm", towers: { hidden: [0] } }], "model 0: config.towers.hidden[0]: must be an integer in [1, 65536], got 0"],
    ] as const) {
      const bad = await run("compare", "--models", file(`${name}.json`, models), ...same);
      expect(bad.code, name).toBe(2);
      expect(bad.err, name).toContain(message);
      expect(bad.err, name).not.toContain("done in");
    }
  }, 60_000);
});
