/**
 * Scoring records as an app does: a CLI-trained checkpoint, rows given as plain objects of raw values,
 * the same scores `esmm predict` writes, bit for bit; unseen values; ranking; bad records; bytes and
 * fetched URLs as a browser loads them.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { loadModel as loadModelUrl, modelFromBytes, splitCsvLine, type FeatureRecord } from "../src/index.js";
import { loadModel, saveCheckpoint } from "../src/node/index.js";
import { csvWithCell } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "esmm-scoring-"));
const csv = join(dir, "train.csv");
const valid = join(dir, "valid.csv");
const model = join(dir, "m");
const io = { out: () => undefined, err: () => undefined, isTTY: false };

beforeAll(async () => {
  expect(await main(["generate", "--rows", "3000", "--out", csv, "--users", "200", "--apps", "80"], io)).toBe(0);
  expect(await main(["generate", "--rows", "700", "--stream", "1", "--out", valid, "--users", "300", "--apps", "120"], io)).toBe(0); // some ids unseen in training
  expect(await main(["train", "--train", csv, "--model", model, "--epochs", "1", "--dim", "4", "--min-count", "2"], io)).toBe(0);
});

/** The rows of a CSV file as records of their raw cells (what an app would hold). */
function records(path: string): FeatureRecord[] {
  const [head, ...rows] = readFileSync(path, "utf8").trimEnd().split("\n");
  const cols = splitCsvLine(head!, ",")!;
  return rows.map((r) => Object.fromEntries(splitCsvLine(r, ",")!.map((c, i) => [cols[i]!, c])));
}

