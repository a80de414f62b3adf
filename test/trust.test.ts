/**
 * Trust: what an adversarial user tried, each case failing on the code before this test existed.
 * Data loss (a --model that is not ours, trailing slashes, crashes inside the checkpoint swap,
 * resume), hangs and silent garbage (NaN metrics, divergence, NaN checkpoints, endless lines),
 * untrusted checkpoints (allocation before checks, values that pass, byte flips).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  Adam,
  CONFIG_LIMITS,
  Esmm,
  Preprocessor,
  Rng,
  TrainingDivergedError,
  PRESET_NAMES,
  auc,
  crc32Hex,
  decodeSafetensors,
  encodeSafetensors,
  esmmMetrics,
  logLoss,
  parameterCount,
  resolveConfig,
  train,
  type EsmmConfigInput,
  type ModelJson,
} from "../src/index.js";
import { loadCheckpoint, readLines, saveCheckpoint, type DirFs, type FileData } from "../src/node/index.js";
import { promises as fsp } from "node:fs";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { csvWithCell, runCli } from "./helpers.js";

const run = runCli;

const tmp = mkdtempSync(join(tmpdir(), "esmm-trust-"));
const trainCsv = join(tmp, "train.csv");
const validCsv = join(tmp, "valid.csv");
const SMALL = ["--dim", "4", "--epochs", "1"];

beforeAll(async () => {
  expect((await run("generate", "--rows", "2000", "--out", trainCsv, "--users", "200", "--apps", "100")).code).toBe(0);
  expect((await run("generate", "--rows", "500", "--stream", "1", "--out", validCsv, "--users", "200", "--apps", "100")).code).toBe(0);
});

/** Rewrites a checkpoint's model.json (and the checksums, as someone crafting a file would). */
function craft(dir: string, edit: (j: ModelJson) => void, weights?: Uint8Array): void {
  const j = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as ModelJson;
  edit(j);
  if (weights) writeFileSync(join(dir, "weights.safetensors"), weights);
  resum(j, dir);
  writeFileSync(join(dir, "model.json"), JSON.stringify(j, null, 2));
}

function resum(j: ModelJson, dir: string): void {
  j.checksums = {
    content: crc32Hex(JSON.stringify([j.config, j.preprocessor ?? null, j.training ?? null])),
    "weights.safetensors": crc32Hex(readFileSync(join(dir, "weights.safetensors"))),
  };
  if (existsSync(join(dir, "optimizer.safetensors"))) j.checksums["optimizer.safetensors"] = crc32Hex(readFileSync(join(dir, "optimizer.safetensors")));
}

function copyDir(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) writeFileSync(join(to, f), readFileSync(join(from, f)));
}

