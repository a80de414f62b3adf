/**
 * `npm run bench` (add `-- --quick` for the smoke run CI does).
 *
 * Kernels at the workload's shapes, each beside the naive reference in the same run (the ratio is the
 * figure to quote: absolute times drift on shared machines), then end-to-end training and inference at
 * the bench and large sizes, each in its own process so that its peak RSS is its own.
 * Prints tables and writes bench/results/<date>.json with the machine and Node version.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PerformanceObserver } from "node:perf_hooks";
import { Bench } from "tinybench";
import { Adam, Arena, Rng, fastKernels, naiveKernels, noGrad, wasmKernels, wasmSimdSupported, type AdamHyper, type Kernels } from "../src/index.js";
import { workloadRun, type RunResult } from "../src/cli/bench.js";
import { BATCH, D, F, randomBatches, referenceModel, timedStep } from "./workload.js";

const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const here = dirname(fileURLToPath(import.meta.url));

function rand(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.normal();
  return a;
}

interface KernelRow {
  kernel: string;
  shape: string;
  unit: "GFLOP/s" | "GB/s";
  fast: number;
  naive: number | null;
  ratio: number | null;
  /** The wasm backend's kernel (where it has its own), and wasm / fast from the same run. */
  wasm: number | null;
  wasmRatio: number | null;
}

const SIMD = wasmSimdSupported();

