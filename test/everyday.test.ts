/**
 * The everyday paths of the CLI, as a user runs them: files with other delimiters end to end,
 * predictions that can be joined back (--keep) or piped (--out -), machine-readable output
 * (--json, --version), one summary of skipped lines, progress a log can follow.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers.js";

const run = runCli;

const dir = mkdtempSync(join(tmpdir(), "esmm-everyday-"));
const csv = join(dir, "train.csv");
const valid = join(dir, "valid.csv");
const SMALL = ["--dim", "4", "--epochs", "1", "--variant", "esmm"];

beforeAll(async () => {
  expect((await run("generate", "--rows", "2000", "--out", csv, "--users", "200", "--apps", "80")).code).toBe(0);
  expect((await run("generate", "--rows", "600", "--stream", "1", "--out", valid, "--users", "200", "--apps", "80")).code).toBe(0);
});

/** The same file with another delimiter (and its schema sidecar beside it). */
function withDelimiter(path: string, d: string, name: string): string {
  const p = join(dir, name);
  writeFileSync(p, readFileSync(path, "utf8").split("\n").map((l) => l.split(",").join(d)).join("\n"));
  writeFileSync(`${p}.schema.json`, readFileSync(`${path}.schema.json`));
  return p;
}

describe("--delimiter, end to end", () => {
  it.each([["semicolon", ";"], ["tab", "\t"]])("a %s file trains the very model the comma file does, then evaluates and predicts with the delimiter it was trained on", async (name, d) => {
    const t = withDelimiter(csv, d, `train-${name}.csv`);
    const v = withDelimiter(valid, d, `valid-${name}.csv`);
    const comma = join(dir, `m-comma-${name}`);
    const other = join(dir, `m-${name}`);
    expect((await run("train", "--train", csv, "--model", comma, ...SMALL)).code).toBe(0);
    const r = await run("train", "--train", t, "--valid", v, "--model", other, "--delimiter", d, ...SMALL);
    expect(r.code, r.err).toBe(0);
    expect(Buffer.compare(readFileSync(join(comma, "weights.safetensors")), readFileSync(join(other, "weights.safetensors")))).toBe(0);
    expect(JSON.parse(readFileSync(join(other, "model.json"), "utf8")).training.delimiter).toBe(d);
    // eval and predict need no --delimiter: the model remembers its files'
    const e1 = JSON.parse((await run("eval", "--model", other, "--data", v, "--json")).out);
    const e2 = JSON.parse((await run("eval", "--model", comma, "--data", valid, "--json")).out);
    expect(e1.metrics).toEqual(e2.metrics);
    const p1 = join(dir, `p-${name}.csv`);
    const p2 = join(dir, `p-comma-${name}.csv`);
    expect((await run("predict", "--model", other, "--data", v, "--out", p1)).code).toBe(0);
    expect((await run("predict", "--model", comma, "--data", valid, "--out", p2)).code).toBe(0);
    expect(readFileSync(p1, "utf8")).toBe(readFileSync(p2, "utf8"));
    // and a wrong delimiter says so (the header then has one column)
    const bad = await run("eval", "--model", other, "--data", valid);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/missing .* column/);
  });

  it("--delimiter tab is a tab (a shell makes the character itself awkward), and a tab file read with commas says to pass it", async () => {
    const t = withDelimiter(csv, "\t", "train-word-tab.csv");
    const plain = await run("train", "--train", t, "--model", join(dir, "m-no-delim"), ...SMALL);
    expect(plain.code).toBe(1);
    expect(plain.err).toContain("the header is one column: if the file is separated by tabs, pass --delimiter tab");
    const m = join(dir, "m-word-tab");
    expect((await run("train", "--train", t, "--model", m, "--delimiter", "tab", ...SMALL)).code).toBe(0);
    expect(JSON.parse(readFileSync(join(m, "model.json"), "utf8")).training.delimiter).toBe("\t");
  });
});

