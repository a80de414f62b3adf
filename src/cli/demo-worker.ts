/** Worker-thread entry of the demo: runs one job and posts progress and the result. */
import { parentPort, workerData } from "node:worker_threads";
import { runDemoJob, type DemoJob } from "./demo-run.js";

const port = parentPort!;
runDemoJob(workerData as DemoJob, (msg) => port.postMessage({ type: "progress", msg })).then(
  (result) => port.postMessage({ type: "done", result }),
  (e) => port.postMessage({ type: "error", message: (e as Error).stack ?? String(e) }),
);
