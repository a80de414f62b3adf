/** One thread of data-parallel training on Node: the shard host (src/esmm/shard-host.ts) on this worker's port. */
import { parentPort, workerData } from "node:worker_threads";
import { hostShards } from "../esmm/shard-host.js";
import type { ShardInit } from "../esmm/pool.js";

const port = parentPort!;
try {
  const handle = hostShards(workerData as ShardInit, (msg, transfer) => port.postMessage(msg, transfer ?? []));
  port.on("message", handle);
  port.postMessage({ type: "ready" });
} catch (e) {
  port.postMessage({ type: "error", message: (e as Error).message });
}