describe("predictions a pipeline can use", () => {
  it("--out - into a reader that stops early (| head) ends quietly, exit 0, no stack trace", async () => {
    const m = join(dir, "m-epipe");
    expect((await run("train", "--train", csv, "--model", m, ...SMALL)).code).toBe(0);
    const child = spawn(process.execPath, [join(import.meta.dirname, "..", "dist", "cli", "bin.js"), "predict", "--model", m, "--data", csv, "--out", "-"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    // read the first chunk, then close the pipe as head does after its lines
    await new Promise<void>((res) => child.stdout.once("data", () => res()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    expect(err).not.toContain("EPIPE");
    expect(code).toBe(0);
  });

  it("--keep copies key columns first; --out - writes the CSV to standard output and messages to standard error", async () => {
    const m = join(dir, "m-keep");
    expect((await run("train", "--train", csv, "--model", m, ...SMALL)).code).toBe(0);
    const file = join(dir, "keep.csv");
    expect((await run("predict", "--model", m, "--data", valid, "--out", file, "--keep", "user_id,app_id")).code).toBe(0);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines[0]).toBe("user_id,app_id,pctr,pcvr,pctcvr");
    const input = readFileSync(valid, "utf8").trimEnd().split("\n");
    const header = input[0]!.split(",");
    const [u, a] = [header.indexOf("user_id"), header.indexOf("app_id")];
    expect(lines.length).toBe(input.length);
    for (let i = 1; i < 50; i++) expect(lines[i]!.split(",").slice(0, 2)).toEqual([input[i]!.split(",")[u], input[i]!.split(",")[a]]);
    const plain = join(dir, "plain.csv");
    expect((await run("predict", "--model", m, "--data", valid, "--out", plain)).code).toBe(0);
    const piped = await run("predict", "--model", m, "--data", valid, "--out", "-", "--keep", "user_id,app_id");
    expect(piped.code).toBe(0);
    expect(piped.outChunks.join("\n") + "\n").toBe(readFileSync(file, "utf8"));
    expect(piped.err).toMatch(/wrote 600 predictions to standard output/);
    expect(lines.map((l) => l.split(",").slice(2).join(","))).toEqual(readFileSync(plain, "utf8").trimEnd().split("\n"));
    const missing = await run("predict", "--model", m, "--data", valid, "--out", "-", "--keep", "no_such");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('column "no_such": missing kept column');
  });
});

describe("data on standard input (--data -)", () => {
  /** The built CLI in a child process, `input` written to its standard input. */
  const piped = (input: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((res) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, "..", "dist", "cli", "bin.js"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("close", (code) => res({ code, out, err }));
      child.stdin.on("error", () => undefined); // a child that refuses early closes its end
      child.stdin.end(input);
    });

  it("predict, eval and train read it as they read a file; train --stream, which reads its data again each epoch, refuses it", async () => {
    const m = join(dir, "m-stdin");
    expect((await run("train", "--train", csv, "--model", m, ...SMALL)).code).toBe(0);
    const text = readFileSync(valid, "utf8");
    const fromFile = await run("predict", "--model", m, "--data", valid, "--out", "-", "--keep", "user_id");
    const fromStdin = await piped(text, "predict", "--model", m, "--data", "-", "--out", "-", "--keep", "user_id", "--threads", "2");
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.out).toBe(fromFile.outChunks.join("\n") + "\n");
    const evalFile = await run("eval", "--model", m, "--data", valid, "--json");
    const evalStdin = await piped(text, "eval", "--model", m, "--data", "-", "--json");
    expect(evalStdin.code).toBe(0);
    expect(JSON.parse(evalStdin.out).metrics).toEqual(JSON.parse(evalFile.outChunks.join("")).metrics);
    // errors name standard input, with the line
    const bad = await piped(text.split("\n").slice(0, 3).join("\n") + "\n1,0\n", "predict", "--model", m, "--data", "-", "--out", join(dir, "never.csv"));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("standard input:4: 2 columns, the header has");
    expect(existsSync(join(dir, "never.csv"))).toBe(false);
    // train reads its data once (fitting the vocabularies as it keeps the rows), the sidecar given with
    // --schema since standard input has none beside it: the same model as from the file
    const weights = (d: string): Buffer => readFileSync(join(d, "weights.safetensors"));
    const tr = await piped(readFileSync(csv, "utf8"), "train", "--train", "-", "--schema", `${csv}.schema.json`, "--model", join(dir, "m-from-stdin"), ...SMALL);
    expect(tr.code).toBe(0);
    expect(weights(join(dir, "m-from-stdin")).equals(weights(m))).toBe(true);
    // without it every column is categorical: another model
    const guessed = await piped(readFileSync(csv, "utf8"), "train", "--train", "-", "--model", join(dir, "m-guessed"), ...SMALL);
    expect(guessed.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "m-guessed", "model.json"), "utf8")).preprocessor.schema.dense).toEqual([]);
    // --schema is read instead of the file's own sidecar (whose multi-valued column it leaves out), and the flags override it
    const other = join(dir, "other.schema.json");
    writeFileSync(other, JSON.stringify({ dense: ["app_downloads"] }));
    const viaSchema = await run("train", "--train", csv, "--schema", other, "--dense", "app_downloads,user_tenure", "--model", join(dir, "m-schema"), ...SMALL);
    expect(viaSchema.code).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, "m-schema", "model.json"), "utf8")).preprocessor.schema;
    expect([saved.dense, saved.multi]).toEqual([["app_downloads", "user_tenure"], []]);
    const missing = await run("train", "--train", csv, "--schema", join(dir, "nowhere.json"), "--model", join(dir, "m-none"), ...SMALL);
    expect([missing.code, missing.err.trim()]).toEqual([1, `esmm train: ${join(dir, "nowhere.json")}: no such file`]);
    // --stream reads the file again every epoch, which standard input cannot give
    const st = await piped(readFileSync(csv, "utf8"), "train", "--train", "-", "--stream", "--model", join(dir, "m-stream-stdin"), ...SMALL);
    expect(st.code).toBe(1);
    expect(st.err).toContain("standard input: training data is read twice");
    expect(existsSync(join(dir, "m-stream-stdin"))).toBe(false);
  });
});

