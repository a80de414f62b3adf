/**
 * Data-parallel training: the shard arithmetic (shard losses add up to the batch's, and so do their
 * gradients), then real worker threads (the compiled worker in dist/, built by test/global-setup.ts):
 * a seed gives the same bits on every run with the same thread count, and the same model within
 * float rounding as one thread.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AppStoreSimulator, DENSE_FEATURES, Esmm, TrainingDivergedError, denseGrad, denseStats, evaluate, scoreDataset, scoreDatasetParallel, shardLossWeights, train, type Batch, type LabeledBatch, type Preset, type Scores, type ShardWorkers } from "../src/index.js";
import { shardBatch, sumShards } from "../src/esmm/parallel.js";
import { Arena, Tensor, useBackend, wasmSimdSupported } from "../src/tensor/index.js";
import "../src/node/index.js";
import { main } from "../src/cli/main.js";
import { shardPairLine } from "../src/cli/bench.js";

const sim = new AppStoreSimulator({ users: 300, apps: 120, seed: 3 });
const trainSet = sim.dataset(6000, 0);
const validSet = sim.dataset(3000, 1);
const st = denseStats(trainSet);
const modelOf = (variant: Preset): Esmm =>
  new Esmm({ preset: variant, fields: sim.fieldSpecs(), dense: [...DENSE_FEATURES], denseMean: st.mean, denseStd: st.std, dim: 4, experts: { count: 2, hidden: [16, 8] }, towers: { hidden: [4] }, seed: 5 });

describe("shards", () => {
  it("cut a batch into contiguous parts, bags rebased, and weigh them so the losses add up", () => {
    const b = trainSet.take(Array.from({ length: 10 }, (_, i) => i), 0, 10);
    const parts = shardBatch(b, 3);
    expect(parts.map((p) => p.size)).toEqual([4, 3, 3]);
    expect(Array.from(parts[1]!.ids)).toEqual(Array.from(b.ids.subarray(4 * (b.ids.length / 10), 7 * (b.ids.length / 10))));
    const bag = b.bags[0]!;
    const p1 = parts[1]!.bags[0]!;
    expect(p1.offsets[0]).toBe(0);
    expect(Array.from(p1.ids)).toEqual(Array.from(bag.ids.subarray(bag.offsets[4]!, bag.offsets[7]!)));
    for (const variant of ["esmm-mmoe", "base"] as const) {
      const w = shardLossWeights(modelOf(variant), parts, { ctr: 2, cvr: 1 });
      expect(w.reduce((s, x) => s + x.ctr!, 0)).toBeCloseTo(2, 12);
      const clicks = parts.map((p) => p.click.reduce((s, v) => s + v, 0));
      if (variant === "base" && clicks.reduce((s, v) => s + v, 0) > 0) expect(w.map((x) => x.cvr)).toEqual(clicks.map((c) => c / clicks.reduce((s, v) => s + v, 0)));
      else expect(w.map((x) => x.cvr)).toEqual(parts.map((p) => p.size / 10));
    }
  });

  it.each(["esmm-mmoe", "esmm", "base", "base-shared", "escm2-ips", "escm2-dr"] as const)("%s: the shards' scaled gradients sum to the whole batch's", (variant) => {
    const order = Array.from({ length: 200 }, (_, i) => i);
    const b: LabeledBatch = trainSet.take(order, 0, 200);
    const whole = modelOf(variant);
    const lw = whole.loss(whole.forward(b), b.click, b.conversion);
    lw.total.backward();
    const ref = new Map(whole.namedParameters().map(([n, p]) => [n, denseGrad(p)]));
    const parts = shardBatch(b, 3);
    const weights = shardLossWeights(whole, parts);
    const sum = new Map<string, Float32Array>();
    let total = 0;
    for (let i = 0; i < parts.length; i++) {
      const m = modelOf(variant);
      const l = m.loss(m.forward(parts[i]!), parts[i]!.click, parts[i]!.conversion, weights[i]);
      total += l.total.item();
      l.total.backward();
      for (const [n, p] of m.namedParameters()) {
        const g = denseGrad(p);
        const s = sum.get(n) ?? new Float32Array(g.length);
        for (let k = 0; k < g.length; k++) s[k]! += g[k]!;
        sum.set(n, s);
      }
    }
    expect(total).toBeCloseTo(lw.total.item(), 5);
    for (const [n, g] of ref) {
      const s = sum.get(n)!;
      for (let k = 0; k < g.length; k++) expect(Math.abs(s[k]! - g[k]!), `${n}[${k}]`).toBeLessThan(1e-6 + 1e-4 * Math.abs(g[k]!));
    }
  });
});

describe("summing the shards' gradients", () => {
  // 1e8 + (-1e8) + 1 is 1 in shard order; any other order loses the 1 (1e8 + 1 rounds to 1e8 in float32)
  const values = [1e8, -1e8, 1];
  it.each([0, 1, 2])("in shard order into the parameter that holds shard %i's own part", (own) => {
    const p = new Tensor(new Float32Array(2), [2], { requiresGrad: true });
    p.gradBuffer().set([values[own]!, 2 * values[own]!]);
    const others = [0, 1, 2].filter((s) => s !== own).reverse().map((shard) => ({ shard, dense: [["w", Float32Array.from([values[shard]!, 2 * values[shard]!])] as [string, Float32Array]], sparse: [] }));
    new Arena().run(() => sumShards(new Map([["w", p]]), new Set(["w"]), own, others));
    expect(Array.from(p.grad!)).toEqual([1, 2]);
  });

  it("a table's rows: shard by shard, within a shard as they arrived", () => {
    const t = new Tensor(new Float32Array(4 * 1), [4, 1], { requiresGrad: true, sparseGrad: true });
    // this thread holds shard 1: rows 2 then 0
    t.addRowGrad(Int32Array.from([2, 0]), Float32Array.from([-1e8, 5]));
    const shard0 = { shard: 0, dense: [], sparse: [["t", Int32Array.from([0, 2]), Float32Array.from([7, 1e8])]] as Array<[string, Int32Array, Float32Array]> };
    const shard2 = { shard: 2, dense: [], sparse: [["t", Int32Array.from([3, 2]), Float32Array.from([4, 1])]] as Array<[string, Int32Array, Float32Array]> };
    new Arena().run(() => {
      sumShards(new Map([["t", t]]), new Set(["t"]), 1, [shard2, shard0]);
      const g = t.sparseGrad!;
      expect(Array.from(g.rows)).toEqual([0, 2, 3]); // first appearance, shard 0 first
      expect(Array.from(g.values)).toEqual([12, 1, 4]);
    });
  });
});

describe("worker threads", () => {
  const run = async (threads: number): Promise<{ weights: Map<string, Float32Array>; model: Esmm; loss: number }> => {
    const model = modelOf("esmm-mmoe");
    const r = await train(model, trainSet, { epochs: 2, batchSize: 512, lr: 3e-3, seed: 9, threads });
    return { weights: model.stateDict(), model, loss: r.history.at(-1)!.loss };
  };

  it("two threads: the same bits on every run, and the one-thread model within float rounding", async () => {
    const a = await run(2);
    const b = await run(2);
    for (const [n, w] of a.weights) expect(Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(b.weights.get(n)!.buffer, b.weights.get(n)!.byteOffset, w.byteLength)), n).toBe(true);
    const one = await run(1);
    expect(Math.abs(a.loss - one.loss)).toBeLessThan(1e-4);
    const ma = evaluate(a.model, validSet);
    const m1 = evaluate(one.model, validSet);
    for (const k of ["ctrAuc", "cvrAuc", "ctcvrAuc"] as const) expect(Math.abs(ma[k]! - m1[k]!), k).toBeLessThan(0.002);
    let worst = 0;
    for (const [n, w] of one.weights) {
      const v = a.weights.get(n)!;
      for (let k = 0; k < w.length; k++) worst = Math.max(worst, Math.abs(w[k]! - v[k]!));
    }
    expect(worst).toBeLessThan(1e-3); // summation order differs: close, not equal
  });

  it("three threads (a worker that owns shard 2 sums in a scratch buffer): the same bits on every run, within rounding of one thread", async () => {
    const a = await run(3);
    const b = await run(3);
    for (const [n, w] of a.weights) expect(Array.from(w), n).toEqual(Array.from(b.weights.get(n)!));
    const one = await run(1);
    const ma = evaluate(a.model, validSet);
    const m1 = evaluate(one.model, validSet);
    for (const k of ["ctrAuc", "cvrAuc", "ctcvrAuc"] as const) expect(Math.abs(ma[k]! - m1[k]!), k).toBeLessThan(0.002);
  });

  it("on the ts backend (gradients travel as copies, not positions in shared kernel memory): two threads equal themselves and one thread within rounding", async () => {
    useBackend("ts");
    try {
      const a = await run(2);
      const b = await run(2);
      for (const [n, w] of a.weights) expect(Array.from(w), n).toEqual(Array.from(b.weights.get(n)!));
      const one = await run(1);
      expect(Math.abs(a.loss - one.loss)).toBeLessThan(1e-4);
    } finally {
      useBackend(wasmSimdSupported() ? "wasm" : "ts");
    }
  });

  it.skipIf(!wasmSimdSupported())("a closed pool's workers leave their regions of the shared kernel memory to the next pool's: training again and again does not run the memory up", async () => {
    const { kernels } = await import("../src/tensor/index.js");
    const { workerFactory } = await import("../src/esmm/parallel.js");
    const bump = (): number => new Int32Array(kernels.sharedMemory!()!.memory.buffer, 0, 1)[0]!;
    const model = modelOf("esmm-mmoe");
    kernels.sharedMemory!()!.handOut(); // as in a fresh process: no regions left by earlier pools
    const b0 = bump();
    const first = await workerFactory()(model, 1);
    const b1 = bump();
    await first.close();
    const second = await workerFactory()(model, 1);
    const b2 = bump();
    await second.close();
    expect(b1).toBeGreaterThan(b0); // the first worker's replica took new memory
    expect(b2).toBe(b1); // the second's came from what the first left
  });

  it("a step that goes non-finite in one worker's shard is applied by no thread: every weight, whoever updates it, stays the last good step's", async () => {
    const order = Array.from({ length: 1024 }, (_, i) => i);
    const good = trainSet.take(order, 0, 512);
    const bad = trainSet.take(order, 512, 1024);
    // an id of field 0 that only rows 256..511 of the second batch have (shard 1: the worker's)
    const col = (b: LabeledBatch, from: number, to: number): Set<number> => new Set(Array.from({ length: to - from }, (_, r) => b.ids[(from + r) * (b.ids.length / b.size)]!)); // ids: one column per single-valued field
    const elsewhere = new Set([...col(good, 0, 512), ...col(bad, 0, 256)]);
    const only = [...col(bad, 256, 512)].find((id) => !elsewhere.has(id));
    expect(only).toBeDefined();
    const source = (batches: LabeledBatch[]) => ({ batches: () => batches });
    const poison = (m: Esmm): void => {
      const t = m.namedParameters().find(([n]) => n.startsWith("embeddings."))![1];
      t.data.fill(Number.NaN, only! * t.shape[1]!, (only! + 1) * t.shape[1]!); // its embedding row: NaN
    };
    const after1 = modelOf("esmm-mmoe");
    poison(after1);
    await train(after1, source([good]), { epochs: 1, threads: 2, lr: 3e-3 });
    const model = modelOf("esmm-mmoe");
    poison(model);
    const err = await train(model, source([good, bad]), { epochs: 1, threads: 2, lr: 3e-3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as TrainingDivergedError).step).toBe(2);
    // the poisoned row's NaN reaches the worker's shard loss (ReLU keeps a NaN), and the sum of the shards' losses
    expect((err as Error).message).toMatch(/training diverged at epoch 1, step 2: the loss is NaN \(parameter "embeddings\.user_id\.weight" holds non-finite values\)/);
    // the first step was applied, the second by nobody: bit for bit the model after step 1 (the
    // worker updates about half of the parameters, so both owners are covered)
    const want = after1.stateDict();
    for (const [n, w] of model.stateDict()) expect(Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(want.get(n)!.buffer, want.get(n)!.byteOffset, w.byteLength)), n).toBe(true);
    const first = modelOf("esmm-mmoe");
    expect(Array.from(model.stateDict().get("towers.cvr.0.weight")!)).not.toEqual(Array.from(first.stateDict().get("towers.cvr.0.weight")!)); // step 1 did move them
  });

  it("reports where the calling thread's step time goes, phase by phase, for every step", async () => {
    const phases: Record<string, number> = {};
    const t0 = performance.now();
    await train(modelOf("esmm-mmoe"), trainSet, { epochs: 1, batchSize: 512, seed: 9, threads: 2, phases });
    const wall = performance.now() - t0;
    expect(phases.steps).toBe(Math.ceil(6000 / 512));
    const names = ["shard", "wait", "sum", "verdicts", "adam", "update"];
    expect(Object.keys(phases).sort()).toEqual([...names, "steps", "workerShard"].sort());
    for (const n of names) expect(phases[n]!, n).toBeGreaterThanOrEqual(0);
    expect(phases.shard).toBeGreaterThan(0);
    expect(names.reduce((s, n) => s + phases[n]!, 0)).toBeLessThan(wall);
    // the worker's own forward and backward, timed on its thread: it ran within the steps' shard and
    // wait phases (its 256 rows beside this thread's 256), so it cannot exceed them by more than the hand-offs
    expect(phases.workerShard).toBeGreaterThan(0);
    expect(phases.workerShard!).toBeLessThan(phases.shard! + phases.wait! + 1);
  });

  it.skipIf(!wasmSimdSupported())("esmm bench --json: thread counts in turn over rounds, each round's rate, the two-thread phases, the nine gemm shapes", async () => {
    const lines: string[] = [];
    const io = { out: (s: string) => void lines.push(s), err: () => undefined, isTTY: false };
    expect(await main(["bench", "--backend", "wasm", "--threads", "1,2", "--seconds", "0.2", "--rounds", "2", "--json"], io)).toBe(0);
    const r = JSON.parse(lines.join("\n")) as { runs: Array<{ backend: string; threads: number; trainSamplesPerSec: number; inferSamplesPerSec: number; rounds: Array<{ train: number }>; phases?: Record<string, number> }>; gemm: Array<{ gflops: number; form: string; rounds: number[]; ofPeak: number | null }>; twoCores: { rounds: Array<{ alone: number; together: number[] }>; sum: number; halves: number } | null; shardPairs: Array<{ backend: string; rows: number; rounds: Array<{ alone: number; beside: number }>; aloneMs: number; besideMs: number; bound: number }> };
    expect(r.runs.map((x) => [x.backend, x.threads])).toEqual([["wasm", 1], ["wasm", 2]]);
    for (const x of r.runs) {
      expect(x.rounds).toHaveLength(2);
      expect(x.trainSamplesPerSec).toBeGreaterThan(0);
      expect(x.inferSamplesPerSec).toBeGreaterThan(0);
    }
    expect(Object.keys(r.runs[1]!.phases!)).toEqual(["shard", "wait", "workerShard", "sum", "verdicts", "adam", "update"]);
    expect(r.runs[0]!.phases).toBeUndefined();
    expect(r.gemm).toHaveLength(9);
    expect(new Set(r.gemm.map((g) => g.form))).toEqual(new Set(["nn", "nt", "tn"]));
    for (const g of r.gemm) {
      expect(g.rounds).toHaveLength(2); // one timing per round
      expect([...g.rounds].sort((a, b) => a - b)[1]).toBe(g.gflops); // the median of two is the upper one (as median() picks)
      expect(g.ofPeak).toBeGreaterThan(0);
    }
    // the two-core probe: a summary that is the median of its own rounds
    const tc = r.twoCores!;
    expect(tc.rounds).toHaveLength(8);
    const sums = tc.rounds.map((x) => (x.together[0]! + x.together[1]!) / x.alone).sort((a, b) => a - b);
    expect(tc.sum).toBe(sums[4]);
    expect(tc.halves).toBeLessThanOrEqual(tc.sum); // per round 2 x the slower <= the sum, so the medians too
    // the shard-pair probe: a half-batch alone and beside another, per round, and the bound from them
    expect(r.shardPairs.map((x) => [x.backend, x.rows])).toEqual([["wasm", 512]]);
    const sp = r.shardPairs[0]!;
    expect(sp.rounds).toHaveLength(2);
    for (const x of sp.rounds) {
      expect(x.alone).toBeGreaterThan(0);
      expect(x.beside).toBeGreaterThan(0);
    }
    expect(sp.aloneMs).toBe(Math.max(...sp.rounds.map((x) => x.alone))); // the median of two is the upper one
    expect(sp.besideMs).toBe(Math.max(...sp.rounds.map((x) => x.beside)));
    expect(sp.bound).toBe(Math.max(...sp.rounds.map((x) => (2 * x.alone) / x.beside)));
    expect(await main(["bench", "--rounds", "0"], io)).toBe(2);
  });

  it("prints a shard pair's bound, and says when it passes 2x (which two threads cannot truly reach)", () => {
    const line = (alone: number, beside: number): string => shardPairLine({ backend: "wasm", rows: 512, rounds: [{ alone, beside }], aloneMs: alone, besideMs: beside, bound: (2 * alone) / beside });
    expect(line(19, 20)).toBe("  wasm: a shard's forward and backward (512 rows) alone 19.0 ms, beside another on the other vCPU 20.0 ms: two threads can reach at most 1.90x for them here (rounds 1.90x)");
    expect(line(27.8, 22.7)).toMatch(/at most 2\.45x for them here \(rounds 2\.45x\); above 2x, this thread ran slower alone than beside the other/);
  });

  /** A fresh directory with `rows` simulated impressions in t.csv, for the CLI. */
  const cliData = async (rows: number) => {
    const dir = mkdtempSync(join(tmpdir(), "esmm-threads-"));
    const io = { out: () => undefined, err: () => undefined, isTTY: false };
    const csv = join(dir, "t.csv");
    expect(await main(["generate", "--rows", String(rows), "--out", csv, "--users", "100", "--apps", "60"], io)).toBe(0);
    return { dir, io, csv, m: join(dir, "m") };
  };

  it("esmm train --threads 2 trains and records the thread count; a bad count is a usage error", async () => {
    const { dir, io, csv, m } = await cliData(3000);
    expect(await main(["train", "--train", csv, "--model", m, "--epochs", "1", "--dim", "4", "--threads", "2"], io)).toBe(0);
    expect(JSON.parse(readFileSync(join(m, "model.json"), "utf8")).training.threads).toBe(2);
    expect(await main(["train", "--train", csv, "--model", join(dir, "m2"), "--threads", "0"], io)).toBe(2);
  });

  it("esmm predict --threads 2 and 3 write one thread's file byte for byte (batches scored on the workers and here, written in row order)", async () => {
    const { dir, io, csv, m } = await cliData(21000); // 5 batches of 4,096 rows and a short one
    expect(await main(["train", "--train", csv, "--model", m, "--epochs", "1", "--dim", "4"], io)).toBe(0);
    const files = [1, 2, 3].map((t) => ({ t, out: join(dir, `p${t}.csv`) }));
    for (const { t, out } of files) expect(await main(["predict", "--model", m, "--data", csv, "--out", out, "--gates", "--keep", "user_id", "--threads", String(t)], io)).toBe(0);
    const one = readFileSync(files[0]!.out, "utf8");
    expect(one.split("\n").length).toBe(21002); // header, rows, the final newline
    // each output row copies its own input row's key, across the chunk boundaries
    const input = readFileSync(csv, "utf8").trim().split("\n");
    const col = input[0]!.split(",").indexOf("user_id");
    expect(one.trim().split("\n").slice(1).map((l) => l.split(",")[0])).toEqual(input.slice(1).map((l) => l.split(",")[col]));
    for (const f of files.slice(1)) expect(readFileSync(f.out, "utf8") === one, `threads ${f.t}`).toBe(true);
  });

  it("esmm eval scores the file while reading it: the metrics of loading it and then evaluating, on 1, 2 and 3 threads", async () => {
    const { io, csv, m } = await cliData(21000); // 5 batches of 4,096 rows and a short one
    expect(await main(["train", "--train", csv, "--model", m, "--epochs", "1", "--dim", "4"], io)).toBe(0);
    const { loadCheckpoint, loadDataset, openSource } = await import("../src/node/index.js");
    const ck = await loadCheckpoint(m);
    const sc = ck.preprocessor!.schema;
    const ds = await loadDataset(await openSource({ format: "csv", path: csv, csv: { categorical: sc.categorical, multi: sc.multi, dense: sc.dense } }), ck.preprocessor!);
    const want = JSON.parse(JSON.stringify(evaluate(ck.model, ds)));
    for (const t of [1, 2, 3]) {
      let out = "";
      expect(await main(["eval", "--model", m, "--data", csv, "--json", "--threads", String(t)], { ...io, out: (s: string) => void (out += s) })).toBe(0);
      expect(JSON.parse(out).metrics, `threads ${t}`).toEqual(want);
    }
  });
});

