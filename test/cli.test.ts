/** The `esmm` command as a user runs it, in-process: round trips, resume, exit codes, bad input. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { emptyStats, loadCheckpoint, loadDataset, openSource } from "../src/node/index.js";
import { runCli } from "./helpers.js";

const run = runCli;

const dir = mkdtempSync(join(tmpdir(), "esmm-cli-"));
const trainCsv = join(dir, "train.csv");
const validCsv = join(dir, "valid.csv");
const SMALL = ["--dim", "4"];

beforeAll(async () => {
  expect((await run("generate", "--rows", "3000", "--out", trainCsv, "--users", "300", "--apps", "150")).code).toBe(0);
  expect((await run("generate", "--rows", "1000", "--stream", "1", "--out", validCsv, "--users", "300", "--apps", "150")).code).toBe(0);
});

describe("esmm generate", () => {
  it("writes a CSV with ground truth and a schema sidecar", () => {
    const lines = readFileSync(trainCsv, "utf8").trimEnd().split("\n");
    expect(lines.length).toBe(3001);
    expect(lines[0]).toBe("click,conversion,true_pctr,true_pcvr,user_id,age,gender,device,region,activity,app_id,category,developer,price,rating,size,position,hour,page,recent_cats,app_downloads,user_tenure");
    expect(JSON.parse(readFileSync(`${trainCsv}.schema.json`, "utf8")).dense).toEqual(["app_downloads", "user_tenure"]);
    // nothing half-written is left behind
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });
});

describe("gzip files in and out", () => {
  it("generate and predict write gzip for an --out ending in .gz; train and eval read it (the same figures as plain)", async () => {
    const gz = join(dir, "g.csv.gz");
    expect((await run("generate", "--rows", "3000", "--out", gz, "--users", "300", "--apps", "150")).code).toBe(0);
    expect(gunzipSync(readFileSync(gz)).toString("utf8")).toBe(readFileSync(trainCsv, "utf8")); // the same rows as train.csv
    const model = join(dir, "m-gz");
    expect((await run("train", "--train", gz, "--model", model, "--epochs", "1", ...SMALL)).code).toBe(0);
    const plain = join(dir, "pg.csv");
    const zipped = join(dir, "pg.csv.gz");
    expect((await run("predict", "--model", model, "--data", validCsv, "--out", plain)).code).toBe(0);
    expect((await run("predict", "--model", model, "--data", validCsv, "--out", zipped)).code).toBe(0);
    expect(gunzipSync(readFileSync(zipped)).toString("utf8")).toBe(readFileSync(plain, "utf8"));
    const e1 = await run("eval", "--model", model, "--data", gz, "--json");
    const e2 = await run("eval", "--model", model, "--data", trainCsv, "--json");
    expect(e1.code).toBe(0);
    expect(JSON.parse(e1.out).metrics).toEqual(JSON.parse(e2.out).metrics);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });
});

describe("options that change nothing for the model", () => {
  it("train warns of each, by name and where it applies, and trains as without them; an option that applies draws no warning", async () => {
    const flags = ["--preset", "esmm", "--gate-prior", "1", "--ips-clip", "0.1", "--loss-weights", "1,1,2", "--patience", "2", "--common", "cf.csv"];
    const r = await run("train", "--train", trainCsv, "--model", join(dir, "m-inert"), "--epochs", "1", ...SMALL, ...flags);
    expect(r.code).toBe(0);
    const warnings = r.err.split("\n").filter((l) => l.startsWith("warning: "));
    expect(warnings).toEqual([
      "warning: --gate-prior has no effect: it sets the mmoe bottom's experts, and no model here has that bottom (esmm)",
      "warning: --ips-clip has no effect: it applies to the escm2-ips and escm2-dr objectives, and no model here has one (esmm)",
      "warning: --loss-weights: the third weight has no effect: only the escm2 objectives have a counterfactual term, and no model here has one (esmm)",
      "warning: --patience has no effect without --early-stop",
      "warning: --common has no effect: it is the aliccp-raw format's common_features file, and the format is csv",
    ]);
    // the same weights as a run without them (the loss weights' third term is not in esmm's loss)
    const plain = await run("train", "--train", trainCsv, "--model", join(dir, "m-inert-plain"), "--epochs", "1", ...SMALL, "--preset", "esmm");
    expect(plain.code).toBe(0);
    expect(readFileSync(join(dir, "m-inert", "weights.safetensors")).equals(readFileSync(join(dir, "m-inert-plain", "weights.safetensors")))).toBe(true);
    const hashed = await run("train", "--train", trainCsv, "--model", join(dir, "m-inert-hash"), "--epochs", "1", ...SMALL, "--hash-buckets", "1000", "--min-count", "3");
    expect(hashed.err).toContain("warning: --min-count has no effect with --hash-buckets");
    const dr = await run("train", "--train", trainCsv, "--model", join(dir, "m-dr"), "--epochs", "1", ...SMALL, "--preset", "escm2-dr", "--ips-clip", "0.1", "--loss-weights", "1,1,1,1");
    expect(dr.code).toBe(0);
    expect(dr.err).not.toContain("warning:");
    // compare warns of an option no model compared takes
    const ins = await run("inspect", "--model", join(dir, "m-inert-plain"), "--data", validCsv);
    expect(ins.code).toBe(0);
    expect(ins.err).toContain("warning: --data has no effect: it measures gate usage, and esmm has no gates (only an mmoe bottom has them)");
    const c = await run("compare", "--presets", "esmm,base", "--experts", "3", "--seeds", "1", "--rows", "300", "--users", "100", "--apps", "50", "--dim", "4");
    expect(c.code).toBe(0);
    expect(c.err).toContain("warning: --experts has no effect: it sets the mmoe bottom's experts, and no model here has that bottom (esmm, base)");
  });
});

describe("train -> save -> load -> predict", () => {
  it("predicts exactly what the saved model computes in memory", async () => {
    const model = join(dir, "m-round");
    const t = await run("train", "--train", trainCsv, "--valid", validCsv, "--model", model, "--epochs", "1", "--variant", "esmm-mmoe", ...SMALL);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/CTCVR AUC \(all impressions\)\s+0\.\d{4}/);
    const preds = join(dir, "preds.csv");
    const p = await run("predict", "--model", model, "--data", validCsv, "--out", preds, "--gates");
    expect(p.code).toBe(0);
    const rows = readFileSync(preds, "utf8").trimEnd().split("\n");
    expect(rows[0]).toBe("pctr,pcvr,pctcvr,gate_ctr_0,gate_ctr_1,gate_cvr_0,gate_cvr_1");
    expect(rows.length).toBe(1001);
    const ck = await loadCheckpoint(model);
    const ds = await loadDataset(await openSource({ format: "csv", path: validCsv, csv: { categorical: ck.preprocessor!.schema.categorical, multi: ck.preprocessor!.schema.multi, dense: ck.preprocessor!.schema.dense } }), ck.preprocessor!);
    const s = ck.model.predict(ds.all());
    for (let i = 0; i < 1000; i++) {
      const [a, b, c] = rows[i + 1]!.split(",").map(Number);
      expect(a).toBe(s.pCtr[i]);
      expect(b).toBe(s.pCvr[i]);
      expect(c).toBe(s.pCtcvr[i]);
    }
    const ev = await run("eval", "--model", model, "--data", validCsv, "--json");
    const j = JSON.parse(ev.out);
    expect(j.metrics.rows).toBe(1000);
    expect(j.metrics.truth.cvrAucEntireSpace).toBeGreaterThan(0);
    const ins = await run("inspect", "--model", model);
    expect(ins.out).toMatch(/CVR task: expert 0 \d+\.\d%, expert 1 \d+\.\d%/);
  });

  it("resume equals an uninterrupted run, bit for bit", async () => {
    const a = join(dir, "m-full");
    const b = join(dir, "m-resumed");
    expect((await run("train", "--train", trainCsv, "--model", a, "--epochs", "2", "--variant", "esmm", ...SMALL)).code).toBe(0);
    expect((await run("train", "--train", trainCsv, "--model", b, "--epochs", "1", "--variant", "esmm", ...SMALL)).code).toBe(0);
    const r = await run("train", "--train", trainCsv, "--model", b, "--epochs", "2", "--resume");
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/resuming .* after epoch 1 of 2/);
    expect(Buffer.compare(readFileSync(join(a, "weights.safetensors")), readFileSync(join(b, "weights.safetensors")))).toBe(0);
    expect(Buffer.compare(readFileSync(join(a, "optimizer.safetensors")), readFileSync(join(b, "optimizer.safetensors")))).toBe(0);
  });
});

describe("exit codes and bad input", () => {
  it("usage errors exit 2 and name the problem", async () => {
    expect((await run()).code).toBe(2);
    expect((await run("fly")).code).toBe(2);
    const r = await run("train", "--train", trainCsv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--model is required/);
    expect((await run("generate", "--rows", "ten", "--out", "x")).err).toMatch(/--rows must be an integer/);
    expect((await run("train", "--bogus")).err).toMatch(/unknown option --bogus\n/); // nothing near it
    // a slip of a letter or two names the option meant (the nearest within two edits)
    expect((await run("train", "--epoch", "1")).err).toContain("unknown option --epoch (did you mean --epochs?)");
    expect((await run("eval", "--modle", "m")).err).toContain("unknown option --modle (did you mean --model?)");
    const cmd = await run("trian");
    expect(cmd.code).toBe(2);
    expect(cmd.err).toContain('esmm: unknown command "trian" (did you mean train?)');
    expect((await run("train", "--help")).code).toBe(0);
  });

  it("--help starts every description in one column, at least two spaces after the longest option", async () => {
    const r = await run("train", "--help");
    const rows = r.out.split("\n").filter((l) => l.startsWith("  --"));
    expect(rows.length).toBeGreaterThan(40);
    // the column: where "this text" starts on --help's own row
    const col = rows.find((l) => l.startsWith("  --help "))!.indexOf("this text");
    for (const row of rows) {
      expect(row.slice(col - 2, col), row).toBe("  ");
      expect(row[col], row).not.toBe(" ");
    }
    expect(rows.find((l) => l.startsWith("  --progress-seconds VALUE "))).toBeDefined();
  });

  it("an option the model config would refuse, or a number not in decimal notation, is a usage error (exit 2), not a failed run (exit 1)", async () => {
    const m = join(dir, "m-refused");
    for (const [flag, value, message] of [
      ["--dim", "100000", '--dim must be an integer in [1, 4096], got "100000"'],
      ["--experts", "1000", '--experts must be an integer in [1, 256], got "1000"'],
      // one expert under the default sharing would be the CTR task's alone
      ["--experts", "1", "--experts 1 with --expert-share owned: the one expert would be the ctr task's alone"],
      ["--seed", "1e30", '--seed must be an integer >= 0, got "1e30"'],
      ["--emb-init", "normal:1e40", '--emb-init must be normal:STD with a float32 STD >= 0 (e.g. normal:0.0001), got "normal:1e40"'],
      // numbers in options as in data files: decimal notation only ("1e3" yes, "0x10" no)
      ["--epochs", "0x2", '--epochs must be an integer >= 1, got "0x2"'],
      ["--lr", "0x1", '--lr must be a finite number > 0, got "0x1"'],
      ["--expert-hidden", "256,1e6", '--expert-hidden must be comma-separated integers in [1, 65536], got "256,1e6"'],
      ["--loss-weights", "1,0b1", "--loss-weights must be two to four finite numbers >= 0"],
    ] as const) {
      const r = await run("train", "--train", trainCsv, "--model", m, flag, value);
      expect(r.code, flag).toBe(2);
      expect(r.err, flag).toContain(message);
    }
    expect(existsSync(m)).toBe(false);
    const dash = await run("generate", "--rows", "10", "--out", "-"); // it wrote a file named "-" (and "-.schema.json")
    expect(dash.code).toBe(2);
    expect(dash.err).toContain("--out -: generate writes a schema sidecar beside its CSV (<out>.schema.json), so it writes to a file, not to standard output; give a path");
    const compareDash = await run("compare", "--presets", "esmm", "--seeds", "1", "--out", "-");
    expect(compareDash.code).toBe(2);
    expect(compareDash.err).toContain("--out -: compare writes a directory (compare.html, compare.json; --json prints the results), not to standard output; give a path");
    const demoDash = await run("demo", "--out", "-");
    expect(demoDash.code).toBe(2);
    expect(demoDash.err).toContain("--out -: the demo writes a directory (report.html, results.json), not to standard output; give a path");
    expect((await run("train", "--train", trainCsv, "--model", "-")).err).toContain("--model -: a checkpoint is a directory written to disk, not to standard output; give a path");
    const ok = await run("generate", "--rows", "2e2", "--out", join(dir, "two-hundred.csv"));
    expect(ok.code).toBe(0);
    expect(readFileSync(join(dir, "two-hundred.csv"), "utf8").trimEnd().split("\n").length).toBe(201);
  });

  const badFile = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it.each([
    ["empty.csv", "", "empty file (no header row)"],
    ["header.csv", "click,conversion,a\n", "header.csv: no data rows"],
    ["nolabel.csv", "clicks,conversion,a\n1,0,x\n", 'column "click": missing click label column'],
    ["cols.csv", "click,conversion,a\n1,0,x\n1,0\n", "cols.csv:3: 2 columns, the header has 3"],
    ["label.csv", "click,conversion,a\n1,0,x\nyes,0,y\n", 'label.csv:3: column "click": label "yes" is not 0 or 1'],
    ["conv.csv", "click,conversion,a\n1,0,x\n0,1,y\n", 'conv.csv:3: column "conversion": a conversion without a click is a data error'],
  ])("%s exits 1 with file, line and column", async (name, text, message) => {
    const p = badFile(name, text);
    const m = join(dir, `m-${name}`);
    const r = await run("train", "--train", p, "--model", m, ...SMALL);
    expect(r.code).toBe(1);
    expect(r.err).toContain(message);
    expect(existsSync(m)).toBe(false); // nothing half-written
  });

  it("--skip-bad skips and counts bad lines instead", async () => {
    const p = badFile("mixed.csv", "click,conversion,a\n1,0,x\n0,1,y\n0,0,z\n1,1,x\n");
    const r = await run("train", "--train", p, "--model", join(dir, "m-mixed"), "--epochs", "1", ...SMALL);
    expect(r.code).toBe(1);
    const s = await run("train", "--train", p, "--model", join(dir, "m-mixed"), "--epochs", "1", "--skip-bad", ...SMALL);
    expect(s.code).toBe(0);
    expect(s.err).toMatch(/skipped 1 bad line\(s\); first: .*mixed\.csv:3/);
    const allBad = badFile("all-bad.csv", "click,conversion,a\n0,1,y\n2,0,z\n");
    const b = await run("train", "--train", allBad, "--model", join(dir, "m-all-bad"), "--skip-bad", ...SMALL);
    expect(b.code).toBe(1);
    expect(b.err).toContain("all-bad.csv: no data rows (every one of its 2 rows was bad and skipped)");
  });

  it("a corrupted checkpoint is a clear error", async () => {
    const m = join(dir, "m-corrupt");
    expect((await run("train", "--train", trainCsv, "--model", m, "--epochs", "1", "--variant", "base", ...SMALL)).code).toBe(0);
    const w = join(m, "weights.safetensors");
    const bytes = readFileSync(w);
    writeFileSync(w, bytes.subarray(0, bytes.length - 10));
    const r = await run("eval", "--model", m, "--data", validCsv);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/weights\.safetensors: CRC-32 is [0-9a-f]{8}, model\.json records [0-9a-f]{8}: the file is corrupt/);
    const j = JSON.parse(readFileSync(join(m, "model.json"), "utf8"));
    j.formatVersion = 99;
    writeFileSync(join(m, "model.json"), JSON.stringify(j));
    expect((await run("inspect", "--model", m)).err).toMatch(/format version 99 is not supported/);
    expect((await run("inspect", "--model", join(dir, "nope"))).err).toMatch(/no such checkpoint directory/);
    // given a data file or some other directory by mistake: what it is not, not which read failed
    const notCk = join(dir, "not-a-checkpoint");
    mkdirSync(notCk, { recursive: true });
    const other = await run("predict", "--model", notCk, "--data", trainCsv, "--out", join(dir, "never.csv"));
    expect(other.code).toBe(1);
    expect(other.err).toContain(`${notCk}: is not an esmm-ts checkpoint (no model.json in it)`);
    expect((await run("inspect", "--model", trainCsv)).err).toContain(`${trainCsv}: is a file, not a checkpoint directory`);
  });

  it("a file whose columns differ from the model's is refused", async () => {
    const m = join(dir, "m-round");
    const p = badFile("other.csv", "click,conversion,a\n1,0,x\n");
    const r = await run("eval", "--model", m, "--data", p);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing categorical column|columns differ/);
  });
});

describe("streaming reads", () => {
  it("counts rows of the generated file without loading it twice", async () => {
    const stats = emptyStats();
    const src = await openSource({ format: "csv", path: trainCsv });
    let n = 0;
    for await (const _ of src.rows(stats)) n++;
    expect(n).toBe(3000);
    expect(stats.rows).toBe(3000);
  });
});

describe("multi-valued columns from the command line", () => {
  it("--multi with --multi-sep reads bags with weights", async () => {
    const p = join(dir, "bags.csv");
    writeFileSync(p, "click,conversion,u,tags\n1,0,a,x:2;y\n0,0,b,y\n1,1,a,\n0,0,c,x;x:3\n");
    const m = join(dir, "m-bags");
    const r = await run("train", "--train", p, "--model", m, "--epochs", "1", "--multi", "tags", "--multi-sep", ";", ...SMALL);
    expect(r.code).toBe(0);
    const ck = await loadCheckpoint(m);
    expect(ck.model.config.fields.map((f) => [f.name, f.kind, f.vocab])).toEqual([["u", "single", 4], ["tags", "multi", 3]]);
    expect(ck.preprocessor!.schema.multi).toEqual([{ name: "tags", sep: ";" }]);
  });
});

describe("training options", () => {
  it("--stream trains from the file with a seeded shuffle buffer, deterministically", async () => {
    const a = join(dir, "m-stream-a");
    const b = join(dir, "m-stream-b");
    for (const m of [a, b]) expect((await run("train", "--train", trainCsv, "--model", m, "--epochs", "1", "--stream", "--variant", "esmm", ...SMALL)).code).toBe(0);
    expect(Buffer.compare(readFileSync(join(a, "weights.safetensors")), readFileSync(join(b, "weights.safetensors")))).toBe(0);
    const ev = await run("eval", "--model", a, "--data", validCsv, "--json");
    expect(JSON.parse(ev.out).metrics.rows).toBe(1000);
  });

  it("--hash-buckets hashes every field into buckets + the out-of-vocabulary row", async () => {
    const m = join(dir, "m-hash");
    expect((await run("train", "--train", trainCsv, "--model", m, "--epochs", "1", "--hash-buckets", "97", "--variant", "base", ...SMALL)).code).toBe(0);
    const ck = await loadCheckpoint(m);
    expect(new Set(ck.model.config.fields.map((f) => f.vocab))).toEqual(new Set([98]));
    expect(ck.preprocessor!.mappings.every((x) => x.kind === "hash")).toBe(true);
  });

  it("--early-stop restores the best epoch", async () => {
    const m = join(dir, "m-es");
    const r = await run("train", "--train", trainCsv, "--valid", validCsv, "--model", m, "--epochs", "3", "--lr", "0.05", "--early-stop", "ctrLogLoss", "--variant", "esmm", ...SMALL);
    expect(r.code).toBe(0);
    const j = JSON.parse(readFileSync(join(m, "model.json"), "utf8"));
    const losses = (j.training.history as Array<{ valid: { ctrLogLoss: number } }>).map((h) => h.valid.ctrLogLoss);
    expect(j.training.bestEpoch).toBe(losses.indexOf(Math.min(...losses)));
    expect(r.err).toMatch(/restored the best epoch/);
    expect((await run("train", "--train", trainCsv, "--model", m, "--early-stop", "ctrAuc")).code).toBe(2); // needs --valid
  });
});

describe("scoring unlabelled rows", () => {
  it("predict reads a file without label columns, in row order", async () => {
    const lines = readFileSync(validCsv, "utf8").trimEnd().split("\n");
    const header = lines[0]!.split(",");
    const keep = header.map((h, i) => (["click", "conversion", "true_pctr", "true_pcvr"].includes(h) ? -1 : i)).filter((i) => i >= 0);
    const unlabelled = join(dir, "unlabelled.csv");
    writeFileSync(unlabelled, lines.slice(0, 51).map((l) => keep.map((i) => l.split(",")[i]).join(",")).join("\n") + "\n");
    const out = join(dir, "unlabelled-preds.csv");
    const r = await run("predict", "--model", join(dir, "m-round"), "--data", unlabelled, "--out", out);
    expect(r.code).toBe(0);
    const withLabels = join(dir, "labelled-preds.csv");
    expect((await run("predict", "--model", join(dir, "m-round"), "--data", validCsv, "--out", withLabels)).code).toBe(0);
    // the same rows score the same whether or not the file carries labels
    expect(readFileSync(out, "utf8").trimEnd().split("\n")).toEqual(readFileSync(withLabels, "utf8").split("\n").slice(0, 51));
  });
});

describe("a failed command's line", () => {
  it("names the command once, also when the library's message starts with the same name", async () => {
    const { failureLine } = await import("../src/cli/main.js");
    expect(failureLine("train", new Error("train: threads must be a positive integer, got 0"))).toBe("esmm train: threads must be a positive integer, got 0");
    expect(failureLine("train", new Error("data.csv: line 3, field click: not a number"))).toBe("esmm train: data.csv: line 3, field click: not a number");
    expect(failureLine("eval", new Error("train: x"))).toBe("esmm eval: train: x");
  });
});
