/**
 * Data-parallel training on Node's worker_threads: the platform's part of the shard pool
 * (src/esmm/pool.ts has the protocol); importing esmm-ts/node registers it for train({ threads }).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { registerWorkerFactory, type Adam, type Esmm, type ShardWorkers } from "../index.js";
import { startShardPool, type Endpoint, type ShardInit } from "../esmm/pool.js";

/**
 * A worker script: `beside` (the compiled file next to its caller, as in dist/) where it exists, else
 * the same file in the package's dist/ (`inDist`, say "node/shard-worker.js"): tests that run from
 * the TypeScript sources start the compiled worker, which needs `npm run build`.
 */
export function compiledScript(beside: URL, inDist: string): URL {
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL(`../../dist/${inDist}`, import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`the worker script ${inDist} was not found (run \`npm run build\`)`);
}

function spawnNode(init: ShardInit): Endpoint {
  const w = new Worker(compiledScript(new URL("./shard-worker.js", import.meta.url), "node/shard-worker.js"), { workerData: init });
  return {
    post: (msg, transfer) => w.postMessage(msg, transfer),
    listen: (onMessage, onFailure) => {
      w.on("message", onMessage);
      w.on("error", onFailure);
      w.on("exit", (code) => {
        if (code !== 0) onFailure(new Error(`exited with code ${code}`));
      });
    },
    terminate: () => w.terminate(),
  };
}

/** Starts `count` worker threads holding replicas of `model` over shared memory (what `train(..., { threads })` uses in Node). */
export function startShardWorkers(model: Esmm, count: number, optimizer?: Adam): Promise<ShardWorkers> {
  return startShardPool(spawnNode, model, count, optimizer);
}

registerWorkerFactory(startShardWorkers);