describe("never delete what is not ours", () => {
  it("one writer at a time: train into a directory another process is training into exits 1 naming it, touching nothing; a lock its process left behind is taken over", async () => {
    const m = join(tmp, "m-locked");
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL)).code).toBe(0);
    expect(existsSync(`${m}.lock`)).toBe(false); // released after the run
    const before = readFileSync(join(m, "model.json"), "utf8");
    // held by a running process: this one (the command runs in-process here, as a second terminal would run it)
    writeFileSync(`${m}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), started: "2026-12-07T23:00:00.000Z" }));
    const held = await run("train", "--train", trainCsv, "--model", m, "--seed", "2", ...SMALL);
    expect(held.code).toBe(1);
    expect(held.err).toContain(`${m} is being written by process ${process.pid}, since 2026-12-07T23:00:00.000Z (${m}.lock); wait for it to finish`);
    expect(readFileSync(join(m, "model.json"), "utf8")).toBe(before); // before, both runs saved in turn and reported success
    expect(existsSync(`${m}.lock`)).toBe(true); // someone else's lock stays
    // held on another host: it cannot be checked from here, so it stands
    writeFileSync(`${m}.lock`, JSON.stringify({ pid: 1, host: "elsewhere", started: "x" }));
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL)).err).toContain("is being written by process 1 on elsewhere, since x");
    // left by a process of this host that is gone: taken over, and removed when the run ends (failing or not)
    const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
    writeFileSync(`${m}.lock`, JSON.stringify({ pid: gone, host: hostname(), started: "x" }));
    expect((await run("train", "--train", trainCsv, "--model", m, "--resume", "--epochs", "2")).code).toBe(0);
    expect(existsSync(`${m}.lock`)).toBe(false);
    expect((await run("train", "--train", join(tmp, "no-such.csv"), "--model", m, ...SMALL)).code).toBe(1);
    expect(existsSync(`${m}.lock`)).toBe(false);
    // the lock makes the parents a new checkpoint's directory needs, as saving it does, and a run that
    // saves nothing leaves none of them behind
    const deep = join(tmp, "new-parent", "sub", "m");
    expect((await run("train", "--train", join(tmp, "no-such.csv"), "--model", deep, ...SMALL)).code).toBe(1);
    expect(existsSync(join(tmp, "new-parent"))).toBe(false);
    expect((await run("train", "--train", trainCsv, "--model", deep, ...SMALL)).code).toBe(0);
    expect(existsSync(join(deep, "model.json"))).toBe(true);
  });

  it("train --model refuses an existing directory that is not a checkpoint, and a file, touching neither", async () => {
    const mine = join(tmp, "my-photos");
    mkdirSync(mine);
    writeFileSync(join(mine, "holiday.jpg"), "precious");
    const r = await run("train", "--train", trainCsv, "--model", mine, ...SMALL);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${mine} exists and is not an esmm-ts checkpoint; refusing`);
    expect(readFileSync(join(mine, "holiday.jpg"), "utf8")).toBe("precious");
    expect(readdirSync(mine)).toEqual(["holiday.jpg"]);

    const file = join(tmp, "notes.txt");
    writeFileSync(file, "keep me");
    const f = await run("train", "--train", trainCsv, "--model", file, ...SMALL);
    expect(f.code).toBe(1);
    expect(f.err).toContain(`${file} exists and is not a directory; refusing`);
    expect(readFileSync(file, "utf8")).toBe("keep me");

    // nor a <model>.old that is not ours
    const m = join(tmp, "m-old-guard");
    mkdirSync(`${m}.old`);
    writeFileSync(join(`${m}.old`, "x"), "mine");
    const o = await run("train", "--train", trainCsv, "--model", m, ...SMALL);
    expect(o.code).toBe(1);
    expect(o.err).toContain(".old exists and is not an esmm-ts checkpoint");
    expect(readFileSync(join(`${m}.old`, "x"), "utf8")).toBe("mine");
  });

  it("an empty directory and an existing checkpoint may be written", async () => {
    const empty = join(tmp, "m-empty");
    mkdirSync(empty);
    writeFileSync(join(empty, ".DS_Store"), "finder"); // a file manager's metadata alone: still empty
    expect((await run("train", "--train", trainCsv, "--model", empty, ...SMALL, "--variant", "base")).code).toBe(0);
    expect((await run("train", "--train", trainCsv, "--model", empty, ...SMALL, "--variant", "base", "--seed", "2")).code).toBe(0);
    expect(JSON.parse(readFileSync(join(empty, "model.json"), "utf8")).training.seed).toBe(2);
  });

  it("no command writes a file into a checkpoint directory: not over its weights, not beside them (saving again replaces the directory whole)", async () => {
    const m = join(tmp, "m-no-outputs-inside");
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--variant", "esmm")).code).toBe(0);
    const before = new Map(readdirSync(m).map((f) => [f, readFileSync(join(m, f))]));
    const refused = `is an esmm-ts checkpoint directory, which saving the model replaces whole; write it outside the checkpoint`;
    for (const args of [
      ["predict", "--model", m, "--data", validCsv, "--out", join(m, "weights.safetensors")], // replaced the weights, exit 0, before
      ["predict", "--model", m, "--data", validCsv, "--out", join(m, "preds.csv")],
      ["generate", "--rows", "10", "--out", join(m, "model.json")],
      ["export", "--model", m, "--out", join(m, "model.onnx")],
      ["compare", "--presets", "esmm", "--seeds", "1", "--epochs", "1", "--rows", "500", "--out", m], // refused before its runs
    ]) {
      const r = await run(...args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err, args.join(" ")).toContain(refused);
    }
    expect(readdirSync(m).sort()).toEqual([...before.keys()].sort());
    for (const [f, bytes] of before) expect(Buffer.compare(readFileSync(join(m, f)), bytes), f).toBe(0);
    expect((await run("eval", "--model", m, "--data", validCsv)).code).toBe(0);
  });

  it("train --model refuses a checkpoint that also holds a file of the user's, naming it, and deletes nothing", async () => {
    const m = join(tmp, "m-with-notes");
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--variant", "esmm")).code).toBe(0);
    writeFileSync(join(m, "notes.txt"), "trained on the March logs");
    const r = await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--variant", "esmm", "--seed", "2");
    expect(r.code).toBe(1);
    expect(r.err).toContain("is an esmm-ts checkpoint that also holds notes.txt; saving replaces the directory whole, so refusing (move it out, or choose another path)");
    expect(readFileSync(join(m, "notes.txt"), "utf8")).toBe("trained on the March logs");
    expect(JSON.parse(readFileSync(join(m, "model.json"), "utf8")).training.seed).toBe(1);
    // a file manager's own metadata is nobody's data: it does not stop the save
    rmSync(join(m, "notes.txt"));
    writeFileSync(join(m, ".DS_Store"), "finder");
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--variant", "esmm", "--seed", "2")).code).toBe(0);
    expect(JSON.parse(readFileSync(join(m, "model.json"), "utf8")).training.seed).toBe(2);
  });

  it("predict --out refuses the input file, under any spelling or link, and leaves it whole", async () => {
    const m = join(tmp, "m-out-guard");
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--variant", "esmm")).code).toBe(0);
    const data = join(tmp, "rows.csv");
    writeFileSync(data, readFileSync(validCsv));
    symlinkSync(data, join(tmp, "rows-link.csv"));
    for (const out of [data, join(tmp, ".", "rows.csv"), join(tmp, "rows-link.csv")]) {
      const r = await run("predict", "--model", m, "--data", data, "--out", out);
      expect(r.code, out).toBe(2);
      expect(r.err).toContain(`--out ${out} is the input file ${data}; refusing to replace the data with its scores`);
    }
    expect(Buffer.compare(readFileSync(data), readFileSync(validCsv))).toBe(0);
    // another file still may be replaced, as any output is
    const other = join(tmp, "scores.csv");
    writeFileSync(other, "old");
    expect((await run("predict", "--model", m, "--data", data, "--out", other)).code).toBe(0);
    expect(readFileSync(other, "utf8").split("\n")[0]).toBe("pctr,pcvr,pctcvr");
  });

  it("generate and predict --out a directory: a clear error before anything is written, the directory untouched", async () => {
    const d = join(tmp, "out-is-a-dir");
    mkdirSync(d);
    writeFileSync(join(d, "keep.txt"), "mine");
    const g = await run("generate", "--rows", "10", "--out", d);
    expect(g.code).toBe(1);
    expect(g.err).toContain(`esmm generate: cannot write ${d}: it is a directory`); // was EISDIR from the final rename
    expect(readdirSync(d)).toEqual(["keep.txt"]);
    expect(readdirSync(tmp).filter((n) => n.startsWith(".out-is-a-dir"))).toEqual([]); // no temporary file left
  });

  it.each([["with", "/"], ["without", ""]])("--model %s a trailing slash saves every epoch", async (_, slash) => {
    const m = join(tmp, `m-slash-${slash ? "yes" : "no"}`);
    const r = await run("train", "--train", trainCsv, "--model", m + slash, "--dim", "4", "--epochs", "2", "--variant", "esmm");
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(readFileSync(join(m, "model.json"), "utf8"));
    expect(j.training.epochsDone).toBe(2);
    expect(readdirSync(tmp).filter((n) => n.startsWith(`m-slash-${slash ? "yes" : "no"}.`) || n.startsWith(`.m-slash-${slash ? "yes" : "no"}`))).toEqual([]);
    // and the directory holds epoch 2's weights: the same as resuming epoch 1 to 2
    const a = `${m}-1`;
    expect((await run("train", "--train", trainCsv, "--model", a + slash, "--dim", "4", "--epochs", "1", "--variant", "esmm")).code).toBe(0);
    expect((await run("train", "--train", trainCsv, "--model", a + slash, "--epochs", "2", "--resume")).code).toBe(0);
    expect(Buffer.compare(readFileSync(join(a, "weights.safetensors")), readFileSync(join(m, "weights.safetensors")))).toBe(0);
  });
});