async function kernelBench(): Promise<KernelRow[]> {
  const time = QUICK ? 20 : 400;
  const rows: KernelRow[] = [];
  /**
   * Rates of one kernel on the fast, naive and wasm sets. `fn(K, lent)` runs it; with `lent` on
   * operands in the wasm backend's memory (copies, see `lend`), where its SIMD kernels work in place
   * (on other arrays most of them fall back to the TypeScript kernel). `kname`: the kernel's name in
   * the set, to tell whether the wasm set has its own.
   */
  const measure = async (name: string, kname: keyof Kernels, fn: (k: Kernels, lent: boolean) => void, work: number, withNaive = true): Promise<[number, number | null, number | null]> => {
    const bench = new Bench({ time, iterations: 3 });
    bench.add(`${name} fast`, () => fn(fastKernels, false));
    bench.add(`${name} naive`, () => (withNaive ? fn(naiveKernels, false) : undefined));
    const hasWasm = SIMD && wasmKernels[kname] !== fastKernels[kname];
    bench.add(`${name} wasm`, () => (hasWasm ? fn(wasmKernels, true) : undefined));
    await bench.run();
    const rate = (i: number): number => {
      // the median call, not the mean: a burst of load from another tenant of this shared machine
      // moves the mean of a 400 ms sample far more than its median
      const r = bench.tasks[i]!.result as { latency?: { p50: number } };
      return work / ((r.latency?.p50 ?? Number.NaN) / 1e3);
    };
    return [rate(0), withNaive ? rate(1) : null, hasWasm ? rate(2) : null];
  };
  /** A copy of `a` in the wasm backend's memory (the operand as a step has it), or `a` where there is none. */
  const lend = <T extends Float32Array>(a: T): Float32Array => {
    const loan = SIMD ? wasmKernels.alloc?.(a.length) : null;
    if (!loan) return a;
    loan.data.set(a);
    return loan.data;
  };
  const shapes: Array<[number, number, number]> = QUICK ? [[64, 32, 48]] : [[1024, 256, 384], [1024, 128, 256], [1024, 64, 128]];
  for (const [m, n, k] of shapes) {
    for (const form of [{ name: "A@B" }, { name: "A^T@B", transA: true }, { name: "A@B^T", transB: true }]) {
      const a = rand(m * k, 1);
      const b = rand(k * n, 2);
      const out = new Float32Array(m * n);
      const [fast, naive, wasm] = await measure(`gemm ${form.name}`, "gemm", (K) => K.gemm(out, a, b, m, n, k, form), (2 * m * n * k) / 1e9);
      rows.push({ kernel: `gemm ${form.name}`, shape: `${m}x${n}x${k}`, unit: "GFLOP/s", fast, naive, ratio: naive ? fast / naive : null, wasm, wasmRatio: wasm ? wasm / fast : null });
    }
  }
  const B = QUICK ? 64 : BATCH;
  const V = 10_000;
  const tables = Array.from({ length: F }, (_, f) => rand(V * D, 10 + f));
  const ids = new Int32Array(B * F).map((_, i) => (i * 7919) % V);
  const x = new Float32Array(B * F * D);
  const colOut = new Float32Array(B * D);
  const colOutL = lend(colOut);
  const gb = (bytes: number): number => bytes / 1e9;
  const push = (kernel: string, shape: string, [fast, naive, wasm]: [number, number | null, number | null]): void => {
    rows.push({ kernel, shape, unit: "GB/s", fast, naive, ratio: naive ? fast / naive : null, wasm, wasmRatio: wasm ? wasm / fast : null });
  };
  const xL = lend(x);
  const tablesL = tables.map(lend);
  push("gatherFields", `${B}x${F}x${D}`, await measure("gather", "gatherFields", (K, l) => K.gatherFields(l ? xL : x, l ? tablesL : tables, ids, B, D), gb(B * F * D * 8)));
  push("fieldColumn", `${B}x${F}x${D}`, await measure("fieldColumn", "fieldColumn", (K, l) => K.fieldColumn(l ? colOutL : colOut, l ? xL : x, B, F, 5, D), gb(B * D * 8)));
  const grad = new Float32Array(V * D);
  const gradL = lend(grad);
  const col = ids.filter((_, i) => i % F === 0);
  const dOut = rand(B * D, 3);
  const dOutL = lend(dOut);
  push("scatterAddRows", `${B}x${D}`, await measure("scatter", "scatterAddRows", (K, l) => K.scatterAddRows(l ? gradL : grad, l ? dOutL : dOut, col, D), gb(B * D * 12)));
  // The per-id first layer's spread: each of B rows sums F rows of per-id products [u, 256].
  const O = 256;
  const u = QUICK ? 32 : 546 * F;
  const prods = rand(u * O, 11);
  const bagRows = new Int32Array(B * F).map((_, i) => (i * 7919) % u);
  const bagOffsets = new Int32Array(B + 1).map((_, i) => i * F);
  const spread = new Float32Array(B * O);
  const prodsL = lend(prods);
  const spreadL = lend(spread);
  push("sumRowBags", `${B}x${F}x${O}`, await measure("sumRowBags", "sumRowBags", (K, l) => K.sumRowBags(l ? spreadL : spread, l ? prodsL : prods, bagOffsets, bagRows, O, true, false), gb(B * F * O * 4)));
  // a bias's gradient: the column sums of dz [B, 256]; and the mixture's backward over two experts [B, 128]
  const dzB = rand(B * O, 12);
  const dzBL = lend(dzB);
  const bias = new Float32Array(O);
  const biasL = lend(bias);
  push("sumRowsInto", `${B}x${O}`, await measure("sumRowsInto", "sumRowsInto", (K, l) => K.sumRowsInto(l ? biasL : bias, l ? dzBL : dzB, B, O), gb(B * O * 4)));
  const H = 128;
  const [dyM, gM, e0, e1, dg, d0, d1] = [rand(B * H, 13), rand(B * 2, 14), rand(B * H, 15), rand(B * H, 16), new Float32Array(B * 2), new Float32Array(B * H), new Float32Array(B * H)];
  const [dyML, gML, e0L, e1L, dgL, d0L, d1L] = [dyM, gM, e0, e1, dg, d0, d1].map(lend);
  push("mixExpertsBackward", `${B}x2x${H}`, await measure("mixExpertsBackward", "mixExpertsBackward", (K, l) => (l ? K.mixExpertsBackward(dgL!, [d0L!, d1L!], dyML!, gML!, [e0L!, e1L!], B, H) : K.mixExpertsBackward(dg, [d0, d1], dyM, gM, [e0, e1], B, H)), gb(B * H * 2 * 16)));
  const logits = rand(B * 2, 4);
  const sm = new Float32Array(B * 2);
  push("softmaxRows", `${B}x2`, await measure("softmax", "softmaxRows", (K) => K.softmaxRows(sm, logits, B, 2), gb(B * 2 * 8)));
  const z = rand(B, 6);
  const y = new Float32Array(B).map((_, i) => (i % 20 === 0 ? 1 : 0));
  const dz = new Float32Array(B);
  push("bceWithLogits", `${B}`, await measure("bce", "bceWithLogits", (K) => void K.bceWithLogits(dz, z, y, null, B), gb(B * 12)));
  const h: AdamHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, bc1: 0.1, bc2: 0.001, gradScale: 1 };
  const P = QUICK ? 10_000 : 384 * 256;
  const p = rand(P, 7);
  const g = rand(P, 8);
  const mm = new Float32Array(P);
  const vv = new Float32Array(P);
  const [pL, gL, mL, vL] = [p, g, mm, vv].map(lend);
  push("adamDense", `${P}`, await measure("adamDense", "adamDense", (K, l) => (l ? K.adamDense(pL!, gL!, mL!, vL!, P, h) : K.adamDense(p, g, mm, vv, P, h)), gb(P * 20)));
  for (const rowsV of QUICK ? [10_000] : [10_000, 262_144]) {
    const table = rand(rowsV * D, 9);
    const m2 = new Float32Array(rowsV * D);
    const v2 = new Float32Array(rowsV * D);
    const uniq = Int32Array.from(new Set(Array.from({ length: B }, (_, i) => (i * 104729) % rowsV)));
    const gr = rand(uniq.length * D, 10);
    const [tL, m2L, v2L, grL] = [table, m2, v2, gr].map(lend);
    push("adamRows (lazy)", `${uniq.length} of ${rowsV} rows`, await measure(`adamRows ${rowsV}`, "adamRows", (K, l) => (l ? K.adamRows(tL!, grL!, uniq, m2L!, v2L!, D, h) : K.adamRows(table, gr, uniq, m2, v2, D, h)), gb(uniq.length * D * 20)));
  }
  return rows;
}