describe("machine-readable output", () => {
  it("--version, inspect --json, train --json", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string };
    const v = await run("--version");
    expect([v.code, v.out]).toEqual([0, `esmm-ts ${pkg.version}`]);
    const m = join(dir, "m-json");
    const t = await run("train", "--train", csv, "--valid", valid, "--model", m, ...SMALL, "--json");
    expect(t.code).toBe(0);
    const j = JSON.parse(t.out);
    expect(j.variant).toBe("esmm");
    expect(j.epochsDone).toBe(1);
    expect(j.validation.rows).toBe(600);
    expect(j.validation).toEqual(JSON.parse((await run("eval", "--model", m, "--data", valid, "--json")).out).metrics); // the saved model's metrics
    // with early stopping on two threads the saved model is the best epoch's, and so are the metrics printed
    const es = join(dir, "m-json-es");
    const te = await run("train", "--train", csv, "--valid", valid, "--model", es, "--dim", "4", "--variant", "esmm", "--epochs", "4", "--lr", "0.05", "--early-stop", "ctrLogLoss", "--threads", "2", "--json");
    expect(te.code, te.err).toBe(0);
    const je = JSON.parse(te.out);
    expect(je.bestEpoch).toBeLessThan(je.epochsDone - 1); // the weights of an earlier epoch were restored
    expect(je.validation).toEqual(JSON.parse((await run("eval", "--model", es, "--data", valid, "--json", "--threads", "2")).out).metrics);
    expect(je.validation.ctrLogLoss).toBe(Math.min(...je.history.map((_: unknown, i: number) => JSON.parse(readFileSync(join(es, "model.json"), "utf8")).training.history[i].valid.ctrLogLoss)));
    const ins = JSON.parse((await run("inspect", "--model", m, "--json")).out);
    expect(ins.config.dim).toBe(4);
    expect(ins.parameters).toBe(Object.values(ins.parameterGroups as Record<string, number>).reduce((s, x) => s + x, 0));
    expect(ins.training.seed).toBe(1);
    expect(ins.gateUsage).toBe(null); // esmm has no gates
    // esmm-mmoe's gate usage, recorded from the epoch's validation pass on two threads, is what inspect
    // computes from the saved model on one
    const g = join(dir, "m-json-gates");
    expect((await run("train", "--train", csv, "--valid", valid, "--model", g, "--dim", "4", "--epochs", "1", "--expert-hidden", "8", "--threads", "2")).code).toBe(0);
    const saved = JSON.parse(readFileSync(join(g, "model.json"), "utf8")).training.gateUsage;
    const fresh = JSON.parse((await run("inspect", "--model", g, "--data", valid, "--json")).out).gateUsage;
    expect(saved.ctr.length).toBe(2);
    expect({ ctr: saved.ctr, cvr: saved.cvr }).toEqual({ ctr: fresh.ctr, cvr: fresh.cvr });
  });
});

