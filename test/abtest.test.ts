/**
 * The simulated A/B test: the truth API against generated rows, the exact oracle (never beaten, and
 * the Hungarian assignment against brute force), the floor of a reversed oracle, determinism, and
 * intervals that shrink with more sessions. The impression stream itself is unchanged (a checksum
 * of its rows, computed before the truth API existed).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AppStoreSimulator,
  DENSE_FEATURES,
  Esmm,
  Rng,
  bestAssignment,
  crc32Hex,
  denseStats,
  drawSessions,
  oracleOrder,
  playArm,
  playModel,
  popularOrder,
  randomOrderer,
  scoreSessions,
  sessionBatch,
  summariseArms,
  topByScore,
  train,
  type AbSettings,
} from "../src/index.js";
import { runCli } from "./helpers.js";

const run = runCli;

const sim = new AppStoreSimulator({ seed: 7, users: 2000, apps: 600 });

describe("the simulator's ground truth", () => {
  it("reproduces every generated row's true_pctr and true_pcvr exactly", () => {
    let n = 0;
    for (const r of sim.rows(3000, 4)) {
      const t = sim.truth(r.ids[0]!, r.ids[6]!, r.ids[12]!, { hour: r.ids[13]!, page: r.ids[14]! });
      expect(t.pCtr).toBe(r.truePctr);
      expect(t.pCvr).toBe(r.truePcvr);
      n++;
    }
    expect(n).toBe(3000);
    expect(() => sim.truth(0, 0, 20, { hour: 0, page: 0 })).toThrow("position 20 is not in 0..19");
  });

  it("leaves the impression stream as it was (same seeds, same bytes)", () => {
    // checksums of 3,000 rows of stream 1, computed with the simulator before the truth API
    for (const [o, want] of [[{}, "70c786a1"], [{ seed: 3, bias: 3, ctr: 0.04, cvr: 0.03 }, "1dc3b915"]] as const) {
      const s = new AppStoreSimulator(o);
      let text = "";
      for (const r of s.rows(3000, 1)) text += `${r.click},${r.conversion},${r.truePctr},${r.truePcvr},${Array.from(r.ids).join(" ")},${Array.from(r.recentCats.ids).join(" ")},${Array.from(r.dense).join(" ")}\n`;
      expect(crc32Hex(text)).toBe(want);
    }
  });

  it("sessions: distinct candidates, deterministic in the seed", () => {
    const o: AbSettings = { sessions: 50, candidates: 30, top: 10, seed: 5 };
    const a = drawSessions(sim, o);
    const b = drawSessions(sim, o);
    expect(a).toEqual(b);
    for (const s of a) expect(new Set(s.candidates).size).toBe(30);
    expect(drawSessions(sim, { ...o, seed: 6 })).not.toEqual(a);
  });
});

describe("the arms", () => {
  it("the Hungarian assignment is the brute-force optimum", () => {
    const rng = new Rng(2);
    const perms = (n: number, k: number): number[][] => (k === 0 ? [[]] : perms(n, k - 1).flatMap((p) => Array.from({ length: n }, (_, c) => c).filter((c) => !p.includes(c)).map((c) => [...p, c])));
    for (let trial = 0; trial < 30; trial++) {
      const rows = 1 + (trial % 3);
      const cols = rows + (trial % 4);
      const w = Float64Array.from({ length: rows * cols }, () => rng.uniform());
      const got = bestAssignment(w, rows, cols);
      const value = (a: ArrayLike<number>): number => Array.from(a).reduce((s, c, r) => s + w[r * cols + c]!, 0);
      const best = Math.max(...perms(cols, rows).map(value));
      expect(new Set(got).size).toBe(rows);
      expect(value(got)).toBeCloseTo(best, 12);
    }
  });

  const o: AbSettings = { sessions: 400, candidates: 30, top: 8, seed: 3 };
  const sessions = drawSessions(sim, o);
  let model: Esmm;
  beforeAll(async () => {
    const tr = sim.dataset(20_000, 0);
    const st = denseStats(tr);
    model = new Esmm({ preset: "esmm", fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, dim: 4, experts: { hidden: [16] }, towers: { hidden: [8] } });
    await train(model, tr, { epochs: 1, batchSize: 512, lr: 3e-3 });
  }, 60_000);

  it("no arm beats the oracle in any session; the reversed oracle is the floor", () => {
    const oracle = playArm(sim, sessions, (s) => oracleOrder(sim, s, o.top), o.top);
    const scores = scoreSessions(sessions, (chunk) => model.predict(sessionBatch(sim, chunk)), 64);
    const gains = (s: (typeof sessions)[number]): number[] => Array.from(s.candidates, (a) => {
      const t = sim.truth(s.user, a, 0, s);
      return t.pCtr * t.pCvr;
    });
    const arms = {
      model: playModel(sim, sessions, scores, "pCtcvr", o.top),
      byPctr: playModel(sim, sessions, scores, "pCtr", o.top),
      popular: playArm(sim, sessions, (s) => popularOrder(s, o.top), o.top),
      random: playArm(sim, sessions, (s) => randomOrderer(9)(s).slice(0, o.top), o.top),
      truthSorted: playArm(sim, sessions, (s) => topByScore(gains(s), o.top), o.top),
    };
    const reversed = playArm(sim, sessions, (s) => topByScore(gains(s).map((g) => -g), o.top), o.top);
    for (const [name, a] of Object.entries(arms)) {
      for (let i = 0; i < sessions.length; i++) expect(a.installs[i]!, `${name}, session ${i}`).toBeLessThanOrEqual(oracle.installs[i]! + 1e-15);
      for (let i = 0; i < sessions.length; i++) expect(reversed.installs[i]!, `${name}, session ${i}`).toBeLessThanOrEqual(a.installs[i]! + 1e-15);
    }
    const rows = summariseArms([{ name: "random", outcome: arms.random }, { name: "model", outcome: arms.model }, { name: "oracle", outcome: oracle }], oracle, o.top);
    expect(rows[2]!.oracleShare).toBe(1);
    expect(rows[1]!.lift!.lo).toBeGreaterThan(0); // a trained model beats random ranking
    expect(rows[1]!.installsPer1000Impressions).toBeCloseTo((1000 * rows[1]!.installsPerUser) / o.top, 12);
    // NDCG: the gain-sorted arm is 1 in every session by definition
    for (const v of arms.truthSorted.ndcg) expect(v).toBeCloseTo(1, 12);
  });

  it("the paired interval narrows as sessions grow (about as 1 / sqrt(n))", () => {
    const width = (n: number): number => {
      const ss = drawSessions(sim, { ...o, sessions: n });
      const a = playArm(sim, ss, (s) => popularOrder(s, o.top), o.top);
      const b = playArm(sim, ss, (s) => randomOrderer(4)(s).slice(0, o.top), o.top);
      const l = summariseArms([{ name: "a", outcome: a }, { name: "b", outcome: b }], a, o.top)[1]!.lift!;
      return l.hi - l.lo;
    };
    const w1 = width(400);
    const w4 = width(1600);
    expect(w4).toBeLessThan(w1 * 0.7);
    expect(w4).toBeGreaterThan(w1 * 0.3);
  });
});

describe("esmm abtest", () => {
  it("two runs with one seed print the same table; checkpoints are arms; bad arms are usage errors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-abtest-"));
    const csv = join(dir, "train.csv");
    const world = ["--users", "2000", "--apps", "600"];
    expect((await run("generate", "--rows", "6000", "--out", csv, ...world)).code).toBe(0);
    const m = join(dir, "m");
    expect((await run("train", "--train", csv, "--model", m, "--epochs", "1", "--dim", "4", "--expert-hidden", "8", "--preset", "esmm")).code).toBe(0);
    const args = ["abtest", "--arm", "random", "--arm", `esmm=${m}`, "--arm", "oracle", "--sessions", "300", "--candidates", "20", "--top", "5", "--seed", "4", ...world];
    const a = await run(...args);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/^arm +installs\/user +clicks\/user +inst\/1k imp +value\/user +NDCG@5 +lift vs random \[95%\]/);
    expect(a.out).toMatch(/\noracle +0\.\d{5} .* 100\.0%$/);
    const b = await run(...args);
    expect(b.out).toBe(a.out);
    const j = JSON.parse((await run(...args, "--json", "--sampled")).out) as { arms: Array<{ name: string; installsPerUser: number; sampled?: { installsPerUser: number } }> };
    expect(j.arms.map((r) => r.name)).toEqual(["random", "esmm", "oracle"]);
    expect(j.arms.every((r) => r.sampled !== undefined)).toBe(true);
    const bad = await run("abtest", "--arm", "oracle", "--arm", "oracle");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('two arms are named "oracle"');
    // a bad arm fails before any arm plays (it once came after the arms before it had played, seconds each)
    const late = await run("abtest", "--arm", `A=${m}`, "--arm", "B=" + join(dir, "missing"), ...world);
    expect(late.code).toBe(1);
    expect(late.err).toContain(`${join(dir, "missing")}: no such checkpoint directory`);
    expect(late.err).not.toContain("  A: ");
    const twice = await run("abtest", "--arm", `A=${m}`, "--arm", `A=${m}`, ...world);
    expect(twice.code).toBe(2);
    expect(twice.err).not.toContain("  A: ");
    expect((await run("abtest")).code).toBe(2);
    expect((await run("abtest", "--arm", "random", "--top", "30")).code).toBe(2);
  }, 60_000);

  it("refuses, before any arm plays, a model that reads columns the simulator's candidates do not carry", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-abtest-columns-"));
    const csv = join(dir, "train.csv");
    expect((await run("generate", "--rows", "3000", "--out", csv, "--users", "2000", "--apps", "600")).code).toBe(0);
    const renamed = join(dir, "renamed.csv");
    const text = readFileSync(csv, "utf8");
    writeFileSync(renamed, text.replace(",age,", ",age_band,"));
    writeFileSync(`${renamed}.schema.json`, readFileSync(`${csv}.schema.json`));
    expect((await run("train", "--train", renamed, "--model", join(dir, "m"), "--epochs", "1", "--dim", "4", "--preset", "esmm")).code).toBe(0);
    const r = await run("abtest", "--arm", "oracle", "--arm", join(dir, "m"), "--sessions", "100");
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--arm ${join(dir, "m")}: the model reads columns the simulated app store does not have (age_band); esmm abtest tests models trained on files esmm generate wrote`);
    expect(r.err).not.toContain("  oracle: ");
  }, 60_000);

  it("plays the world a checkpoint's generated training file came from, which it used to leave to flags (default world 7)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-abtest-world-"));
    const small = ["--users", "2000", "--apps", "600"];
    const worlds = { w8: ["--seed", "8", "--bias", "3", ...small], w7: small };
    for (const [name, flags] of Object.entries(worlds)) {
      expect((await run("generate", "--rows", "4000", "--out", join(dir, `${name}.csv`), ...flags)).code).toBe(0);
      expect((await run("train", "--train", join(dir, `${name}.csv`), "--model", join(dir, name), "--epochs", "1", "--dim", "4", "--expert-hidden", "8", "--preset", "esmm")).code).toBe(0);
    }
    // the sidecar names the world, and the checkpoint keeps it
    const sidecar = JSON.parse(readFileSync(join(dir, "w8.csv.schema.json"), "utf8")) as { simulated: { world: Record<string, number>; stream: number } };
    expect(sidecar.simulated).toEqual({ world: { seed: 8, users: 2000, apps: 600, categories: 24, ctr: 0.05, cvr: 0.12, bias: 3, zipf: 1.05 }, stream: 0 });
    const ck = JSON.parse(readFileSync(join(dir, "w8", "model.json"), "utf8")) as { training: { simulated: unknown } };
    expect(ck.training.simulated).toEqual(sidecar.simulated.world);
    expect((await run("inspect", "--model", join(dir, "w8"))).out).toContain("trained on simulated data (esmm generate): world seed 8, 2000 users, 600 apps, ctr 0.05, cvr 0.12, bias 3; esmm abtest plays this world");
    const test = ["--sessions", "200", "--candidates", "20", "--top", "5", "--json"];
    type Out = { settings: { simulator: Record<string, number> }; arms: Array<{ name: string; installsPerUser: number }> };
    const implicit = await run("abtest", "--arm", join(dir, "w8"), "--arm", "oracle", ...test);
    expect(implicit.code, implicit.err).toBe(0);
    expect(implicit.err).toContain("in the world w8 was trained on: --sim-seed 8 --ctr 0.05 --cvr 0.12 --bias 3 --users 2000 --apps 600");
    const explicit = await run("abtest", "--arm", join(dir, "w8"), "--arm", "oracle", ...test, "--sim-seed", "8", "--bias", "3", ...small);
    expect(explicit.code, explicit.err).toBe(0);
    expect((JSON.parse(implicit.out) as Out).settings.simulator).toEqual(sidecar.simulated.world);
    expect((JSON.parse(implicit.out) as Out).arms).toEqual((JSON.parse(explicit.out) as Out).arms);
    // a flag that contradicts it, or arms of two worlds, are usage errors
    const contra = await run("abtest", "--arm", join(dir, "w8"), ...test, "--bias", "1");
    expect(contra.code).toBe(2);
    expect(contra.err).toContain("--bias 1 contradicts the world arm w8 was trained on (--sim-seed 8 --ctr 0.05 --cvr 0.12 --bias 3 --users 2000 --apps 600");
    const two = await run("abtest", "--arm", join(dir, "w8"), "--arm", join(dir, "w7"), ...test);
    expect(two.code).toBe(2);
    expect(two.err).toContain("arms w8 and w7 were trained on different simulated worlds");
    // a resumed run keeps the record; a file without one (not generated, or generated before) gives a checkpoint without
    expect((await run("train", "--train", join(dir, "w8.csv"), "--model", join(dir, "w8"), "--epochs", "2", "--resume")).code).toBe(0);
    expect((JSON.parse(readFileSync(join(dir, "w8", "model.json"), "utf8")) as typeof ck).training.simulated).toEqual(sidecar.simulated.world);
    const { simulated: _, ...plain } = sidecar;
    writeFileSync(join(dir, "w7.csv.schema.json"), JSON.stringify(plain));
    expect((await run("train", "--train", join(dir, "w7.csv"), "--model", join(dir, "w7-plain"), "--epochs", "1", "--dim", "4", "--expert-hidden", "8", "--preset", "esmm")).code).toBe(0);
    expect((JSON.parse(readFileSync(join(dir, "w7-plain", "model.json"), "utf8")) as { training: Record<string, unknown> }).training.simulated).toBe(undefined);
    const flagsOnly = await run("abtest", "--arm", join(dir, "w7-plain"), "--arm", join(dir, "w8"), ...test);
    expect(flagsOnly.code, flagsOnly.err).toBe(0); // w8 alone knows its world, and the test plays it
    expect((JSON.parse(flagsOnly.out) as Out).settings.simulator.seed).toBe(8);
    // a crafted record is refused, naming the file and the key
    writeFileSync(join(dir, "w7.csv.schema.json"), JSON.stringify({ ...plain, simulated: { world: { ...sidecar.simulated.world, ctr: 2 }, stream: 0 } }));
    const crafted = await run("train", "--train", join(dir, "w7.csv"), "--model", join(dir, "w7-bad"), "--epochs", "1");
    expect(crafted.code).toBe(1);
    expect(crafted.err).toContain("w7.csv.schema.json:1: simulated.world.ctr: must be in (0, 1), got 2");
  }, 60_000);
});
