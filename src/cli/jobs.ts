/** Runs training jobs (src/cli/demo-run.ts) on worker threads, one model per worker, results in job order. */
import { Worker } from "node:worker_threads";
import { runDemoJob, type DemoJob, type DemoResult } from "./demo-run.js";

function runInWorker(job: DemoJob, onProgress: (m: string) => void): Promise<DemoResult> {
  return new Promise((resolvePromise, reject) => {
    const w = new Worker(new URL("./demo-worker.js", import.meta.url), { workerData: job });
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
