/**
 * Data-parallel training in browsers: the platform's part of the shard pool (src/esmm/pool.ts has
 * the protocol) on Web Workers. `import "esmm-ts/web"` registers it, so train({ threads }) works in a
 * page (or a worker) that is cross-origin isolated: SharedArrayBuffer needs COOP/COEP, which
 * `esmm serve` sends.
 */
import type { Adam } from "../optim/index.js";
import { registerWorkerFactory, type Esmm, type ShardWorkers } from "../esmm/index.js";
import { startShardPool, type Endpoint, type ShardInit } from "../esmm/pool.js";

function spawnWeb(init: ShardInit): Endpoint {
  const w = new Worker(new URL("./shard-worker.js", import.meta.url), { type: "module" });
  w.postMessage({ type: "init", init });
  return {
    post: (msg, transfer) => w.postMessage(msg, transfer),
    listen: (onMessage, onFailure) => {
      w.onmessage = (e: MessageEvent) => onMessage(e.data);
      w.onerror = (e: ErrorEvent) => onFailure(new Error(e.message || "the worker failed to start"));
    },
    terminate: () => w.terminate(),
  };
}

/** Whether this context can share memory with workers (a cross-origin-isolated page or worker). */
export function canUseThreads(): boolean {
  return typeof SharedArrayBuffer === "function" && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

/** Starts `count` Web Workers holding replicas of `model` over shared memory (a cross-origin-isolated page only). */
export function startWebShardWorkers(model: Esmm, count: number, optimizer?: Adam): Promise<ShardWorkers> {
  return startShardPool(spawnWeb, model, count, optimizer);
}

registerWorkerFactory(startWebShardWorkers);