/** A 64 KiB tmpfs at a new directory, or null where this process may not mount one (not root, a locked-down container). */
function tinyDisk(): { dir: string; unmount: () => void } | null {
  const dir = mkdtempSync(join(tmpdir(), "esmm-tiny-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "ignore" });
  } catch {
    return null;
  }
  return {
    dir,
    unmount: () => {
      try {
        execFileSync("umount", ["-l", dir], { stdio: "ignore" });
      } catch {
        // left mounted (64 KiB of memory) rather than failing the test that used it
      }
    },
  };
}

describe("a full disk", () => {
  it("is an error naming the file being written, exit 1, with nothing left behind (plain and gzip; skipped where no tmpfs can be mounted)", async (ctx) => {
    const disk = tinyDisk();
    if (!disk) return ctx.skip();
    try {
      const model = join(tmp, "m-full-disk");
      expect((await run("train", "--train", trainCsv, "--model", model, ...SMALL)).code).toBe(0);
      const rows = join(tmp, "full-disk-rows.csv"); // predictions of 20,000 rows: past 64 KiB, gzipped or not
      expect((await run("generate", "--rows", "20000", "--out", rows)).code).toBe(0);
      for (const name of ["preds.csv", "preds.csv.gz"]) {
        const out = join(disk.dir, name);
        const r = await run("predict", "--model", model, "--data", rows, "--out", out);
        expect(r.code, name).toBe(1);
        expect(r.err, name).toContain(`cannot write ${out}: ENOSPC`);
        expect(readdirSync(disk.dir), name).toEqual([]);
      }
      // a checkpoint too large for the disk: the same, and no directory half-written
      const ck = join(disk.dir, "m");
      const t = await run("train", "--train", trainCsv, "--model", ck, "--epochs", "1", "--dim", "32");
      expect(t.code).toBe(1);
      expect(t.err).toContain("ENOSPC");
      expect(readdirSync(disk.dir)).toEqual([]);
    } finally {
      disk.unmount();
    }
  });
});

describe("stopped by a signal while writing", () => {
  it("predict removes its temporary file on Ctrl-C and exits 130; the target is left as it was", { timeout: 60_000 }, async () => {
    const m = join(tmp, "m-sigint");
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--variant", "esmm")).code).toBe(0);
    const rows = join(tmp, "sigint-rows.csv");
    expect((await run("generate", "--rows", "150000", "--out", rows, "--users", "200", "--apps", "100")).code).toBe(0);
    const out = join(tmp, "sigint-scores.csv");
    writeFileSync(out, "the old scores\n");
    const child = spawn(process.execPath, [join(import.meta.dirname, "..", "dist", "cli", "bin.js"), "predict", "--model", m, "--data", rows, "--out", out], { stdio: "ignore" });
    const temps = (): string[] => readdirSync(tmp).filter((n) => n.startsWith(".sigint-scores.csv.tmp-"));
    const closed = new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    for (let i = 0; i < 400 && temps().length === 0; i++) await new Promise((r) => setTimeout(r, 25)); // until it is writing
    expect(temps().length).toBe(1); // a hidden temporary file was left behind here before
    child.kill("SIGINT");
    expect(await closed).toBe(130);
    expect(temps()).toEqual([]);
    expect(readFileSync(out, "utf8")).toBe("the old scores\n");
  });
});

describe("the checkpoint swap survives a crash at every step, however often", () => {
  const cfg: EsmmConfigInput = { preset: "esmm", fields: [{ name: "a", vocab: 5 }], dim: 2, experts: { count: 2, hidden: [3] }, towers: { hidden: [] } };
  const version = (v: number): Esmm => {
    const m = new Esmm(cfg);
    m.namedParameters()[0]![1].data[0] = v; // the version is readable from the weights
    return m;
  };
  const saved = async (dir: string): Promise<number> => {
    const ck = await loadCheckpoint(dir);
    expect(ck.json.training!.version).toBe(ck.model.namedParameters()[0]![1].data[0]);
    return ck.json.training!.version as number;
  };
  /** The real calls, except that call number `at` and every one after it fail: the process died there. */
  const crashingAt = (at: number): DirFs & { calls: number } => {
    const fs = {
      calls: 0,
      async step<T>(f: () => Promise<T>): Promise<T> {
        if (fs.calls++ >= at) throw new Error("killed");
        return f();
      },
      mkdir: (p: string) => fs.step(() => fsp.mkdir(p)),
      writeFile: (p: string, d: FileData) => fs.step(() => fsp.writeFile(p, d)),
      rename: (a: string, b: string) => fs.step(() => fsp.rename(a, b)),
      rm: (p: string) => fs.step(() => fsp.rm(p, { recursive: true, force: true })),
    };
    return fs;
  };
  const save = (dir: string, v: number, fs?: DirFs): Promise<void> => saveCheckpoint(dir, version(v), { training: { version: v }, ...(fs ? { fs } : {}) });

  it("a crash at each filesystem step leaves the old or the new checkpoint, loadable", async () => {
    const probe = crashingAt(1e9);
    const base = join(tmp, "swap-probe");
    await save(base, 1);
    await save(base, 2, probe);
    const steps = probe.calls;
    expect(steps).toBeGreaterThanOrEqual(7); // mkdir, 3 files, retire, rename aside, rename in, retire
    for (let at = 0; at < steps; at++) {
      const dir = join(tmp, `swap-${at}`);
      await save(dir, 1);
      await expect(save(dir, 2, crashingAt(at))).rejects.toThrow();
      expect([1, 2]).toContain(await saved(dir));
      await save(dir, 3); // the next run cleans up and succeeds
      expect(await saved(dir)).toBe(3);
      expect(readdirSync(tmp).filter((n) => n.includes(`swap-${at}.`) || n.includes(`swap-${at}-`))).toEqual([]);
    }
  });

  it("crash after crash after crash, at random steps, never loses the checkpoint", async () => {
    const rng = new Rng(11);
    const dir = join(tmp, "swap-repeat");
    await save(dir, 0);
    let last = 0; // the newest version that certainly finished
    const attempted = new Set([0]);
    for (let v = 1; v <= 60; v++) {
      attempted.add(v);
      // killed at a random step (or, past the last step, not at all)
      const finished = await save(dir, v, rng.bernoulli(0.8) ? crashingAt(rng.int(9)) : undefined).then(
        () => true,
        () => false,
      );
      if (finished) last = v;
      const got = await saved(dir);
      expect(attempted.has(got)).toBe(true);
      expect(got).toBeGreaterThanOrEqual(last);
    }
  });
});

describe("resume is the run it continues", () => {
  it("takes seed, batch and optimiser options from the checkpoint; contradictions are usage errors; --lr is recorded", async () => {
    const opts = ["--seed", "5", "--batch", "256", "--lr", "0.003", "--variant", "esmm", "--dim", "4"];
    const full = join(tmp, "r-full");
    const part = join(tmp, "r-part");
    expect((await run("train", "--train", trainCsv, "--model", full, "--epochs", "2", ...opts)).code).toBe(0);
    expect((await run("train", "--train", trainCsv, "--model", part, "--epochs", "1", ...opts)).code).toBe(0);
    const bad = await run("train", "--train", trainCsv, "--model", part, "--epochs", "2", "--resume", "--batch", "512");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--batch 512 contradicts the checkpoint, which was trained with batch 256");
    expect((await run("train", "--train", trainCsv, "--model", part, "--epochs", "2", "--resume", "--seed", "1")).code).toBe(2);
    expect((await run("train", "--train", trainCsv, "--model", part, "--epochs", "2", "--resume", "--variant", "base")).code).toBe(2);
    // restating the same values is fine; leaving them out is the same run
    const r = await run("train", "--train", trainCsv, "--model", part, "--epochs", "2", "--resume", "--batch", "256");
    expect(r.code, r.err).toBe(0);
    expect(Buffer.compare(readFileSync(join(full, "weights.safetensors")), readFileSync(join(part, "weights.safetensors")))).toBe(0);
    const t = JSON.parse(readFileSync(join(part, "model.json"), "utf8")).training;
    expect([t.seed, t.batch, t.lr, t.epochsDone]).toEqual([5, 256, 0.003, 2]);

    const lr = await run("train", "--train", trainCsv, "--model", part, "--epochs", "3", "--resume", "--lr", "0.001");
    expect(lr.code, lr.err).toBe(0);
    const t3 = JSON.parse(readFileSync(join(part, "model.json"), "utf8")).training;
    expect(t3.lr).toBe(0.001);
    expect(t3.changes).toEqual([{ atEpoch: 2, option: "lr", from: 0.003, to: 0.001 }]);
  });
});

describe("no hangs on NaN", () => {
  it("auc, logLoss and the ESMM metrics throw, naming the count, instead of looping", { timeout: 5000 }, () => {
    expect(() => auc([0.1, Number.NaN, 0.3, Number.NaN], [0, 1, 1, 0])).toThrow("auc: 2 of 4 scores are NaN or infinite (first at index 1)");
    expect(() => auc([0.1, Number.POSITIVE_INFINITY], [0, 1])).toThrow(/1 of 2 scores/);
    expect(() => auc([0.1, 0.2], [0, Number.NaN])).toThrow(/labels or weights/);
    expect(() => logLoss([Number.NaN], [1])).toThrow(/logLoss: 1 of 1 probabilities/);
    const ok = Float32Array.of(0.1, 0.2, 0.3);
    expect(() => esmmMetrics({ pCtr: ok, pCvr: Float32Array.of(0.1, Number.NaN, 0.1), pCtcvr: ok, click: Float32Array.of(1, 1, 0), conversion: Float32Array.of(0, 1, 0) })).toThrow(/metrics: 1 of 3 pCvr values/);
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75); // and finite input is unchanged
  });
});

