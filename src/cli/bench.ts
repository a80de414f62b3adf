/**
 * `esmm bench`: the reference workload (src/cli/workload.ts) for each backend and thread count asked
 * for: training and inference samples/s, gemm GFLOP/s at the workload's nine shapes and forms, the
 * fraction of this core's SIMD peak, and where a step's time goes. `--json` prints one JSON object.
 *
 * Every figure is a median over repeated timings (steps or calls), after a warm-up, so that a burst
 * of load from another tenant of a shared machine moves it less than it would a mean.
 */
import { cpus } from "node:os";
import {
  Adam,
  Arena,
  BACKENDS,
  backendName,
  fastKernels,
  naiveKernels,
  noGrad,
  parseDecimal,
  predictParallel,
  train,
  useBackend,
  wasmFmaKernels,
  wasmFmaSupported,
  wasmKernels,
  wasmSimdSupported,
  wasmWarmup,
  type BackendName,
  type Kernels,
  type LabeledBatch,
} from "../index.js";
import { workerFactory } from "../esmm/parallel.js";
import "../node/index.js"; // the worker threads behind --threads
import { UsageError, list, num, type OptionSpec, type Parsed } from "./args.js";
import type { Command, Io } from "./io.js";
import { simdPeakGflops, twoCorePeak } from "./peak.js";
import { shardPair, type ShardPair } from "./shard-pair.js";
import { checkThreads } from "./shared.js";
import { median, timeCalls } from "./timing.js";
import { BATCH, randomBatches, referenceModel, timedStep } from "./workload.js";

export const BENCH_SPEC: { usage: string; options: Record<string, OptionSpec> } = {
  usage: "esmm bench [--backend ts,wasm] [--threads 1,2] [--seconds 3] [--rounds 3] [--json]",
  options: {
    backend: { type: "string", help: `comma-separated backends to measure: ${BACKENDS.join(", ")} (default ts,wasm where SIMD runs)` },
    threads: { type: "string", help: "comma-separated thread counts for training (default 1,2 on a machine with 2 or more cores)" },
    seconds: { type: "string", help: "seconds of timed training per backend and thread count (default 3)" },
    rounds: { type: "string", help: "split each backend's seconds into this many rounds, thread counts in turn, so a shared machine's drift falls on all of them (default 3)" },
    json: { type: "flag", help: "print the results as one JSON object on standard output" },
  },
};

const SETS: Record<BackendName, Kernels> = { naive: naiveKernels, ts: fastKernels, wasm: wasmKernels, "wasm-fma": wasmFmaKernels };

/** The nine products of a step: forward x W^T, backward dY W and dY^T X, for the three layer shapes. */
const GEMMS: Array<{ m: number; n: number; k: number; form: "nn" | "tn" | "nt" }> = [];
for (const [o, i] of [[256, 384], [128, 256], [64, 128]] as const) {
  GEMMS.push({ m: BATCH, n: o, k: i, form: "nt" }, { m: BATCH, n: i, k: o, form: "nn" }, { m: o, n: i, k: BATCH, form: "tn" });
}

export interface GemmRate {
  backend: BackendName;
  m: number;
  n: number;
  k: number;
  form: "nn" | "tn" | "nt";
  /** The median over rounds of GFLOP/s (operands in the backend's own memory where it has one, as in a training step). */
  gflops: number;
  /** Each round's GFLOP/s. */
  rounds: number[];
  /** The median over rounds of this shape's rate over the SIMD peak probed just before it in the same round (null without SIMD). */
  ofPeak: number | null;
}

/**
 * The nine gemm shapes of a step, `rounds` times in turn (so a slow spell of a shared machine falls on
 * a round, not on a shape), each timed for `ms` right after a short probe of the SIMD peak: the
 * fraction of the peak compares two figures taken within a few milliseconds of each other. The
 * operands live where the backend's kernels use them in place (Kernels.alloc), as a step's tensors do.
 */
export function gemmRates(backend: BackendName, rounds = 3, ms = 100): GemmRate[] {
  const K = SETS[backend];
  const rates = GEMMS.map(() => [] as number[]);
  const ofPeak = GEMMS.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    GEMMS.forEach(({ m, n, k, form }, gi) => {
      const held: Array<{ release(): void }> = [];
      const buffer = (len: number): Float32Array => {
        const b = K.alloc?.(len) ?? null;
        if (!b) return new Float32Array(len);
        held.push(b);
        return b.data;
      };
      const a = buffer(m * k);
      const b = buffer(k * n);
      const out = buffer(m * n);
      for (let i = 0; i < a.length; i++) a[i] = ((i * 7919) % 1000) / 1000 - 0.5;
      for (let i = 0; i < b.length; i++) b[i] = ((i * 104729) % 1000) / 1000 - 0.5;
      const o = { transA: form === "tn", transB: form === "nt" };
      const peak = backend === "naive" ? null : simdPeakGflops(20);
      const gflops = (2 * m * n * k) / timeCalls(() => K.gemm(out, a, b, m, n, k, o), backend === "naive" ? 30 : ms) / 1e9;
      rates[gi]!.push(gflops);
      if (peak) ofPeak[gi]!.push(gflops / peak);
      for (const h of held) h.release();
    });
  }
  return GEMMS.map(({ m, n, k, form }, gi) => ({ backend, m, n, k, form, gflops: median(rates[gi]!), rounds: rates[gi]!, ofPeak: ofPeak[gi]!.length ? median(ofPeak[gi]!) : null }));
}