interface E2E {
  size: string;
  vocab: number;
  trainSamplesPerSec: number;
  inferSamplesPerSec: number;
  split: { forward: number; backward: number; optimizer: number };
  peakRssMB: number;
  paramsAndAdamMB: number;
  gcSeconds: number;
  gcShare: number;
  /** New Float32 buffers a timed (steady-state) step took from the engine, at most; and the step's buffers. */
  freshBuffersPerStep: number;
  arenaMB: number;
  steps: number;
}

/** Runs in a child process: one size, its own peak RSS. */
async function e2eChild(vocab: number, steps: number, kernelsName: string): Promise<E2E> {
  const { useKernels } = await import("../src/index.js");
  useKernels(kernelsName === "naive" ? naiveKernels : kernelsName === "wasm" ? wasmKernels : fastKernels);
  // GC entries arrive asynchronously: keep them all, then sum the ones inside the timed window.
  const gcEntries: Array<{ start: number; duration: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcEntries.push({ start: e.startTime, duration: e.duration });
  });
  obs.observe({ entryTypes: ["gc"] });
  const model = referenceModel(vocab);
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const batches = randomBatches(vocab, 8);
  const arena = new Arena(); // as train() runs its steps
  for (let i = 0; i < 8; i++) timedStep(model, opt, batches[i % batches.length]!, arena); // warm up (JIT, Adam state, arena)
  let freshBuffers = 0;
  const split = { forward: 0, backward: 0, optimizer: 0 };
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const s = timedStep(model, opt, batches[i % batches.length]!, arena);
    freshBuffers = Math.max(freshBuffers, arena.fresh);
    split.forward += s.forward;
    split.backward += s.backward;
    split.optimizer += s.optimizer;
  }
  const tEnd = performance.now();
  const trainSec = (tEnd - t0) / 1e3;
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) noGrad(() => model.predict(batches[i % batches.length]!));
  const inferSec = (performance.now() - t1) / 1e3;
  await new Promise((r) => setTimeout(r, 100)); // let the observer deliver
  obs.disconnect();
  const gcTrain = gcEntries.filter((e) => e.start >= t0 && e.start <= tEnd).reduce((s, e) => s + e.duration, 0) / 1e3;
  const params = model.parameterCount();
  return {
    size: vocab >= 262_144 ? "large" : "bench",
    vocab,
    trainSamplesPerSec: (steps * BATCH) / trainSec,
    inferSamplesPerSec: (steps * BATCH) / inferSec,
    split: { forward: split.forward / steps, backward: split.backward / steps, optimizer: split.optimizer / steps },
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    paramsAndAdamMB: (params * 3 * 4) / 1e6,
    gcSeconds: gcTrain,
    gcShare: gcTrain / trainSec,
    freshBuffersPerStep: freshBuffers,
    arenaMB: (arena.heldFloats * 4) / 1e6,
    steps,
  };
}

interface Ratios {
  rounds: number;
  /** Median step / inference ms per configuration ("bench per-id", "large dense", ...). */
  stepMs: Record<string, number>;
  inferMs: Record<string, number>;
}

/**
 * Runs in a child process: both sizes, first layers per id and dense, one step of each in turn
 * (rotating the order), so that the ratios between them come from the same minutes of a shared
 * machine. Medians over the rounds.
 */