describe("logs", () => {
  it("--skip-bad reports its summary once; progress lines come by the clock", async () => {
    const p = join(dir, "mixed.csv");
    writeFileSync(p, readFileSync(csv, "utf8").replace(/\n1,0,/, "\n1,7,"));
    const r = await run("train", "--train", p, "--model", join(dir, "m-mixed"), ...SMALL, "--skip-bad", "--progress-seconds", "3600");
    expect(r.code, r.err).toBe(0);
    expect(r.err.match(/skipped 1 bad line/g)?.length).toBe(1);
    // with an hour between lines, only the epoch's end is printed, and the loss is named for what it is
    const progress = r.err.split("\n").filter((l) => l.startsWith("epoch 1/1"));
    expect(progress.length).toBe(1);
    expect(progress[0]).toMatch(/100% .* loss ctr \d\.\d{4} ctcvr \d\.\d{4}/);
    const every = await run("train", "--train", csv, "--model", join(dir, "m-every"), ...SMALL, "--batch", "256", "--progress-seconds", "0.000001");
    expect(every.err.split("\n").filter((l) => l.startsWith("epoch 1/1")).length).toBeGreaterThanOrEqual(8);
  });
});

describe("a numeric column read as categorical", () => {
  it("is named in a warning, with the flag that reads it as a number; integer ids are not", async () => {
    const p = join(dir, "floats.csv");
    const lines = ["click,conversion,user_id,price"];
    for (let i = 0; i < 600; i++) lines.push(`${i % 7 === 0 ? 1 : 0},0,${i % 150},${(i * 0.37).toFixed(2)}`);
    writeFileSync(p, lines.join("\n") + "\n");
    const r = await run("train", "--train", p, "--model", join(dir, "m-floats"), ...SMALL);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: column "price" looks numeric \(\d+ distinct values, e\.g\. 0\.00, 0\.37, 0\.74\) but is read as categorical, one id per value; if it is a number, pass --dense price/);
    expect(r.err).not.toMatch(/column "user_id" looks numeric/);
    const d = await run("train", "--train", p, "--model", join(dir, "m-floats-dense"), ...SMALL, "--dense", "price");
    expect(d.code).toBe(0);
    expect(d.err).not.toMatch(/looks numeric/);
  });
});

