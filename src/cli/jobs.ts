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

function runInWorker(job: DemoJob, onProgress: (m: string) => void): Promise<DemoResult> {
  return new Promise((resolvePromise, reject) => {
    const w = new Worker(compiledScript(new URL("./demo-worker.js", import.meta.url), "cli/demo-worker.js"), { workerData: job });
    w.on("message", (m: { type: string; msg?: string; result?: DemoResult; message?: string }) => {
      if (m.type === "progress") onProgress(m.msg!);
      else if (m.type === "done") resolvePromise(m.result!);
      else reject(new Error(m.message));
    });
    w.on("error", reject);
    w.on("exit", (code) => {
      if (code !== 0) reject(new Error(`worker for ${job.variant} exited with code ${code}`));
    });
  });
}

/**
 * Each job on one of `workers` threads (0: all inline, one after another). A job's result does not
 * depend on where it ran: each model trains on one thread with its own seed.
 */
export async function runJobs(jobs: readonly DemoJob[], workers: number, onProgress: (m: string) => void, onDone: (job: DemoJob, r: DemoResult) => void = () => undefined): Promise<DemoResult[]> {
  const results: DemoResult[] = new Array(jobs.length);
  if (workers === 0) {
    for (let i = 0; i < jobs.length; i++) {
      results[i] = await runDemoJob(jobs[i]!, onProgress);
      onDone(jobs[i]!, results[i]!);
    }
    return results;
  }
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await runInWorker(jobs[i]!, onProgress);
      onDone(jobs[i]!, results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, lane));
  return results;
}