function ratiosChild(vocabs: number[], rounds: number): Ratios {
  const configs = vocabs.flatMap((v) => (["per-id", "dense"] as const).map((fl) => ({ v, fl, arena: true, name: `${v >= 262_144 ? "large" : "bench"} ${fl}` })));
  // and the first size's default once more without a step arena: what reusing buffers buys
  configs.push({ ...configs[0]!, arena: false, name: `${configs[0]!.name} no-arena` });
  const models = new Map(vocabs.map((v) => {
    const model = referenceModel(v);
    return [v, { model, opt: new Adam(model.namedParameters(), { lr: 1e-3 }), batches: randomBatches(v, 8) }];
  }));
  const arenas = configs.map(() => new Arena());
  const steps: number[][] = configs.map(() => []);
  const infers: number[][] = configs.map(() => []);
  const warm = 4;
  for (let r = 0; r < rounds + warm; r++) {
    for (let k = 0; k < configs.length; k++) {
      const c = (k + r) % configs.length;
      const { v, fl } = configs[c]!;
      const { model, opt, batches } = models.get(v)!;
      model.firstLayer = fl;
      const b = batches[r % batches.length]!;
      const t0 = performance.now();
      timedStep(model, opt, b, configs[c]!.arena ? arenas[c] : undefined);
      const t1 = performance.now();
      noGrad(() => model.predict(b));
      const t2 = performance.now();
      if (r >= warm) {
        steps[c]!.push(t1 - t0);
        infers[c]!.push(t2 - t1);
      }
    }
  }
  const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
  return {
    rounds,
    stepMs: Object.fromEntries(configs.map((c, i) => [c.name, median(steps[i]!)])),
    inferMs: Object.fromEntries(configs.map((c, i) => [c.name, median(infers[i]!)])),
  };
}