describe("a config file and the architecture from the command line", () => {
  it("train --config takes the flags' keys, flags override it; --experts, --expert-hidden, --tower-hidden, --loss-weights shape the run", async () => {
    const cfg = join(dir, "train.json");
    const m = join(dir, "m-config");
    writeFileSync(cfg, JSON.stringify({ train: csv, model: m, epochs: 1, dim: 4, experts: 3, "expert-hidden": [8, 4], "tower-hidden": "2", "loss-weights": "1,0.5", batch: 256, seed: 3 }));
    const r = await run("train", "--config", cfg, "--seed", "4");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(readFileSync(join(m, "model.json"), "utf8"));
    expect([j.config.experts.count, j.config.experts.hidden, j.config.towers.hidden, j.config.dim]).toEqual([3, [8, 4], [2], 4]);
    expect([j.training.seed, j.training.batch, j.training.lossWeights]).toEqual([4, 256, { ctr: 1, cvr: 0.5 }]);
    // the loss weights change the training: another weight, other weights
    const m2 = join(dir, "m-config-2");
    expect((await run("train", "--config", cfg, "--seed", "4", "--model", m2, "--loss-weights", "1,1")).code).toBe(0);
    expect(Buffer.compare(readFileSync(join(m, "weights.safetensors")), readFileSync(join(m2, "weights.safetensors")))).not.toBe(0);
    const resumed = await run("train", "--train", csv, "--model", m, "--epochs", "2", "--resume", "--loss-weights", "1,1");
    expect(resumed.code).toBe(2);
    expect(resumed.err).toContain("--loss-weights 1,1 contradicts the checkpoint's 1,0.5");
    expect((await run("train", "--train", csv, "--model", m, "--epochs", "2", "--resume", "--experts", "2")).code).toBe(2);
    const zero = await run("train", "--train", csv, "--model", join(dir, "m-zero"), "--loss-weights", "0,0"); // it trained nothing, and saved it
    expect(zero.code).toBe(2);
    expect(zero.err).toContain("--loss-weights 0,0: every weight is 0, so nothing would be trained");
    expect(existsSync(join(dir, "m-zero"))).toBe(false);
    expect((await run("train", "--train", csv, "--model", m, "--epochs", "2", "--resume")).code).toBe(0);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ train: csv, model: m, epochz: 2 }));
    const b = await run("train", "--config", bad);
    expect(b.code).toBe(2);
    expect(b.err).toContain(`${bad}: unknown option "epochz" (did you mean "epochs"?)`);
  });
});

describe("eval and predict read a file's columns with the model's meanings", () => {
  it("--click/--conversion name the labels of a file that calls them otherwise; the inputs' flags may restate the model's, not change them", async () => {
    const m = join(dir, "m-labels");
    expect((await run("train", "--train", csv, "--model", m, ...SMALL)).code).toBe(0);
    const renamed = join(dir, "valid-renamed.csv");
    const lines = readFileSync(valid, "utf8").split("\n");
    writeFileSync(renamed, [lines[0]!.replace("click,conversion", "clk,cv"), ...lines.slice(1)].join("\n"));
    writeFileSync(`${renamed}.schema.json`, readFileSync(`${valid}.schema.json`));
    const same = await run("eval", "--model", m, "--data", valid, "--json");
    const named = await run("eval", "--model", m, "--data", renamed, "--click", "clk", "--conversion", "cv", "--json");
    expect(named.code, named.err).toBe(0);
    expect(JSON.parse(named.out).metrics).toEqual(JSON.parse(same.out).metrics);
    // the flags a script passes to train as well: restating the model's columns is fine, in any order
    const restated = await run("eval", "--model", m, "--data", valid, "--dense", "user_tenure,app_downloads", "--multi", "recent_cats", "--json");
    expect(restated.code, restated.err).toBe(0);
    expect(JSON.parse(restated.out).metrics).toEqual(JSON.parse(same.out).metrics);
    const changed = await run("eval", "--model", m, "--data", valid, "--dense", "app_downloads");
    expect(changed.code).toBe(2);
    expect(changed.err).toContain("--dense app_downloads contradicts the model, which reads app_downloads,user_tenure as dense, as it was trained");
    const predicted = await run("predict", "--model", m, "--data", valid, "--out", "-", "--multi", "recent_cats,age");
    expect(predicted.code).toBe(2);
    expect(predicted.err).toContain("--multi recent_cats,age contradicts the model, which reads recent_cats as multi");
  });
});