export interface RunResult {
  backend: BackendName;
  threads: number;
  trainSamplesPerSec: number;
  inferSamplesPerSec: number;
  /** Median step's parts in ms (one thread only: the split is measured around the step's phases). */
  stepMs: number;
  split?: { forward: number; backward: number; optimizer: number };
  /** Threads > 1: the calling thread's step in phases, ms per step (see TrainOptions.phases). */
  phases?: Record<string, number>;
  steps: number;
  /** Each round's samples/s (see --rounds), in the order run. */
  rounds?: Array<{ train: number; infer: number }>;
}

/** One round's measurement: a RunResult with its step times, merged with the other rounds by mergeRounds. */
type Round = RunResult & { stepTimes: number[] };

/** The rounds of one backend and thread count as one result: the median step over every round's steps, the median inference rate, the mean split and phases. */
function mergeRounds(rounds: Round[]): RunResult {
  const r0 = rounds[0]!;
  const stepMs = median(rounds.flatMap((r) => r.stepTimes));
  const mean = (pick: (r: Round) => Record<string, number> | undefined): Record<string, number> | undefined => {
    if (!pick(r0)) return undefined;
    const out: Record<string, number> = {};
    for (const k of Object.keys(pick(r0)!)) out[k] = rounds.reduce((s, r) => s + pick(r)![k]!, 0) / rounds.length;
    return out;
  };
  const out: RunResult = { backend: r0.backend, threads: r0.threads, trainSamplesPerSec: (BATCH / stepMs) * 1e3, inferSamplesPerSec: median(rounds.map((r) => r.inferSamplesPerSec)), stepMs, steps: rounds.reduce((s, r) => s + r.steps, 0) };
  const split = mean((r) => r.split);
  if (split) out.split = split as RunResult["split"];
  const phases = mean((r) => r.phases);
  if (phases) out.phases = phases;
  if (rounds.length > 1) out.rounds = rounds.map((r) => ({ train: r.trainSamplesPerSec, infer: r.inferSamplesPerSec }));
  return out;
}

/** Training (through train(), as a user runs it) and inference of the reference workload. */
export async function workloadRun(backend: BackendName, threads: number, seconds: number): Promise<Round> {
  useBackend(backend);
  const vocab = 10_000;
  const batches = randomBatches(vocab, 8);
  const model = referenceModel(vocab);
  const times: number[] = [];
  const warm = 6;
  let last = 0;
  const phases: Record<string, number> = {};
  const deadline = () => performance.now() > last + seconds * 1e3;
  const source = {
    *batches(): Generator<LabeledBatch> {
      for (let i = 0; ; i++) {
        if (i === warm) {
          last = performance.now();
          for (const k of Object.keys(phases)) delete phases[k]; // the phases of timed steps only
        }
        if (i > warm + 4 && deadline()) return;
        yield batches[i % batches.length]!;
      }
    },
  };
  let prev = 0;
  await train(model, source, {
    epochs: 1,
    threads,
    phases,
    progressEvery: 1,
    onProgress: (e) => {
      const t = performance.now();
      if (e.step > warm) times.push(t - prev);
      prev = t;
    },
  });
  const stepTimes = times.slice(0, -1); // the last event repeats the epoch's end
  const stepMs = median(stepTimes);
  const out: Round = { backend, threads, trainSamplesPerSec: (BATCH / stepMs) * 1e3, inferSamplesPerSec: 0, stepMs, steps: stepTimes.length, stepTimes };
  if (phases.steps) {
    const n = phases.steps;
    out.phases = Object.fromEntries(Object.entries(phases).filter(([k]) => k !== "steps").map(([k, v]) => [k, v / n]));
  }
  if (threads === 1) {
    const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
    const arena = new Arena();
    const parts = { forward: [] as number[], backward: [] as number[], optimizer: [] as number[] };
    for (let i = 0; i < 12; i++) {
      const s = timedStep(model, opt, batches[i % batches.length]!, arena);
      if (i >= 2) for (const k of ["forward", "backward", "optimizer"] as const) parts[k].push(s[k] * 1e3);
    }
    out.split = { forward: median(parts.forward), backward: median(parts.backward), optimizer: median(parts.optimizer) };
  }
  // inference: 1024-row batches, split over the threads as evaluate and predict do
  const inferMs = Math.min(1500, seconds * 500);
  if (threads === 1) out.inferSamplesPerSec = BATCH / timeCalls(() => void noGrad(() => model.predict(batches[1]!)), inferMs);
  else {
    const workers = await workerFactory()(model, threads - 1);
    try {
      const t: number[] = [];
      for (let i = 0; i < 4; i++) await predictParallel(model, workers, batches[i % batches.length]!);
      const end = performance.now() + inferMs;
      for (let i = 0; t.length < 5 || performance.now() < end; i++) {
        const t0 = performance.now();
        await predictParallel(model, workers, batches[i % batches.length]!);
        t.push((performance.now() - t0) / 1e3);
      }
      out.inferSamplesPerSec = BATCH / median(t);
    } finally {
      await workers.close();
    }
  }
  return out;
}

