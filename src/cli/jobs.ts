/** Runs training jobs (src/cli/demo-run.ts) on worker threads, one model per worker, results in job order. */
import { Worker } from "node:worker_threads";
import { DEFAULT_EXPERTS } from "../index.js";
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
  return rows * (job.model.bottom === "mmoe" ? (job.model.experts?.count ?? DEFAULT_EXPERTS.count) : 2);
}

/** The lane of least (most) load; ties to the first. */
const laneOf = (load: readonly number[], most: boolean): number => load.reduce((best, x, l) => ((most ? x > load[best]! : x < load[best]!) ? l : best), 0);

/**
 * Job indices split into `lanes` queues of about equal total cost, each queue the most work first
 * (ties in the given order). Jobs go one by one, the most work first, to the least loaded lane (the
 * longest-processing-time rule); then, while it lowers the larger of the two loads, a job moves from
 * the busiest lane to another, or swaps with a cheaper one there (each such change shrinks the sum of
 * squared loads, so this ends).
 *
 * Why not one queue that every lane takes from as it finishes (what the rule alone amounts to): with
 * nine jobs of about 7 s on two lanes (the demo), one lane ends with a fifth job while the other
 * idles for most of it, whatever the order. Planned, the three jobs that also play the A/B test
 * (about 1 s longer) and one other go to one lane and five plain ones to the other.
 */
export function planLanes(costs: readonly number[], lanes: number): number[][] {
  const plan: number[][] = Array.from({ length: lanes }, () => []);
  const load: number[] = new Array<number>(lanes).fill(0);
  const byCost = (a: number, b: number): number => costs[b]! - costs[a]! || a - b;
  for (const i of costs.map((_, i) => i).sort(byCost)) {
    const l = laneOf(load, false);
    plan[l]!.push(i);
    load[l]! += costs[i]!;
  }
  /** Whether moving `c` of cost from lane hi to lane lo leaves both carrying less than hi does now. */
  const better = (hi: number, lo: number, c: number): boolean => c > 0 && load[lo]! + c < load[hi]!;
  for (let changed = true; changed; ) {
    changed = false;
    const hi = laneOf(load, true);
    search: for (let lo = 0; lo < lanes; lo++) {
      if (lo === hi) continue;
      for (const [x, i] of plan[hi]!.entries()) {
        // y: where i goes in lane lo, at its end (a move) or in place of a cheaper job there (a swap)
        const y = better(hi, lo, costs[i]!) ? plan[lo]!.length : plan[lo]!.findIndex((j) => better(hi, lo, costs[i]! - costs[j]!));
        if (y < 0) continue;
        const j = plan[lo]![y]; // undefined for a move
        const c = costs[i]! - (j === undefined ? 0 : costs[j]!);
        if (j === undefined) plan[hi]!.splice(x, 1);
        else plan[hi]![x] = j;
        plan[lo]![y] = i;
        load[hi]! -= c;
        load[lo]! += c;
        changed = true;
        break search;
      }
    }
  }
  for (const q of plan) q.sort(byCost);
  return plan;
}

/**
 * Each job on one of `workers` threads (0: all inline, one after another, in the given order). The
 * jobs are planned onto the threads by their cost (see planLanes); a thread whose queue runs dry
 * takes the cheapest job not yet started from the queue with the most work left, so a job that runs
 * longer than its estimate delays no more than its own lane. A job's result does not depend on where
 * or when it ran: each model trains on one thread with its own seed.
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
  const costs = jobs.map(jobCost);
  const queues = planLanes(costs, Math.min(workers, jobs.length));
  const left = (q: number[]): number => q.reduce((s, i) => s + costs[i]!, 0);
  /** The lane's next job: the front of its own queue, else the back of the queue with the most work left. */
  const nextJob = (mine: number[]): number | undefined => {
    if (mine.length > 0) return mine.shift();
    return queues[laneOf(queues.map(left), true)]!.pop();
  };
  // one thread per lane for all its jobs: a thread starts once, and its jobs share the data it loaded
  const lane = async (mine: number[]): Promise<void> => {
    const w = new JobWorker();
    try {
      for (let i = nextJob(mine); i !== undefined; i = nextJob(mine)) {
        results[i] = await w.run(jobs[i]!, onProgress);
        onDone(jobs[i]!, results[i]!);
      }
    } finally {
      await w.close();
    }
  };
  await Promise.all(queues.map(lane));
  return results;
}
