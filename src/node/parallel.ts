/**
 * Data-parallel training on Node's worker_threads (the ShardWorkers of src/esmm/parallel.ts).
 *
 * Every parameter is moved into a SharedArrayBuffer once, so each worker's replica of the model
 * reads the very values the trainer updates: no weights are sent per step. A step sends each worker
 * its shard (a few hundred KB of ids and labels) and gets back its gradients (dense ones, and the
 * row-sparse embedding rows it touched), transferred without copying. Workers wait on their message
 * port between steps (they never spin). After the optimiser's update the trainer bumps an atomic
 * counter that the workers read before their next forward pass: the memory model's guarantee that
 * they see the updated weights.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { backendName, registerWorkerFactory, type Esmm, type LabeledBatch, type LossWeights, type ShardResult, type ShardWorkers } from "../index.js";

/** The worker's script beside this module (dist/node when run from the compiled package). */
function workerScript(): URL {
  const here = new URL("./shard-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  // running from the TypeScript sources (tests): the compiled worker, which needs `npm run build`
  const built = new URL("../../dist/node/shard-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error("threads: the worker script shard-worker.js was not found (run `npm run build`)");
}

/** Moves every parameter of the model into shared memory (once); returns name -> shared buffer. */
export function shareParameters(model: Esmm): Array<[string, SharedArrayBuffer]> {
  return model.namedParameters().map(([name, p]) => {
    if (!(p.data.buffer instanceof SharedArrayBuffer) || p.data.byteOffset !== 0 || p.data.byteLength !== p.data.buffer.byteLength) {
      p.moveDataTo(new Float32Array(new SharedArrayBuffer(p.size * 4)));
    }
    return [name, p.data.buffer as SharedArrayBuffer];
  });
}

interface Pending {
  resolve: (r: ShardResult) => void;
  reject: (e: Error) => void;
}

export async function startShardWorkers(model: Esmm, count: number): Promise<ShardWorkers> {
  const params = shareParameters(model);
  const epoch = new Int32Array(new SharedArrayBuffer(4));
  const script = workerScript();
  const workers: Worker[] = [];
  const pending: Array<Pending | null> = [];
  const failed: Array<Error | null> = [];
  const init = { config: model.config, firstLayer: model.firstLayer, backend: backendName(), params, epoch: epoch.buffer };
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(script, { workerData: init });
        workers.push(w);
        pending.push(null);
        failed.push(null);
        const fail = (e: Error): void => {
          failed[i] = e;
          const p = pending[i];
          pending[i] = null;
          p?.reject(e);
          reject(e);
        };
        w.on("message", (m: { type: string; result?: ShardResult; message?: string }) => {
          if (m.type === "ready") resolve();
          else if (m.type === "result") {
            const p = pending[i];
            pending[i] = null;
            p?.resolve(m.result!);
          } else if (m.type === "error") fail(new Error(`thread ${i + 1}: ${m.message}`));
        });
        w.on("error", (e) => fail(new Error(`thread ${i + 1}: ${e.message}`)));
        w.on("exit", (code) => {
          if (code !== 0) fail(new Error(`thread ${i + 1} exited with code ${code}`));
        });
      }),
    ),
  );
  return {
    count,
    run(shards: LabeledBatch[], weights: LossWeights[]): Promise<ShardResult[]> {
      return Promise.all(
        shards.map(
          (shard, i) =>
            new Promise<ShardResult>((resolve, reject) => {
              if (failed[i]) return reject(failed[i]!);
              pending[i] = { resolve, reject };
              const transfer = [shard.ids.buffer, shard.click.buffer, shard.conversion.buffer, ...(shard.dense ? [shard.dense.buffer] : [])] as ArrayBuffer[];
              workers[i]!.postMessage({ type: "step", shard, weights: weights[i] }, transfer);
            }),
        ),
      );
    },
    publish(): void {
      Atomics.add(epoch, 0, 1);
    },
    async close(): Promise<void> {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

registerWorkerFactory(startShardWorkers);
