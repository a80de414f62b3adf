/** Runs training jobs (src/cli/demo-run.ts) on worker threads, one model per worker, results in job order. */
import { Worker } from "node:worker_threads";
import { compiledScript } from "../node/index.js";
import { runDemoJob, type DemoJob, type DemoResult } from "./demo-run.js";
import { int, num, type Parsed } from "./args.js";
import { fmtDuration } from "./format.js";
import type { Io } from "./io.js";

/**
 * The sizes a job trains with, from --batch and --lr: `rows` simulated training impressions, a fifth
 * of that (at least 100) for validation, as many as training for the test, and `epochs`.
 */
export function runSizes(p: Parsed, rows: number, epochs: number): Pick<DemoJob, "trainRows" | "validRows" | "testRows" | "epochs" | "batch" | "lr"> {
  return {
    trainRows: rows,
    validRows: Math.max(100, Math.round(rows / 5)),
    testRows: rows,
    epochs,
    batch: int(p, "batch", 1024, 1),
    lr: num(p, "lr", 1e-3, (x) => x > 0, "> 0"),
  };
}

/** A progress callback for runJobs that prints at most one line every `everyMs`, with the time since `t0`. */
export function throttledProgress(io: Io, t0: number, everyMs: number): (m: string) => void {
  let last = 0;
  return (m) => {
    const now = performance.now();
    if (now - last > everyMs) {
      io.err(`  [${fmtDuration((now - t0) / 1000)}] ${m}`);
      last = now;
    }
  };
}

/** A job's failure as the user reads it: the job, then what went wrong (the stack kept for ESMM_DEBUG). */
function jobError(job: DemoJob, message: string, stack?: string): Error {
  const e = new Error(`${job.variant} (seed ${job.seed}): ${message}`);
  if (stack) e.stack = stack;
  return e;
}

/** A worker thread that runs jobs one at a time (src/cli/demo-worker.ts). */
class JobWorker {
  private readonly w = new Worker(compiledScript(new URL("./demo-worker.js", import.meta.url), "cli/demo-worker.js"));
  private pending: { job: DemoJob; onProgress: (m: string) => void; resolve: (r: DemoResult) => void; reject: (e: Error) => void } | null = null;

  constructor() {
    this.w.on("message", (m: { type: string; msg?: string; result?: DemoResult; message?: string; stack?: string }) => {
      const p = this.pending;
      if (!p) return;
      if (m.type === "progress") return p.onProgress(m.msg!);
      this.pending = null;
      if (m.type === "done") return p.resolve(m.result!);
      p.reject(jobError(p.job, m.message ?? "failed", m.stack)); // the worker's stack, where it happened
    });
    this.w.on("error", (e) => this.fail(e));
    this.w.on("exit", (code) => this.fail(new Error(`the worker thread exited with code ${code}`)));
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = null;
    p?.reject(jobError(p.job, e.message, e.stack));
  }

  run(job: DemoJob, onProgress: (m: string) => void): Promise<DemoResult> {
    return new Promise((resolve, reject) => {
      this.pending = { job, onProgress, resolve, reject };
      this.w.postMessage(job);
    });
  }

  close(): Promise<number> {
    return this.w.terminate();
  }
}

/**
 * A job's work in rows passed through its model, for ordering jobs (not a time): a training row costs
 * about three scoring rows (forward, then backward at about twice the forward), each epoch validates,
 * the test set is scored once and an A/B test scores every candidate of every session; times the
 * number of nets in the bottom (an mmoe bottom has one per expert, the others one per task).
 */
export function jobCost(job: DemoJob): number {
  const rows = 3 * job.trainRows * job.epochs + job.validRows * job.epochs + job.testRows + (job.abtest ? job.abtest.sessions * job.abtest.candidates : 0);
  return rows * (job.model.bottom === "mmoe" ? (job.model.experts?.count ?? 2) : 2);
}

/**
 * The order in which lanes take jobs: the most work first (ties in the given order). Lanes take the
 * next job as they finish one, so what is left at the end, when some lanes have nothing more to
 * take, is the cheapest work. Measured on the demo (9 jobs, 2 lanes, the 3 with an A/B test about 1 s
 * longer than the rest): 35.3 s against 36.5 s in the given order (docs/results.md).
 */
export function jobOrder(jobs: readonly DemoJob[]): number[] {
  const cost = jobs.map(jobCost);
  return jobs.map((_, i) => i).sort((a, b) => cost[b]! - cost[a]! || a - b);
}

/**
 * Each job on one of `workers` threads (0: all inline, one after another, in the given order), the
 * most work first (see jobOrder). A job's result does not depend on where or when it ran: each model
 * trains on one thread with its own seed.
 */
export async function runJobs(jobs: readonly DemoJob[], workers: number, onProgress: (m: string) => void, onDone: (job: DemoJob, r: DemoResult) => void = () => undefined): Promise<DemoResult[]> {
  const results: DemoResult[] = new Array(jobs.length);
  if (workers === 0) {
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      try {
        results[i] = await runDemoJob(job, onProgress);
      } catch (e) {
        throw jobError(job, (e as Error).message, (e as Error).stack); // named by its job, as on a worker
      }
      onDone(job, results[i]!);
    }
    return results;
  }
  const order = jobOrder(jobs);
  let next = 0;
  // one thread per lane for all its jobs: a thread starts once, and its jobs share the data it loaded
  const lane = async (): Promise<void> => {
    const w = new JobWorker();
    try {
      while (next < order.length) {
        const i = order[next++]!;
        results[i] = await w.run(jobs[i]!, onProgress);
        onDone(jobs[i]!, results[i]!);
      }
    } finally {
      await w.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, lane));
  return results;
}