function table(headers: string[], rows: string[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(headers), w.map((x) => "-".repeat(x)).join("  "), ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
  const threadsAt = args.indexOf("--threads-child");
  if (threadsAt >= 0) {
    const seconds = Number(args[threadsAt + 1]);
    const backend = SIMD ? "wasm" : "ts";
    const runs: RunResult[] = [];
    for (const t of [1, 2, 1, 2]) runs.push(await workloadRun(backend, t, seconds / 2));
    process.stdout.write(JSON.stringify(runs));
    return;
  }
  const ratiosAt = args.indexOf("--ratios-child");
  if (ratiosAt >= 0) {
    process.stdout.write(JSON.stringify(ratiosChild(args[ratiosAt + 1]!.split(",").map(Number), Number(args[ratiosAt + 2]))));
    return;
  }
  const child = args.indexOf("--e2e-child");
  if (child >= 0) {
    const r = await e2eChild(Number(args[child + 1]), Number(args[child + 2]), args[child + 3] ?? "fast");
    process.stdout.write(JSON.stringify(r));
    return;
  }
  console.log(`esmm-ts benchmarks${QUICK ? " (quick smoke run)" : ""}: node ${process.version}, ${cpus()[0]?.model ?? "?"} x${cpus().length}`);
  const kernels = await kernelBench();
  console.log("\nKernels (fast = the ts backend, vs the naive reference and the wasm backend's own kernel, same run)");
  console.log(table(["kernel", "shape", "fast", "naive", "ratio", "wasm", "wasm/fast"], kernels.map((r) => [r.kernel, r.shape, `${r.fast.toFixed(2)} ${r.unit}`, r.naive === null ? "-" : `${r.naive.toFixed(2)} ${r.unit}`, r.ratio === null ? "-" : `${r.ratio.toFixed(1)}x`, r.wasm === null ? "-" : `${r.wasm.toFixed(2)} ${r.unit}`, r.wasmRatio === null ? "-" : `${r.wasmRatio.toFixed(1)}x`])));

  const self = fileURLToPath(import.meta.url);
  const runChild = (vocab: number, steps: number, k = "fast"): E2E =>
    JSON.parse(execFileSync(process.execPath, [self, "--e2e-child", String(vocab), String(steps), k], { encoding: "utf8", maxBuffer: 1 << 24 })) as E2E;
  const sizes = QUICK ? [[1000, 2]] : [[10_000, 30], [262_144, 30]];
  const e2e = sizes.map(([v, s]) => runChild(v!, s!));
  const e2eWasm = SIMD ? sizes.map(([v, s]) => runChild(v!, s!, "wasm")) : [];
  // threads: one process, the wasm backend (or ts) on 1 and 2 threads, in turn, through train()
  const threadRuns = JSON.parse(execFileSync(process.execPath, [self, "--threads-child", QUICK ? "0.5" : "4"], { encoding: "utf8", maxBuffer: 1 << 24 })) as RunResult[];
  const ratios = JSON.parse(execFileSync(process.execPath, [self, "--ratios-child", QUICK ? "1000" : "10000,262144", QUICK ? "2" : "20"], { encoding: "utf8", maxBuffer: 1 << 24 })) as Ratios;
  const naiveE2e = QUICK ? null : runChild(10_000, 3, "naive");
  console.log("\nEnd to end: esmm-mmoe, F = 24, D = 16, experts 384 -> 256 -> 128, batch 1024, Adam (one core)");
  console.log(table(
    ["size", "backend", "train samples/s", "infer samples/s", "fwd / bwd / adam ms", "peak RSS MB", "params+Adam MB", "GC share"],
    [...e2e.map((r) => ["ts", r] as const), ...e2eWasm.map((r) => ["wasm", r] as const)].map(([be, r]) => [`${r.size} (V=${r.vocab})`, be, r.trainSamplesPerSec.toFixed(0), r.inferSamplesPerSec.toFixed(0), `${(r.split.forward * 1e3).toFixed(1)} / ${(r.split.backward * 1e3).toFixed(1)} / ${(r.split.optimizer * 1e3).toFixed(1)}`, r.peakRssMB.toFixed(0), r.paramsAndAdamMB.toFixed(0), `${(r.gcShare * 100).toFixed(1)}%`]),
  ));
  if (e2eWasm.length) console.log(`wasm / ts: ${e2eWasm.map((r, i) => `${r.size} training ${(r.trainSamplesPerSec / e2e[i]!.trainSamplesPerSec).toFixed(2)}x, inference ${(r.inferSamplesPerSec / e2e[i]!.inferSamplesPerSec).toFixed(2)}x`).join("; ")}`);
  const byT = (t: number): RunResult[] => threadRuns.filter((r) => r.threads === t);
  const med = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1]!;
  console.log(`threads (${threadRuns[0]!.backend}, through train(), bench size, 1 and 2 threads in turn): ${[1, 2].map((t) => `${t}: ${med(byT(t).map((r) => r.trainSamplesPerSec)).toFixed(0)} samples/s`).join(", ")}; 2 / 1 = ${(med(byT(2).map((r) => r.trainSamplesPerSec)) / med(byT(1).map((r) => r.trainSamplesPerSec))).toFixed(2)}x`);
  console.log(`steady-state step: ${e2e.map((r) => `${r.size} ${r.freshBuffersPerStep} new buffers (reuses ${r.arenaMB.toFixed(1)} MB)`).join(", ")}`);
  if (e2e.length === 2) console.log(`peak RSS / (params + Adam) at large: ${(e2e[1]!.peakRssMB / e2e[1]!.paramsAndAdamMB).toFixed(2)}x`);
  console.log(`\nRatios from one process, steps interleaved (median of ${ratios.rounds} rounds; step ms: ${Object.entries(ratios.stepMs).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")})`);
  const sizesSeen = [...new Set(Object.keys(ratios.stepMs).map((k) => k.split(" ")[0]!))];
  const first = Object.keys(ratios.stepMs)[0]!;
  console.log(`${first}: a step in an arena vs allocating afresh: ${(ratios.stepMs[`${first} no-arena`]! / ratios.stepMs[first]!).toFixed(2)}x faster`);
  for (const s of sizesSeen) {
    const st = (fl: string): number => ratios.stepMs[`${s} ${fl}`]!;
    const inf = (fl: string): number => ratios.inferMs[`${s} ${fl}`]!;
    console.log(`${s}: first layers per id vs over the materialised input: ${(st("dense") / st("per-id")).toFixed(2)}x faster training, ${(inf("dense") / inf("per-id")).toFixed(2)}x faster inference`);
  }
  if (sizesSeen.length === 2) {
    console.log(`step at large / step at bench size: ${(ratios.stepMs["large per-id"]! / ratios.stepMs["bench per-id"]!).toFixed(2)}x per id, ${(ratios.stepMs["large dense"]! / ratios.stepMs["bench dense"]!).toFixed(2)}x dense`);
  }
  if (naiveE2e) console.log(`training with the naive kernels: ${naiveE2e.trainSamplesPerSec.toFixed(0)} samples/s (fast / naive: ${(e2e[0]!.trainSamplesPerSec / naiveE2e.trainSamplesPerSec).toFixed(1)}x)`);
  const out = join(here, "..", "..", "bench", "results");
  mkdirSync(out, { recursive: true });
  const file = join(out, `${new Date().toISOString().replace(/[:.]/g, "-")}${QUICK ? "-quick" : ""}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, memoryGB: totalmem() / 2 ** 30, quick: QUICK, kernels, e2e, e2eWasm, threadRuns, ratios, naiveE2e }, null, 1) + "\n");
  console.log(`\nwrote ${file}`);
}

await main();