describe("scoring on threads", () => {
  it("evaluate and predict on two threads give the one-thread scores bit for bit", async () => {
    const { evaluateParallel, scoreDataset, scoreDatasetParallel } = await import("../src/index.js");
    const model = modelOf("esmm-mmoe");
    await train(model, trainSet, { epochs: 1, batchSize: 512, seed: 1 });
    const one = scoreDataset(model, validSet, 1000);
    const two = await scoreDatasetParallel(model, validSet, { threads: 2, batchSize: 1000 });
    for (const k of ["pCtr", "pCvr", "pCtcvr"] as const) expect(Array.from(two[k])).toEqual(Array.from(one[k]));
    expect(Array.from(two.gates!.cvr)).toEqual(Array.from(one.gates!.cvr));
    expect(await evaluateParallel(model, validSet, { threads: 2 })).toEqual(evaluate(model, validSet));
  });

  // A stand-in for the workers (scoring on this thread, a little later), to see how the rows are dealt out.
  // replies come after `delay` ms: long enough (20) that this thread surely pushes its own chunks
  // between them where a test counts on it, even on a loaded machine
  const fakeWorkers = (model: Esmm, count: number, failAt = -1, delay = 1) => {
    const got: Array<{ worker: number; size: number }> = [];
    let open = 0;
    const scoreOn = (worker: number, shard: Batch): Promise<Scores> => {
      const n = got.push({ worker, size: shard.size });
      open++;
      return new Promise((resolve, reject) =>
        setTimeout(() => {
          open--;
          if (n === failAt) reject(new Error("thread 1: lost"));
          else resolve(model.predict(shard));
        }, delay),
      );
    };
    const no = (): never => { throw new Error("not for scoring"); };
    const workers = { count, owned: [], run: no, share: no, verdicts: no, commit: no, publish: no, close: async () => undefined, score: no, scoreOn } as unknown as ShardWorkers;
    return { workers, got, open: () => open };
  };

  it("scoring a data set deals its rows out in chunks to whoever is free: every row once, the one-thread scores bit for bit", async () => {
    const model = modelOf("esmm-mmoe");
    const one = scoreDataset(model, validSet);
    for (const count of [1, 2]) {
      const { workers, got } = fakeWorkers(model, count, -1, 20);
      const two = await scoreDatasetParallel(model, validSet, { threads: count + 1, workers });
      for (const k of ["pCtr", "pCvr", "pCtcvr"] as const) expect(Array.from(two[k])).toEqual(Array.from(one[k]));
      expect(Array.from(two.gates!.ctr)).toEqual(Array.from(one.gates!.ctr));
      // each worker had chunks of 256 to 1024 rows (the last may be shorter), two at most queued
      for (let w = 0; w < count; w++) expect(got.filter((g) => g.worker === w).length).toBeGreaterThan(0);
      expect(got.every((g) => g.size <= 1024 && (g.size >= 256 || g.size === got.at(-1)!.size))).toBe(true);
      expect(got.reduce((s, g) => s + g.size, 0)).toBeLessThan(validSet.size); // this thread scored the rest
    }
    // a data set smaller than a chunk, and one row
    for (const size of [1, 100]) {
      const small = sim.dataset(size, 1);
      const { workers } = fakeWorkers(model, 1);
      expect(Array.from((await scoreDatasetParallel(model, small, { threads: 2, workers })).pCvr)).toEqual(Array.from(scoreDataset(model, small).pCvr));
    }
  });

  it("a stream of batches is scored on the workers and here, and emitted in the order it came", async () => {
    const { orderedScoring } = await import("../src/index.js");
    const model = modelOf("esmm-mmoe");
    const order = Array.from({ length: validSet.size }, (_, i) => i);
    const batches = Array.from({ length: 12 }, (_, i) => validSet.take(order, i * 250, (i + 1) * 250));
    const { workers, got } = fakeWorkers(model, 2, -1, 20);
    const emitted: Array<{ tag: number; pCvr: number[] }> = [];
    const scoring = orderedScoring<number>(model, workers, async (sc, tag) => void emitted.push({ tag, pCvr: Array.from(sc.pCvr) }));
    for (let i = 0; i < batches.length; i++) await scoring.push(batches[i]!, i); // pushed faster than the (20 ms) workers reply
    await scoring.finish();
    expect(emitted.map((e) => e.tag)).toEqual(batches.map((_, i) => i));
    emitted.forEach((e, i) => expect(e.pCvr).toEqual(Array.from(model.predict(batches[i]!).pCvr)));
    expect(got.length).toBeGreaterThan(0); // some on the workers (two queued each at most) ...
    expect(got.length).toBeLessThan(batches.length); // ... and the rest here
    // without workers: every batch here, emitted at once
    const alone: number[] = [];
    const one = orderedScoring<number>(model, null, async (_, tag) => void alone.push(tag));
    await one.push(batches[0]!, 0);
    expect(alone).toEqual([0]);
    // a worker's failure is thrown where its batch would be emitted
    const failing = fakeWorkers(model, 1, 2);
    const f = orderedScoring<number>(model, failing.workers, async () => undefined);
    const err = await (async () => {
      for (let i = 0; i < 6; i++) await f.push(batches[i]!, i);
      await f.finish();
    })().catch((e: unknown) => e);
    expect((err as Error).message).toBe("thread 1: lost");
    expect(failing.open()).toBe(0); // thrown once every batch handed out had come back
  });

  it("a worker that fails while scoring fails the call, after every chunk handed out has come back", async () => {
    const model = modelOf("esmm-mmoe");
    const { workers, open } = fakeWorkers(model, 1, 2);
    await expect(scoreDatasetParallel(model, validSet, { threads: 2, workers })).rejects.toThrow("thread 1: lost");
    expect(open()).toBe(0); // nothing left in flight for the workers' next user
  });
});
