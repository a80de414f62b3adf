/**
 * The worker side of the shard-pair probe (src/cli/shard-pair.ts): warms up a half-batch of the
 * reference workload, says "ready", then computes half-batches while the shared state is RUN
 * (saying "running" as it starts and "idle" once its last one is done), sleeps while it is IDLE,
 * and ends at EXIT.
 */
import { parentPort, workerData } from "node:worker_threads";
import { useBackend, type BackendName } from "../index.js";
import { PAIR_EXIT, PAIR_IDLE, PAIR_RUN, shardWork } from "./shard-pair.js";

const { backend, flag: buffer } = workerData as { backend: BackendName; flag: SharedArrayBuffer };
useBackend(backend);
const flag = new Int32Array(buffer);
const step = shardWork(2); // a model and data of its own (another seed)
for (let i = 0; i < 6; i++) step();
parentPort!.postMessage("ready");
for (;;) {
  Atomics.wait(flag, 0, PAIR_IDLE); // sleeps, never spins, between rounds
  const state = Atomics.load(flag, 0);
  if (state === PAIR_EXIT) break;
  if (state !== PAIR_RUN) continue;
  parentPort!.postMessage("running");
  while (Atomics.load(flag, 0) === PAIR_RUN) step();
  parentPort!.postMessage("idle");
}