describe("record scoring", () => {
  it("unseen(records) gives each column's share of values the model never saw, as eval --json gives the file's", async () => {
    const sm = await loadModel(model);
    const rows = records(valid);
    const outs: string[] = [];
    expect(await main(["eval", "--model", model, "--data", valid, "--json"], { ...io, out: (s: string) => void outs.push(s) })).toBe(0);
    const fromEval = JSON.parse(outs.join("\n")).unseen as Record<string, number>;
    expect(sm.unseen(rows)).toEqual(fromEval);
    expect(fromEval.user_id).toBeGreaterThan(0.05); // a world of 300 users against training's 200, at min count 2 (7.4%)
    // a re-encoded column reads 1; the others are unchanged
    const shifted = sm.unseen(rows.map((r) => ({ ...r, user_id: `u${String(r.user_id)}` })));
    expect(shifted.user_id).toBe(1);
    expect(shifted.app_id).toBe(fromEval.app_id);
    expect(() => sm.unseen([{ ...rows[0]!, app_downloads: "x" }])).toThrow('record 0: "app_downloads": dense feature must be a finite number, got "x"');
  });

  it("equals esmm predict --gates bit for bit", async () => {
    const out = join(dir, "preds.csv");
    expect(await main(["predict", "--model", model, "--data", valid, "--out", out, "--gates"], io)).toBe(0);
    const want = readFileSync(out, "utf8").trimEnd().split("\n").slice(1).map((l) => l.split(",").map(Number));
    const sm = await loadModel(model);
    const got = sm.scoreSync(records(valid), 256); // another batch size than predict's: the scores do not depend on it
    expect(got.length).toBe(700);
    got.forEach((s, i) => expect([s.pCtr, s.pCvr, s.pCtcvr, ...s.gates!.ctr, ...s.gates!.cvr], `row ${i}`).toEqual(want[i]));
    expect(await sm.score(records(valid).slice(0, 3))).toEqual(got.slice(0, 3));
  });

  it("on threads (setThreads): the same scores bit for bit, in order, over chunks of 1,024 records", async () => {
    const sm = await loadModel(model);
    const rows = records(valid);
    const many = Array.from({ length: 4 }, () => rows).flat(); // 2,800 records: three chunks
    const want = sm.scoreSync(many);
    expect(sm.threads).toBe(1);
    await sm.setThreads(3);
    try {
      expect(sm.threads).toBe(3);
      expect(await sm.score(many)).toEqual(want);
      expect(await sm.score(many.slice(0, 5))).toEqual(want.slice(0, 5));
      expect(await sm.score([])).toEqual([]);
      // a bad record is the same error as on one thread, and the workers serve the next call
      await expect(sm.score([...many.slice(0, 2000), { ...many[0]!, app_downloads: "x" }])).rejects.toThrow('record 2000: "app_downloads": dense feature must be a finite number, got "x"');
      expect(await sm.score(many.slice(0, 1500))).toEqual(want.slice(0, 1500));
      await expect(sm.setThreads(0)).rejects.toThrow("ScoringModel.setThreads: threads must be a positive integer, got 0");
      expect(sm.threads).toBe(3);
    } finally {
      await sm.close();
    }
    expect(sm.threads).toBe(1);
    expect(await sm.score(many.slice(0, 10))).toEqual(want.slice(0, 10));
  });

  it("a record the network cannot take is an error naming it, on one thread and on three, and the workers serve the next call", async () => {
    const sm = await loadModel(model);
    // every row of the bag's table 10 wide, so that a weight of 3e38 overflows float32 once pooled
    sm.model.namedParameters().find(([n]) => n === "embeddings.recent_cats.weight")![1].data.fill(10);
    const rows = records(valid).slice(0, 600);
    const many = [...rows, ...rows, ...rows]; // 1,800 records: two chunks on threads
    const bad = (at: number) => many.map((r, i) => (i === at ? { ...r, recent_cats: "1:3e38" } : r));
    const want = sm.scoreSync(many);
    const why = 'bag "recent_cats" pools to NaN or infinity (its weights times its embedding rows overflow float32)';
    expect(() => sm.scoreSync(bad(1300), 512)).toThrow(`record 1300: ${why}`);
    await sm.setThreads(3);
    try {
      // the first chunk goes to a worker: its error names the record, and that worker scores the next call
      // (before, one failed batch closed a worker's lane for good, and every later call failed with it)
      for (const at of [100, 1300]) {
        await expect(sm.score(bad(at))).rejects.toThrow(`record ${at}: ${why}`);
        expect(await sm.score(many)).toEqual(want);
      }
    } finally {
      await sm.close();
    }
    // esmm predict names the data row (1-based), and writes nothing
    const m2 = join(dir, "m-wide-bag");
    await saveCheckpoint(m2, sm.model, { preprocessor: sm.preprocessor });
    const data = csvWithCell(valid, join(dir, "wide-bag.csv"), 8, "recent_cats", "1:3e38");
    for (const threads of ["1", "2"]) {
      const err: string[] = [];
      const out = join(dir, `wide-bag-${threads}.csv`);
      expect(await main(["predict", "--model", m2, "--data", data, "--out", out, "--threads", threads], { ...io, err: (s: string) => err.push(s) })).toBe(1);
      expect(err.join("\n")).toContain(`${data}: data row 8: ${why}`);
      expect(existsSync(out)).toBe(false);
    }
  });

  it("a non-finite weight gives an error naming the record and the output, not a score (ReLU keeps the NaN)", async () => {
    const sm = await loadModel(model);
    const rows = records(valid).slice(0, 3);
    sm.model.namedParameters().find(([n]) => n === "experts.1.0.weight")![1].data[0] = Number.NaN; // the CVR task's expert
    await expect(sm.score(rows)).rejects.toThrow("record 0: its pCtr is NaN or infinite");
  });

  it("strict: a misspelt or missing column is an error naming it, not a quiet unseen value", async () => {
    const sm = await loadModel(model);
    const { click: _c, conversion: _v, true_pctr: _t, true_pcvr: _u, ...bare } = records(valid)[0] as Record<string, string>;
    const { user_id: u, ...noUser } = bare;
    const typo = { ...noUser, userid: u! };
    const unseen = { ...bare, user_id: "no such user" };
    // off (the default): the misspelt record scores as the unseen user does
    expect(sm.scoreSync([typo])).toEqual(sm.scoreSync([unseen]));
    sm.strict = true;
    expect(() => sm.scoreSync([bare, typo])).toThrow('record 1: "user_id": missing (strict');
    expect(() => sm.scoreSync([{ ...bare, userid: "1" }])).toThrow(/record 0: "userid": is not a column of this model \(strict\); it reads .*user_id/);
    expect(() => sm.scoreSync([{ ...bare, click: "1" }])).toThrow(/record 0: "click": is not a column/); // labels are not features
    // null states a missing value: the same scores as the record without strict
    const stated = { ...bare, user_id: null };
    const strictScores = sm.scoreSync([bare, stated]);
    sm.strict = false;
    expect(strictScores).toEqual(sm.scoreSync([bare, noUser]));
  });

  it("maps unseen values to the out-of-vocabulary row, takes bags as text or arrays, needs no labels", async () => {
    const sm = await loadModel(model);
    const base = records(valid)[0]!;
    const { click: _c, conversion: _v, true_pctr: _t, true_pcvr: _u, ...bare } = base as Record<string, string>;
    const [a, b, c] = sm.scoreSync([{ ...bare, user_id: "never-seen-1" }, { ...bare, user_id: "never-seen-2" }, bare]);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    // a bag as its column's text or as an array of ids (weight 1 each) is the same bag
    const [asText, asArray, other] = sm.scoreSync([{ ...bare, recent_cats: "4|7" }, { ...bare, recent_cats: ["4", 7] }, { ...bare, recent_cats: "4:3|7" }]);
    expect(asArray).toEqual(asText);
    expect(other).not.toEqual(asText);
    expect(() => sm.scoreSync([{ ...bare, app_downloads: "many" }])).toThrow('record 0: "app_downloads": dense feature must be a finite number, got "many"');
    expect(() => sm.scoreSync([{ ...bare, app_downloads: "0x10" }])).toThrow('record 0: "app_downloads": dense feature must be a finite number, got "0x10"'); // as a file's cell reads
    expect(sm.scoreSync([{ ...bare, app_downloads: " 1e1 " }])).toEqual(sm.scoreSync([{ ...bare, app_downloads: 10 }]));
    expect(() => sm.scoreSync([{ ...bare, recent_cats: "3:x" }])).toThrow(/record 0: "recent_cats": weight "x"/);
    expect(sm.columns.dense).toEqual(["app_downloads", "user_tenure"]);
  });

  it("names a malformed record or argument, as JavaScript callers can pass anything", async () => {
    const sm = await loadModel(model);
    const { click: _c, conversion: _v, true_pctr: _t, true_pcvr: _u, ...bare } = records(valid)[0] as Record<string, string>;
    const bad = (x: unknown) => () => sm.scoreSync(x as FeatureRecord[]);
    // each once ended in a TypeError, a misleading "got null", a message naming a batch row, or (an
    // object as an id) a silent out-of-vocabulary score
    expect(bad([{ ...bare, app_downloads: Number.NaN }])).toThrow('record 0: "app_downloads": dense feature must be a finite number, got NaN');
    expect(bad([bare, { ...bare, app_downloads: 1e300 }])).toThrow(`record 1: "app_downloads": dense feature 1e+300 is beyond float32's range`);
    expect(bad([bare, bare, { ...bare, app_id: { id: 3 } }])).toThrow('record 2: "app_id": must be a string, a number or a boolean, got an object (Object)');
    expect(bad([{ ...bare, recent_cats: ["4", { id: 7 }] }])).toThrow('record 0: "recent_cats": must be a string, a number or a boolean, got an object (Object)');
    expect(bad([null])).toThrow("record 0: must be an object of feature values by column, got null");
    expect(bad(bare)).toThrow("ScoringModel.score: expected an array of records, got an object (Object)");
    await expect(sm.score(bare as unknown as FeatureRecord[])).rejects.toThrow("expected an array of records");
    expect(() => sm.rank(bare, bare as unknown as FeatureRecord[])).toThrow("ScoringModel.rank: expected an array of candidates, got an object (Object)");
    expect(() => sm.rank(null as unknown as FeatureRecord, [bare])).toThrow("ScoringModel.rank: the user must be an object of feature values, got null");
    // a candidate that is not an object once scored as the user alone (null) or as its characters (a string)
    expect(() => sm.rank(bare, [bare, null as unknown as FeatureRecord])).toThrow("ScoringModel.rank: candidate 1 must be an object of feature values, got null");
    expect(() => sm.rank(bare, ["328" as unknown as FeatureRecord])).toThrow('ScoringModel.rank: candidate 0 must be an object of feature values, got "328"');
    // a bad value of a candidate is named as the candidate it is (it said "record 2")
    expect(() => sm.rank(bare, [bare, bare, { app_downloads: "x" }])).toThrow('candidate 2: "app_downloads": dense feature must be a finite number, got "x"');
    // numbers and booleans are still read as their text
    expect(sm.scoreSync([{ ...bare, app_id: Number(bare.app_id) }])).toEqual(sm.scoreSync([bare]));
  });

  it("ranks a user's candidates by pCTCVR (or another score), best first", async () => {
    const sm = await loadModel(model);
    const rows = records(valid);
    const user = { user_id: rows[0]!.user_id!, age: rows[0]!.age!, gender: rows[0]!.gender!, device: rows[0]!.device!, region: rows[0]!.region!, activity: rows[0]!.activity!, user_tenure: rows[0]!.user_tenure! };
    const candidates = rows.slice(0, 30).map((r) => ({ app_id: r.app_id!, category: r.category!, developer: r.developer!, price: r.price!, rating: r.rating!, size: r.size!, position: "1", hour: "12", page: "0", recent_cats: r.recent_cats!, app_downloads: r.app_downloads! }));
    const ranked = sm.rank(user, candidates);
    expect(ranked.length).toBe(30);
    for (let i = 1; i < ranked.length; i++) expect(ranked[i - 1]!.score.pCtcvr).toBeGreaterThanOrEqual(ranked[i]!.score.pCtcvr);
    const direct = sm.scoreSync(candidates.map((c) => ({ ...user, ...c })));
    for (const r of ranked) expect(r.score).toEqual(direct[candidates.indexOf(r.candidate)]);
    const byCtr = sm.rank(user, candidates, "pCtr");
    for (let i = 1; i < byCtr.length; i++) expect(byCtr[i - 1]!.score.pCtr).toBeGreaterThanOrEqual(byCtr[i]!.score.pCtr);
  });

  it("loads from bytes and from a URL as a browser does", async () => {
    const text = readFileSync(join(model, "model.json"), "utf8");
    const weights = new Uint8Array(readFileSync(join(model, "weights.safetensors")));
    const rows = records(valid).slice(0, 40);
    const want = (await loadModel(model)).scoreSync(rows);
    expect(modelFromBytes(text, weights).scoreSync(rows)).toEqual(want);
    const fakeFetch = (async (url: string) => {
      const name = url.split("/").at(-1)!;
      const body = readFileSync(join(model, name));
      return { ok: true, status: 200, text: async () => body.toString("utf8"), arrayBuffer: async () => body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) };
    }) as unknown as typeof fetch;
    expect((await loadModelUrl("https://example.invalid/m/", fakeFetch)).scoreSync(rows)).toEqual(want);
    const missing = (async () => ({ ok: false, status: 404 })) as unknown as typeof fetch;
    await expect(loadModelUrl("https://example.invalid/none", missing)).rejects.toThrow("cannot fetch the checkpoint at https://example.invalid/none/ (model.json 404, weights 404)");
  });
});
