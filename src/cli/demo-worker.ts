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
    (e) => port.postMessage({ type: "error", message: (e as Error).stack ?? String(e) }),
  );
});