export async function benchCommand(p: Parsed, io: Io): Promise<void> {
  const simd = wasmSimdSupported();
  const backends = (list(p, "backend") ?? (simd ? ["ts", "wasm"] : ["ts"])) as BackendName[];
  for (const b of backends) {
    if (!BACKENDS.includes(b)) throw new UsageError(`--backend: "${b}" is not one of ${BACKENDS.join(", ")}`);
    if (b === "wasm" && !simd) throw new UsageError("--backend wasm: this engine has no WebAssembly SIMD");
    if (b === "wasm-fma" && !wasmFmaSupported()) throw new UsageError("--backend wasm-fma: this engine does not accept relaxed SIMD (Node 20: node --experimental-wasm-relaxed-simd)");
  }
  const cores = cpus().length;
  const threads = (list(p, "threads") ?? (cores >= 2 ? ["1", "2"] : ["1"])).map((t) => {
    const n = parseDecimal(t);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--threads: "${t}" is not a positive integer`);
    return checkThreads(n, "--threads");
  });
  const seconds = num(p, "seconds", 3, (x) => x > 0, "> 0");
  const roundCount = num(p, "rounds", 3, (x) => Number.isInteger(x) && x >= 1, "a positive integer");
  const before = backendName();
  const warmupMs = simd ? wasmWarmup() : null;
  const log = p.json ? (): void => undefined : io.err;
  log(`esmm bench: ${backends.join(", ")} x ${threads.join(", ")} thread(s), ${seconds} s each in ${roundCount} round(s); ${cpus()[0]?.model ?? "?"} x${cores}, node ${process.version}`);
  const peak = simdPeakGflops();
  const gemm = backends.flatMap((b) => gemmRates(b, roundCount));
  // what two threads can reach here at all: the SIMD loop alone and on both vCPUs at once
  const twoCores = cores >= 2 && threads.some((t) => t >= 2) ? await twoCorePeak() : null;
  const runs: RunResult[] = [];
  for (const b of backends) {
    // thread counts in turn, round after round: a slow spell of a shared machine hits each of them
    const rounds = new Map<number, Round[]>(threads.map((t) => [t, []]));
    for (let r = 0; r < roundCount; r++) {
      for (const t of threads) {
        log(`  training on ${b}, ${t} thread(s)${roundCount > 1 ? `, round ${r + 1} of ${roundCount}` : ""} ...`);
        rounds.get(t)!.push(await workloadRun(b, t, seconds / roundCount));
      }
    }
    for (const t of threads) runs.push(mergeRounds(rounds.get(t)!));
  }
  // what two shards of a step cost each other on this machine: the bound on two threads' speed-up
  const shardPairs: ShardPair[] = [];
  if (cores >= 2 && threads.some((t) => t >= 2)) {
    for (const b of backends) {
      log(`  a half-batch on ${b}, alone and beside another ...`);
      shardPairs.push(await shardPair(b, roundCount, Math.min(500, Math.max(20, seconds * 100))));
    }
  }
  if (before !== "custom") useBackend(before);
  const result = {
    machine: { cpu: cpus()[0]?.model ?? null, cores, node: process.version },
    workload: "esmm-mmoe, F = 24, D = 16, 2 experts 384 -> 256 -> 128, gates, towers 128 -> 64 -> 1, batch 1024, Adam, 10,000 rows per field",
    simdPeakGflops: peak,
    wasmWarmupMs: warmupMs,
    twoCores,
    shardPairs,
    runs,
    gemm,
  };
  if (p.json) {
    io.out(JSON.stringify(result, null, 2));
    return;
  }
  const lines: string[] = [];
  lines.push(`training and inference (samples/s; median step):`);
  for (const r of runs) {
    const split = r.split
      ? `  (forward ${r.split.forward.toFixed(1)} / backward ${r.split.backward.toFixed(1)} / Adam ${r.split.optimizer.toFixed(1)} ms)`
      : r.phases
        ? `  (${Object.entries(r.phases).filter(([k]) => k !== "workerShard").map(([k, v]) => `${k} ${v.toFixed(1)}`).join(" / ")} ms${r.phases.workerShard !== undefined ? `; ${r.threads === 2 ? "the worker's shard" : "the workers' shards (mean)"} ${r.phases.workerShard.toFixed(1)} ms` : ""})`
        : "";
    lines.push(`  ${r.backend.padEnd(5)} ${String(r.threads).padStart(2)} thread(s): train ${r.trainSamplesPerSec.toFixed(0).padStart(7)}, infer ${r.inferSamplesPerSec.toFixed(0).padStart(7)}, step ${r.stepMs.toFixed(1)} ms${split}`);
  }
  for (const b of backends) {
    const one = runs.find((r) => r.backend === b && r.threads === 1);
    for (const r of runs.filter((x) => x.backend === b && x.threads > 1)) {
      if (!one) continue;
      const each = r.rounds && one.rounds ? `; round by round ${r.rounds.map((x, i) => `${(x.train / one.rounds![i]!.train).toFixed(2)}x`).join(", ")}` : "";
      lines.push(`  ${b}: ${r.threads} threads train ${(r.trainSamplesPerSec / one.trainSamplesPerSec).toFixed(2)}x one thread${each}`);
    }
  }
  for (const sp of shardPairs) lines.push(shardPairLine(sp));
  if (twoCores) {
    const r = twoCores.rounds;
    lines.push(`  the SIMD loop alone (no memory traffic) on both vCPUs at once: ${twoCores.sum.toFixed(2)}x one, two fixed halves ${twoCores.halves.toFixed(2)}x (medians of ${r.length} rounds; the slower half's rate over the loop alone, round by round: ${r.map((x) => (Math.min(...x.together) / x.alone).toFixed(2)).join(" ")})`);
  }
  lines.push(`gemm (GFLOP/s, median of ${roundCount} round(s), operands in the backend's memory as in a step${peak ? `; SIMD peak of this core ${peak.toFixed(1)}` : ""}):`);
  lines.push(`  ${"m x n x k".padEnd(16)} form ${backends.map((b) => b.padStart(10)).join("")}${peak ? "   of peak   (probed beside each shape: a register-only loop whose chains each wait on a multiply and an add, so a kernel with independent multiplies can pass 100%)   rounds of the fastest" : ""}`);
  for (const g of GEMMS) {
    const at = backends.map((b) => gemm.find((x) => x.backend === b && x.m === g.m && x.n === g.n && x.k === g.k && x.form === g.form)!);
    const best = at.reduce((x, y) => (y.gflops > x.gflops ? y : x));
    const each = roundCount > 1 ? `   ${best.rounds.map((x) => x.toFixed(1)).join(" ")}` : "";
    lines.push(`  ${`${g.m}x${g.n}x${g.k}`.padEnd(16)} ${g.form}  ${at.map((r) => r.gflops.toFixed(1).padStart(10)).join("")}${peak && best.ofPeak !== null ? `   ${(best.ofPeak * 100).toFixed(0).padStart(5)}%${each}` : ""}`);
  }
  if (warmupMs !== null) lines.push(`wasm start-up (compile + warm-up to the optimising tier): ${warmupMs.toFixed(1)} ms`);
  io.out(lines.join("\n"));
}

/**
 * The bench's line for one shard pair probe. Its bound cannot truly pass 2x: above it, this thread
 * ran slower alone than beside the other (a slow spell, or a slower vCPU while it ran alone), and the
 * line says so.
 */
export function shardPairLine(sp: ShardPair): string {
  return `  ${sp.backend}: a shard's forward and backward (${sp.rows} rows) alone ${sp.aloneMs.toFixed(1)} ms, beside another on the other vCPU ${sp.besideMs.toFixed(1)} ms: two threads can reach at most ${sp.bound.toFixed(2)}x for them here (rounds ${sp.rounds.map((x) => `${((2 * x.alone) / x.beside).toFixed(2)}x`).join(" ")})${sp.bound > 2 ? "; above 2x, this thread ran slower alone than beside the other: a slow spell or a slower vCPU while it ran alone, so read this run's ratios with care" : ""}`;
}

export const command: Command = { name: "bench", summary: "the reference workload per backend and thread count: samples/s, gemm GFLOP/s, SIMD peak", ...BENCH_SPEC, run: benchCommand };
