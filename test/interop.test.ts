/**
 * esmm-ts <-> PyTorch on this machine: a checkpoint saved here, loaded by the PyTorch twin, saved
 * again and loaded here gives bit-identical weights; and the DDP trainer's output serves in esmm-ts.
 * Needs Debian's python3-torch (`apt-get install python3-torch`); skipped with one line without it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AppStoreSimulator, Esmm, decodeSafetensors } from "../src/index.js";
import { saveCheckpoint } from "../src/node/index.js";
import { main } from "../src/cli/main.js";

const PY = "/usr/bin/python3";
const hasTorch = spawnSync(PY, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
const HERE = import.meta.dirname;
if (!hasTorch) console.log("interop: skipped (no python3-torch: apt-get install python3-torch)");

describe.skipIf(!hasTorch)("interop with PyTorch (python3-torch)", () => {
  const dir = mkdtempSync(join(tmpdir(), "esmm-interop-"));

  it("save in esmm-ts, load and save in PyTorch, load in esmm-ts: bit-identical weights", async () => {
    for (const variant of ["esmm-mmoe", "esmm", "base"] as const) {
      const sim = new AppStoreSimulator({ users: 50, apps: 40 });
      const model = new Esmm({ preset: variant, fields: sim.fieldSpecs(), dense: ["app_downloads", "user_tenure"], dim: 4, experts: { count: 2, hidden: [8, 6] }, towers: { hidden: [4] } });
      const ck = join(dir, variant);
      await saveCheckpoint(ck, model);
      const back = join(dir, `${variant}-back.safetensors`);
      execFileSync(PY, [join(HERE, "..", "interop", "pytorch", "roundtrip.py"), ck, back], { encoding: "utf8" });
      const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(back)));
      const fresh = new Esmm(model.config);
      fresh.loadStateDict(new Map([...tensors].map(([n, t]) => [n, t.data])));
      for (const [n, p] of model.namedParameters()) {
        const q = fresh.namedParameters().find(([m]) => m === n)![1];
        expect(Buffer.from(q.data.buffer).equals(Buffer.from(p.data.buffer)), n).toBe(true);
        expect(tensors.get(n)!.shape).toEqual([...p.shape]);
      }
    }
  });

  it("the PyTorch side writes JSON as JavaScript does, so model.json checksums agree", () => {
    const values = [0, -0, 1, -2, 0.1, 1 / 3, 1e-7, 1.5e-7, 0.000001, 123456789012345680000, 1e21, 2.5e21, -1e-300, 5e-324, 1.7976931348623157e308, 3.4028234663852886e38, 65536, 0.30000000000000004, 1e16, 12345.678];
    const doc = { a: values, s: "é\u0001\"x\"\n\t/", n: null, t: true, o: { z: 1, y: [2.0, "3"] } };
    const py = execFileSync(PY, ["-c", "import sys, json; sys.path.insert(0, sys.argv[1]); import esmm; print(esmm.js_json(json.loads(sys.stdin.read())), end='')", join(HERE, "..", "interop", "pytorch")], { input: JSON.stringify(doc), encoding: "utf8" });
    expect(py).toBe(JSON.stringify(doc));
  });

  it("a model trained with DistributedDataParallel (2 ranks) serves in esmm-ts", async () => {
    const io = { out: () => undefined, err: () => undefined, isTTY: false };
    const csv = join(dir, "t.csv");
    expect(await main(["generate", "--rows", "2000", "--out", csv, "--users", "100", "--apps", "60"], io)).toBe(0);
    const init = join(dir, "init");
    expect(await main(["train", "--train", csv, "--model", init, "--epochs", "1", "--dim", "4", "--variant", "esmm"], io)).toBe(0);
    const out = join(dir, "ddp");
    const r = spawnSync(PY, [join(HERE, "..", "interop", "pytorch", "train_ddp.py"), "--nproc", "2", "--model", init, "--train", csv, "--out", out, "--epochs", "3", "--batch", "256", "--lr", "0.01"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const losses = [...r.stdout.matchAll(/epoch \d: mean loss (\d\.\d+) over \d+ steps x 2 ranks/g)].map((x) => Number(x[1]));
    expect(losses.length).toBe(3);
    expect(losses[2]!).toBeLessThan(losses[0]!);
    const evalOf = async (model: string): Promise<{ rows: number; ctrLogLoss: number }> => {
      const lines: string[] = [];
      expect(await main(["eval", "--model", model, "--data", csv, "--json"], { ...io, out: (s) => lines.push(s) })).toBe(0);
      return JSON.parse(lines.join("\n")).metrics;
    };
    const trained = await evalOf(out);
    expect(trained.rows).toBe(2000);
    // served in esmm-ts, the DDP-trained weights fit the data better than the ones it started from
    expect(trained.ctrLogLoss).toBeLessThan((await evalOf(init)).ctrLogLoss);
    // an --out holding someone else's files is refused before any work, and left as it was
    for (const [name, files, message] of [
      ["not-ours", { "notes.txt": "mine" }, "exists and is not an esmm-ts checkpoint; refusing to write into it"],
      ["ours-and-more", { ...Object.fromEntries(["model.json", "weights.safetensors"].map((f) => [f, readFileSync(join(out, f))])), "preds.csv": "mine" }, "is an esmm-ts checkpoint that also holds preds.csv; refusing to write into it"],
    ] as const) {
      const target = join(dir, name);
      mkdirSync(target);
      for (const [f, data] of Object.entries(files)) writeFileSync(join(target, f), data);
      const refused = spawnSync(PY, [join(HERE, "..", "interop", "pytorch", "train_ddp.py"), "--nproc", "2", "--model", init, "--train", csv, "--out", target, "--epochs", "1"], { encoding: "utf8" });
      expect(refused.status, name).not.toBe(0);
      expect(refused.stderr, name).toContain(message);
      for (const [f, data] of Object.entries(files)) expect(Buffer.compare(readFileSync(join(target, f)), Buffer.from(data)), `${name}/${f}`).toBe(0);
    }
  });
});
