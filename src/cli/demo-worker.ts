/**
 * Worker-thread entry of the demo and of `esmm compare`: runs the jobs it is sent, one after another,
 * posting each one's progress and result (a thread's later jobs reuse the data its last job loaded).
 */
import { parentPort } from "node:worker_threads";
import { runDemoJob, type DemoJob } from "./demo-run.js";

const port = parentPort!;
port.on("message", (job: DemoJob) => {
  runDemoJob(job, (msg) => port.postMessage({ type: "progress", msg })).then(
    (result) => port.postMessage({ type: "done", result }),
    // the message as the user reads it; the stack for ESMM_DEBUG (see main.ts)
    (e) => port.postMessage({ type: "error", message: (e as Error).message ?? String(e), stack: (e as Error).stack ?? "" }),
  );
});