describe("a training file with one label only", () => {
  it("train warns of a file with no conversions, or no clicks, naming the column to check", async () => {
    const lines = readFileSync(csv, "utf8").trimEnd().split("\n");
    const zeroed = (name: string, cols: number[]): string => {
      const p = join(dir, name);
      writeFileSync(p, [lines[0], ...lines.slice(1).map((l) => l.split(",").map((c, i) => (cols.includes(i) ? "0" : c)).join(","))].join("\n") + "\n");
      writeFileSync(`${p}.schema.json`, readFileSync(`${csv}.schema.json`));
      return p;
    };
    const clicks = lines.slice(1).filter((l) => l.startsWith("1,")).length;
    const noConv = await run("train", "--train", zeroed("no-conv.csv", [1]), "--model", join(dir, "m-no-conv"), ...SMALL);
    expect(noConv.code).toBe(0);
    expect(noConv.err).toContain(`warning: ${join(dir, "no-conv.csv")} holds no conversions in 2,000 rows (${clicks.toLocaleString("en-US")} clicks): the CVR tower can only learn that nothing converts (is --conversion the right column?)`);
    const noClick = await run("train", "--train", zeroed("no-click.csv", [0, 1]), "--model", join(dir, "m-no-click"), ...SMALL);
    expect(noClick.err).toContain("holds no clicks in 2,000 rows: both towers can only learn that nothing is clicked (is --click the right column?)");
    const normal = await run("train", "--train", csv, "--model", join(dir, "m-both"), ...SMALL);
    expect(normal.err).not.toContain("warning:");
  });
});

describe("a file whose ids the model never saw", () => {
  it("eval and predict say which columns read mostly the out-of-vocabulary row; eval --json gives every column's share", async () => {
    const m = join(dir, "m-unseen");
    expect((await run("train", "--train", csv, "--model", m, ...SMALL)).code).toBe(0);
    const lines = readFileSync(valid, "utf8").trimEnd().split("\n");
    const header = lines[0]!.split(",");
    const [u, a] = [header.indexOf("user_id"), header.indexOf("app_id")];
    // the same rows with user_id re-encoded (offset by a million): no value of it was in training
    const shifted = join(dir, "valid-shifted.csv");
    writeFileSync(shifted, [lines[0], ...lines.slice(1).map((l) => l.split(",").map((c, i) => (i === u ? String(Number(c) + 1_000_000) : c)).join(","))].join("\n") + "\n");
    writeFileSync(`${shifted}.schema.json`, readFileSync(`${valid}.schema.json`));
    const e = await run("eval", "--model", m, "--data", shifted, "--json");
    expect(e.code, e.err).toBe(0);
    expect(e.err).toContain(`warning: ${shifted}: values the model never saw in training (they all read one out-of-vocabulary row): user_id 100.0%;`);
    const shares = JSON.parse(e.out).unseen as Record<string, number>;
    expect(shares.user_id).toBe(1);
    // app_id's share, counted by hand from the training file's values
    const seen = new Set(readFileSync(csv, "utf8").trimEnd().split("\n").slice(1).map((l) => l.split(",")[a]));
    const apps = lines.slice(1).map((l) => l.split(",")[a]);
    expect(shares.app_id).toBeCloseTo(apps.filter((x) => !seen.has(x)).length / apps.length, 12);
    const pr = await run("predict", "--model", m, "--data", shifted, "--out", join(dir, "p-shifted.csv"), "--threads", "2");
    expect(pr.err).toContain("user_id 100.0%");
    const plain = await run("eval", "--model", m, "--data", valid);
    expect(plain.err).not.toContain("warning:");
    // and train says it of a validation file, and of the file a resumed run continues on
    const t = await run("train", "--train", csv, "--valid", shifted, "--model", join(dir, "m-unseen-valid"), ...SMALL);
    expect(t.code).toBe(0);
    expect(t.err).toContain(`warning: ${shifted}: values the model never saw in training`);
    const resumed = await run("train", "--train", shifted, "--model", m, "--epochs", "2", "--resume");
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toContain(`warning: ${shifted}: values the model never saw in training (they all read one out-of-vocabulary row): user_id 100.0%`);
  });
});