describe("divergence stops training; NaN weights are never saved or served", () => {
  it("train() throws naming epoch, step and parameter, before a non-finite update", async () => {
    const model = new Esmm({ preset: "esmm", fields: [{ name: "a", vocab: 4 }], dim: 2, experts: { hidden: [3] }, towers: { hidden: [] } });
    const ids = Int32Array.of(0, 1, 2, 3);
    const data = { batches: () => [{ size: 4, ids, bags: [], dense: null, click: Float32Array.of(1, 0, 1, 0), conversion: Float32Array.of(0, 0, 1, 0) }] };
    const poisoned = model.towers.ctr.layers[0]!.weight;
    poisoned.data[0] = Number.NaN;
    const err = await train(model, data, { epochs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as TrainingDivergedError).step).toBe(1);
    // (ReLU keeps a NaN pre-activation, as PyTorch's does, so the NaN weight reaches the loss)
    expect((err as Error).message).toMatch(/training diverged at epoch 1, step 1: the loss is NaN \(parameter "towers\.ctr\.0\.weight" holds non-finite values\)/);
    expect((err as TrainingDivergedError).parameter).toBe("towers.ctr.0.weight");
    const m3 = new Esmm({ preset: "base", fields: [{ name: "a", vocab: 4 }], dim: 2, experts: { hidden: [3] }, towers: { hidden: [] } });
    m3.towers.cvr.layers[1]!.bias!.data[0] = Number.NaN; // the logit itself: the loss is NaN
    await expect(train(m3, data, { epochs: 1 })).rejects.toThrow(/step 1: the loss is NaN \(parameter "towers\.cvr\.1\.bias" holds non-finite values\)/);

    // finite weights whose logits overflow: caught at the loss, and no update is applied
    const m2 = new Esmm({ preset: "esmm", fields: [{ name: "a", vocab: 4 }], dim: 2, experts: { hidden: [3] }, towers: { hidden: [] } });
    m2.towers.ctr.layers[1]!.weight.data.fill(3e38);
    const before = m2.stateDict();
    const e2 = await train(m2, data, { epochs: 1 }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(TrainingDivergedError);
    expect((e2 as TrainingDivergedError).parameter).toBe(null);
    expect((e2 as Error).message).toMatch(/step 1: the loss is NaN \(the weights are the last finite step's, no update was applied\)/);
    for (const [n, v] of m2.stateDict()) expect(Array.from(v), n).toEqual(Array.from(before.get(n)!));
    // the optimiser names the gradient that went non-finite
    const opt = new Adam(m2.namedParameters());
    const g = m2.towers.cvr.layers[0]!.bias!;
    g.grad = new Float32Array(g.size);
    g.grad[1] = Number.NEGATIVE_INFINITY;
    expect(opt.nonFiniteGradient()).toEqual({ name: "towers.cvr.0.bias", count: 1 });
  });

  it("esmm train --lr 1e10 exits 1 with the step, and leaves no non-finite checkpoint", async () => {
    const m = join(tmp, "m-diverge");
    const r = await run("train", "--train", trainCsv, "--model", m, "--lr", "1e10", "--dim", "4", "--epochs", "3", "--variant", "esmm-mmoe");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/training diverged at epoch \d, step \d+/);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    if (existsSync(m)) {
      // an earlier epoch's checkpoint may stand: one of the epochs before the diverging one, finite
      const ck = await loadCheckpoint(m);
      const diverged = Number(/training diverged at epoch (\d)/.exec(r.err)![1]);
      expect(ck.json.training!.epochsDone).toBe(diverged - 1);
      for (const [n, p] of ck.model.namedParameters()) expect(p.data.every(Number.isFinite), n).toBe(true);
    } else expect(r.err).toMatch(/training diverged at epoch 1,/); // nothing saved: it diverged in the first epoch
    expect((await run("train", "--train", trainCsv, "--model", m, "--lr", "1e999")).code).toBe(2); // Infinity is not a rate
  });

  it("eval, predict and inspect refuse a checkpoint with non-finite weights, naming the tensor", async () => {
    const src = join(tmp, "m-finite");
    expect((await run("train", "--train", trainCsv, "--model", src, ...SMALL, "--variant", "esmm")).code).toBe(0);
    const m = join(tmp, "m-nan");
    copyDir(src, m);
    const { tensors, metadata } = decodeSafetensors(readFileSync(join(m, "weights.safetensors")));
    tensors.get("towers.cvr.1.bias")!.data[0] = Number.NaN;
    craft(m, () => undefined, encodeSafetensors(tensors, metadata));
    for (const cmd of [["eval", "--data", validCsv], ["predict", "--data", validCsv, "--out", join(tmp, "nan.csv")], ["inspect"]]) {
      const r = await run(cmd[0]!, "--model", m, ...cmd.slice(1));
      expect(r.code).toBe(1);
      expect(r.err).toContain('weights.safetensors: tensor "towers.cvr.1.bias" has 1 non-finite value(s)');
    }
    expect(existsSync(join(tmp, "nan.csv"))).toBe(false);
  });

  it("a training step during a save fails the save and keeps the previous checkpoint", async () => {
    // saving writes the weights and Adam's moments from their own arrays, not from a copy
    const model = new Esmm({ preset: "esmm", fields: [{ name: "a", vocab: 4 }], dim: 2, experts: { hidden: [3] }, towers: { hidden: [2] }, seed: 3 });
    const opt = new Adam(model.namedParameters(), { lr: 0.1 });
    const batch = { size: 4, ids: Int32Array.of(0, 1, 2, 3), bags: [], dense: null };
    const step = (): void => {
      model.loss(model.forward(batch), Float32Array.of(1, 0, 1, 0), Float32Array.of(1, 0, 0, 0)).total.backward();
      opt.step();
      opt.zeroGrad();
    };
    step();
    const dir = join(tmp, "m-race");
    await saveCheckpoint(dir, model, { optimizer: opt, training: { run: 1 } });
    const before = readFileSync(join(dir, "weights.safetensors"));
    const saving = saveCheckpoint(dir, model, { optimizer: opt, training: { run: 2 } });
    step(); // not awaited: the step lands while the files are being written
    await expect(saving).rejects.toThrow("the model or its optimizer changed while it was being saved");
    const ck = await loadCheckpoint(dir);
    expect(ck.json.training).toEqual({ run: 1 });
    expect(readFileSync(join(dir, "weights.safetensors")).equals(before)).toBe(true);
    expect(readdirSync(tmp).filter((n) => n.startsWith(".m-race."))).toEqual([]); // no temporary left
    await saveCheckpoint(dir, model, { optimizer: opt, training: { run: 3 } }); // awaited, it saves
    expect((await loadCheckpoint(dir)).json.training).toEqual({ run: 3 });
  });

  it("saveCheckpoint refuses non-finite weights", async () => {
    const model = new Esmm({ preset: "base", fields: [{ name: "a", vocab: 3 }], dim: 2, experts: { hidden: [2] } });
    model.embeddings[0]!.weight.data[4] = Number.POSITIVE_INFINITY;
    const dir = join(tmp, "m-inf");
    await expect(saveCheckpoint(dir, model)).rejects.toThrow('parameter "embeddings.a.weight" has 1 non-finite value(s) (first at index 4)');
    expect(existsSync(dir)).toBe(false);
  });

  it("dense values beyond float32's range are rejected with file, line and column", async () => {
    const p = join(tmp, "huge.csv");
    writeFileSync(p, "click,conversion,a,x\n1,0,u,1.5\n0,0,v,1e39\n");
    const r = await run("train", "--train", p, "--model", join(tmp, "m-huge"), "--dense", "x", ...SMALL);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${p}:3: column "x": 1e39 is beyond float32's range`);
    // and the library refuses a batch whose dense values are not finite, naming the feature
    const model = new Esmm({ preset: "base", fields: [{ name: "a", vocab: 3 }], dense: ["x"], dim: 2, experts: { hidden: [2] } });
    expect(() => model.predict({ size: 1, ids: Int32Array.of(1), bags: [], dense: Float32Array.of(Number.NaN) })).toThrow('Esmm.forward: row 0: dense feature "x" is NaN or infinite');
  });

  it("a validation row whose bag overflows float32 once pooled is named by its file and data row, on one thread and on two", async () => {
    // 3.4e38 is a float32, but times an embedding value above 1 it is not
    const p = csvWithCell(validCsv, join(tmp, "valid-wide-bag.csv"), 30, "recent_cats", "3:3.4e38");
    for (const threads of ["1", "2"]) {
      const r = await run("train", "--train", trainCsv, "--valid", p, "--model", join(tmp, `m-wide-bag-${threads}`), "--threads", threads, ...SMALL);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`${p}: data row 30: bag "recent_cats" pools to NaN or infinity (its weights times its embedding rows overflow float32)`);
    }
  });
});

describe("a constant dense column", () => {
  it("trains unscaled (std 1), and inspect warns of a checkpoint whose std is rounding noise", async () => {
    const csv = join(tmp, "constant-dense.csv");
    const rows = Array.from({ length: 100 }, (_, i) => `${i % 5 === 0 ? 1 : 0},0,u${i % 7},0.4734`);
    writeFileSync(csv, ["click,conversion,u,d", ...rows].join("\n") + "\n");
    const m = join(tmp, "m-constant-dense");
    expect((await run("train", "--train", csv, "--model", m, "--dense", "d", ...SMALL, "--variant", "esmm")).code).toBe(0);
    const j = JSON.parse(readFileSync(join(m, "model.json"), "utf8")) as ModelJson & { config: { denseStd: number[] }; preprocessor: { denseStd: number[] } };
    expect(j.config.denseStd).toEqual([1]);
    const clean = await run("inspect", "--model", m);
    expect(clean.code).toBe(0);
    expect(clean.out).not.toContain("warning");
    // what training wrote before the fix: sum v^2 / n - mean^2 of 100 rows of 0.4734
    craft(m, (k) => {
      (k.config as { denseStd: number[] }).denseStd = [1.747316032582309e-8];
      (k.preprocessor as { denseStd: number[] }).denseStd = [1.747316032582309e-8];
    });
    const old = await run("inspect", "--model", m);
    expect(old.code).toBe(0);
    expect(old.out).toContain('warning: dense feature "d" is standardised by a std of 1.75e-8 against a mean of 0.4734, below float32\'s resolution there');
  });
});

describe("thread counts that would fill the machine's memory", () => {
  // --threads 999 once started 999 worker threads, each with a WebAssembly instance and a model
  // replica: 12.7 GB resident within 20 s on a 24 GB machine, before a single step
  it("train, eval, predict, bench, compare and demo refuse more than four threads per core, before reading or writing anything", async () => {
    const max = 4 * availableParallelism();
    const m = join(tmp, "m-threads");
    const cases: string[][] = [
      ["train", "--train", trainCsv, "--model", m, ...SMALL, "--threads", String(max + 1)],
      ["eval", "--model", m, "--data", validCsv, "--threads", "999"],
      ["predict", "--model", m, "--data", validCsv, "--out", join(tmp, "p-threads.csv"), "--threads", "999"],
      ["bench", "--threads", `1,${max + 1}`],
      ["compare", "--presets", "esmm", "--seeds", "1", "--workers", "999"],
      ["demo", "--workers", "999"],
    ];
    for (const c of cases) {
      const r = await run(...c);
      expect(r.code, c.join(" ")).toBe(2);
      expect(r.err).toMatch(new RegExp(`--(threads|workers) (${max + 1}|999): at most ${max} here \\(${availableParallelism()} cores`));
    }
    expect(existsSync(m)).toBe(false);
    expect(existsSync(join(tmp, "p-threads.csv"))).toBe(false);
    // a count within the cap, above the cores, still trains
    expect((await run("train", "--train", trainCsv, "--model", m, ...SMALL, "--threads", String(availableParallelism() + 1))).code).toBe(0);
  });
});

describe("lines longer than the reader can hold", () => {
  it("a file without line breaks stops with file and line, configurably", async () => {
    const p = join(tmp, "one-line.csv");
    writeFileSync(p, "click,conversion,a\n1,0," + "x".repeat(5000) + "\n");
    const r = await run("train", "--train", p, "--model", join(tmp, "m-long"), "--max-line", "1000", ...SMALL);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${p}:2: line is longer than 1000 characters`);
    expect((await run("train", "--train", p, "--model", join(tmp, "m-long"), ...SMALL)).code).toBe(0); // the default holds it
  });

  it("/dev/zero ends in an error, not a crash", { timeout: 10_000 }, async () => {
    if (!existsSync("/dev/zero")) return;
    const r = await run("train", "--train", "/dev/zero", "--model", join(tmp, "m-zero"), "--max-line", "1000000", ...SMALL);
    expect(r.code).toBe(1);
    expect(r.err).toContain("/dev/zero:1: line is longer than 1000000 characters");
  });

  it("readLines splits chunks exactly as a text split does", async () => {
    const rng = new Rng(2);
    const lines = Array.from({ length: 3000 }, () => "é,".repeat(rng.int(700)) + "\u{1F600}");
    const p = join(tmp, "lines.txt");
    writeFileSync(p, lines.join("\n") + "\nlast-without-newline");
    const got: string[] = [];
    for await (const { line, lineNo } of readLines(p)) {
      expect(lineNo).toBe(got.length + 1);
      got.push(line);
    }
    expect(got).toEqual([...lines, "last-without-newline"]);
    await expect(async () => {
      for await (const _ of readLines(tmp)) void _;
    }).rejects.toThrow("is a directory");
  });
});

describe("untrusted checkpoints are checked before anything is allocated", () => {
  let good: string;
  beforeAll(async () => {
    good = join(tmp, "m-good");
    expect((await run("train", "--train", trainCsv, "--model", good, ...SMALL)).code).toBe(0);
  });
  const crafted = (name: string, edit: (j: ModelJson) => void): string => {
    const d = join(tmp, name);
    copyDir(good, d);
    craft(d, edit);
    return d;
  };

  it("parameterCount(config) is the model's count for every variant (so the header check is exact)", () => {
    for (const variant of PRESET_NAMES) {
      for (const extra of [{}, { dense: ["x", "y"], experts: { count: 3, hidden: [5, 4] }, towers: { hidden: [3, 2] } }, { towers: { hidden: [3], cvr: [6, 5, 4] } }, { towers: { cvr: [] } }]) {
        const c = resolveConfig({ preset: variant, fields: [{ name: "a", vocab: 7 }, { name: "b", vocab: 2, kind: "multi" }], dim: 3, ...extra });
        expect(parameterCount(c)).toBe(new Esmm(c).parameterCount());
      }
    }
  });

  it.each([
    ["experts.count 1e6", (j: ModelJson) => (j.config.experts.count = 1e6), /model\.json: config\.experts\.count: must be an integer in \[1, 256\], got 1000000/],
    ["experts.count 200", (j: ModelJson) => (j.config.experts.count = 200), /weights\.safetensors: holds \d+ values in \d+ tensors, the config in model\.json describes \d+ parameters/],
    ["a vocabulary of 2e7", (j: ModelJson) => (j.config.fields[0]!.vocab = 2e7), /weights\.safetensors: holds \d+ values .* describes \d+ parameters/],
    ["2^31 parameters", (j: ModelJson) => (j.config.dim = CONFIG_LIMITS.dim) && (j.config.fields[0]!.vocab = 2 ** 30), /config: describes .* parameters, more than the .* allowed/],
    ["denseMean a string", (j: ModelJson) => ((j.config.denseMean as unknown[])[0] = "abc"), /config\.denseMean\[0\]: must be a finite float32 number, got "abc"/],
    ["denseMean huge", (j: ModelJson) => (j.config.denseMean[1] = 1e300), /config\.denseMean\[1\]: must be a finite float32 number/],
    ["denseStd 0", (j: ModelJson) => (j.config.denseStd[0] = 0), /config\.denseStd\[0\]: must be > 0/],
    ["hash with 0 buckets", (j: ModelJson) => ((j.preprocessor as { mappings: unknown[] }).mappings[0] = { kind: "hash", buckets: 0 }), /preprocessor\.mappings\[0\]\.buckets: must be an integer in \[1, /],
    ["an unknown mapping kind", (j: ModelJson) => ((j.preprocessor as { mappings: Array<{ kind: string }> }).mappings[1]!.kind = "magic"), /preprocessor\.mappings\[1\]\.kind: must be one of vocab, hash, got "magic"/],
    // (format 4 writes a vocabulary as one string of lines, "tokenLines")
    ["a vocabulary longer than its table", (j: ModelJson) => ((j.preprocessor as { mappings: Array<{ tokenLines: string }> }).mappings[2]!.tokenLines += "\nextra"), /preprocessor\.mappings\[2\]: maps column ".*" to \d+ ids, the model's field 2 is ".*" with \d+ rows/],
    ["a token twice", (j: ModelJson) => {
      const m = (j.preprocessor as { mappings: Array<{ tokenLines: string }> }).mappings[3]!;
      const t = m.tokenLines.split("\n");
      t[1] = t[0]!;
      m.tokenLines = t.join("\n");
    }, /preprocessor\.mappings\[3\]\.tokens: the vocabulary holds the token ".*" twice/],
    ["preprocessor dense mean", (j: ModelJson) => ((j.preprocessor as { denseMean: unknown[] }).denseMean[0] = null), /preprocessor\.denseMean\[0\]: must be a finite float32 number, got null/],
    ["a field kind", (j: ModelJson) => ((j.config.fields[0] as { kind: string }).kind = "triple"), /config\.fields\[0\]\.kind: must be one of single, multi/],
    // the generated file's world, which esmm abtest plays (the training file here is generated)
    ["a simulated world's unknown key", (j: ModelJson) => ((j.training!.simulated as Record<string, unknown>).planets = 9), /training\.simulated\.planets: is not a setting of the simulator/],
    ["a simulated world without users", (j: ModelJson) => delete (j.training!.simulated as Record<string, unknown>).users, /training\.simulated\.users: must be an integer in \[1, 16777216\], got undefined/],
  ])("%s is refused, naming the field", async (_, edit, message) => {
    const d = crafted(`m-crafted-${_.replace(/\W+/g, "-")}`, edit);
    const t0 = performance.now();
    await expect(loadCheckpoint(d)).rejects.toThrow(message);
    expect(performance.now() - t0).toBeLessThan(3000); // a check, not an allocation of gigabytes
  });

  it("every byte flip of model.json is caught or changes nothing (checksums)", async () => {
    const text = readFileSync(join(good, "model.json"));
    const original = await loadCheckpoint(good);
    const want = JSON.stringify([original.json.config, original.json.preprocessor, original.json.training]);
    const rng = new Rng(5);
    const d = join(tmp, "m-flip");
    copyDir(good, d);
    let silent = 0;
    let caught = 0;
    for (let i = 0; i < 500; i++) {
      const b = Buffer.from(text);
      const at = rng.int(b.length);
      b[at] = b[at]! ^ (1 + rng.int(255));
      writeFileSync(join(d, "model.json"), b);
      try {
        const ck = await loadCheckpoint(d);
        if (JSON.stringify([ck.json.config, ck.json.preprocessor, ck.json.training]) !== want) silent++;
      } catch (e) {
        expect((e as Error).message).toContain("model.json");
        caught++;
      }
    }
    expect(silent).toBe(0);
    expect(caught).toBeGreaterThan(400);
    // a flipped byte in the weights or the optimiser state is caught too
    writeFileSync(join(d, "model.json"), text);
    for (const f of ["weights.safetensors", "optimizer.safetensors"]) {
      const b = readFileSync(join(good, f));
      b[b.length - 3] ^= 0x10;
      writeFileSync(join(d, f), b);
      await expect(loadCheckpoint(d)).rejects.toThrow(`${f}: CRC-32 is`);
      // scoring does not read the optimiser state (only resuming does), so only the weights' flip stops it
      if (f === "optimizer.safetensors") {
        const ck = await loadCheckpoint(d, { optimizer: false });
        expect(ck.optimizerState).toBe(null);
        expect(JSON.stringify(ck.model.config)).toBe(JSON.stringify(original.model.config));
      } else await expect(loadCheckpoint(d, { optimizer: false })).rejects.toThrow(`${f}: CRC-32 is`);
      writeFileSync(join(d, f), readFileSync(join(good, f)));
    }
  });

  it("seeded fuzz of model.json values: a clean error naming model.json, or a model that scores finitely", async () => {
    const base = JSON.parse(readFileSync(join(good, "model.json"), "utf8")) as ModelJson;
    const rng = new Rng(17);
    const odd: unknown[] = [null, true, "x", "", -1, 0, 1, 2.5, 1e9, -1e300, 1e308, 2 ** 31, [], [1, 2], {}, { kind: "hash" }];
    const leaves = (o: unknown, path: Array<string | number>, out: Array<Array<string | number>>): void => {
      if (o && typeof o === "object") {
        const entries = Array.isArray(o) ? o.slice(0, 4).map((v, i) => [i, v] as const) : Object.entries(o);
        for (const [k, v] of entries) leaves(v, [...path, k], out);
      }
      out.push(path);
    };
    const paths: Array<Array<string | number>> = [];
    leaves({ config: base.config, preprocessor: base.preprocessor }, [], paths);
    const d = join(tmp, "m-fuzz");
    copyDir(good, d);
    let loaded = 0;
    for (let i = 0; i < 150; i++) {
      const j = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
      const path = paths[rng.int(paths.length)]!;
      if (path.length === 0) continue;
      let o = j as Record<string | number, unknown>;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[path.at(-1)!] = odd[rng.int(odd.length)];
      resum(j as unknown as ModelJson, d);
      writeFileSync(join(d, "model.json"), JSON.stringify(j));
      try {
        const ck = await loadCheckpoint(d);
        loaded++;
        const s = ck.model.predict({ size: 1, ids: new Int32Array(ck.model.config.fields.filter((f) => f.kind === "single").length), bags: ck.model.config.fields.filter((f) => f.kind === "multi").map(() => ({ offsets: Int32Array.of(0, 0), ids: new Int32Array(0), weights: new Float32Array(0) })), dense: new Float32Array(ck.model.config.dense.length) });
        expect(Number.isFinite(s.pCtcvr[0])).toBe(true);
      } catch (e) {
        expect(e, `mutating ${path.join(".")}`).toBeInstanceOf(Error);
        expect(e, `mutating ${path.join(".")}: ${(e as Error).message}`).not.toBeInstanceOf(TypeError);
        expect((e as Error).message).toMatch(/model\.json: |weights\.safetensors: |optimizer\.safetensors: /);
      }
    }
    expect(loaded).toBeLessThan(150);
  });

  it("Preprocessor.fromJSON names what is wrong", () => {
    expect(() => Preprocessor.fromJSON({ schema: { click: 1 } })).toThrow("preprocessor.schema.click: must be a string, got 1");
    expect(() => new Adam([], { lr: Number.POSITIVE_INFINITY })).toThrow(/lr must be a finite number/);
  });
});