describe("held-out files that are not", () => {
  it("train, compare, eval and predict warn of the training file itself, of its world and stream again, and of another world", async () => {
    const t = await run("train", "--train", csv, "--valid", join(dir, ".", "train.csv"), "--model", join(dir, "m-self-valid"), ...SMALL, "--early-stop", "ctcvrAuc");
    expect(t.code, t.err).toBe(0);
    expect(t.err).toContain(`warning: --valid ${join(dir, ".", "train.csv")} is the training file itself: its figures measure the fit to the rows trained on, not to held-out ones`);
    const c = await run("compare", "--presets", "esmm", "--seeds", "1", "--train", csv, "--valid", valid, "--test", csv, "--dim", "4", "--workers", "0");
    expect(c.code, c.err).toBe(0);
    expect(c.err).toContain(`warning: --test ${csv} is the training file itself`);
    expect(c.err).not.toContain("--valid");
    const held = await run("train", "--train", csv, "--valid", valid, "--model", join(dir, "m-held-valid"), ...SMALL);
    expect(held.err).not.toContain("warning:");
    // a file generated from the training file's world and stream holds its first rows
    const same = join(dir, "valid-stream0.csv");
    expect((await run("generate", "--rows", "600", "--out", same, "--users", "200", "--apps", "80")).code).toBe(0);
    expect(readFileSync(same, "utf8").split("\n").slice(0, 601)).toEqual(readFileSync(csv, "utf8").split("\n").slice(0, 601));
    const s = await run("train", "--train", csv, "--valid", same, "--model", join(dir, "m-stream0-valid"), ...SMALL);
    expect(s.err).toContain(`warning: --valid ${same} was generated from the training file's world and stream (0), so its rows are the training rows`);
    const cs = await run("compare", "--presets", "esmm", "--seeds", "1", "--train", csv, "--valid", valid, "--test", same, "--dim", "4", "--workers", "0");
    expect(cs.err).toContain(`warning: --test ${same} was generated from the training file's world and stream (0)`);
    // a file of another world: the same ids, other users and apps (train --valid, eval, predict)
    const other = join(dir, "valid-world8.csv");
    expect((await run("generate", "--rows", "600", "--stream", "1", "--seed", "8", "--bias", "2", "--out", other, "--users", "200", "--apps", "80")).code).toBe(0);
    const said = "was generated from another simulated world than the training data (seed 8 (7 in training), bias 2 (1 in training)): the same ids name other users and apps there, so the model knows none of them";
    const tw = await run("train", "--train", csv, "--valid", other, "--model", join(dir, "m-world8-valid"), ...SMALL);
    expect(tw.err).toContain(`warning: --valid ${other} ${said}`);
    for (const cmd of [["eval"], ["predict", "--out", "-"]]) {
      const r = await run(cmd[0]!, "--model", join(dir, "m-held-valid"), "--data", other, ...cmd.slice(1));
      expect(r.code, r.err).toBe(0);
      expect(r.err, cmd[0]).toContain(`warning: ${other} ${said}`);
    }
    expect((await run("eval", "--model", join(dir, "m-held-valid"), "--data", valid)).err).not.toContain("warning:");
  });
});
