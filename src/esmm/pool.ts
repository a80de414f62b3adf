/**
 * The pool of shard workers behind data-parallel training (the ShardWorkers of parallel.ts), written
 * once for every platform: Node's worker_threads (src/node/parallel.ts) and browsers' Web Workers
 * (src/web/parallel.ts) each supply only how a worker is started and how its messages arrive.
 *
 * Every parameter is moved into a SharedArrayBuffer once, so each worker's replica of the model
 * reads the very values the owners update: no weights are sent per step. So are the Adam moments of
 * the parameters a worker updates. A step sends each worker its shard (a few hundred KB of ids and
 * labels) and gets back the gradients it does not own, transferred without copying; then hands it
 * the other shards' gradients of what it owns. Workers wait for messages between steps (they never
 * spin). After every update the trainer bumps an atomic counter that the workers read before their
 * next forward pass: the memory model's guarantee that they see the new weights.
 */
import { backendName } from "../tensor/index.js";
import type { Adam } from "../optim/index.js";
import type { Batch, LabeledBatch } from "./batch.js";
import type { Esmm, LossWeights, Scores } from "./model.js";
import { buffersOf, partitionParameters, type ShardGrads, type ShardResult, type ShardWorkers } from "./parallel.js";

const isShared = (a: Float32Array): boolean => a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;

/** Moves every parameter of the model into shared memory (once); returns name -> shared buffer. */
export function shareParameters(model: Esmm): Array<[string, SharedArrayBuffer]> {
  return model.namedParameters().map(([name, p]) => {
    if (!isShared(p.data)) p.moveDataTo(new Float32Array(new SharedArrayBuffer(p.size * 4)));
    return [name, p.data.buffer as SharedArrayBuffer];
  });
}

function shareArray(a: Float32Array): Float32Array {
  if (isShared(a)) return a;
  const s = new Float32Array(new SharedArrayBuffer(a.length * 4));
  s.set(a);
  return s;
}

type Reply = { type: "ready" } | { type: "scored"; scores: Scores } | { type: "result"; result: ShardResult } | { type: "checked"; bad: { name: string; count: number } | null } | { type: "done"; steps: Array<[string, number]> } | { type: "error"; message: string };

/**
 * A started worker as the pool sees it, whatever the platform: Node's worker_threads and Web Workers
 * differ only in how a message arrives, so each platform adapts its worker to this.
 */
export interface Endpoint {
  post(msg: unknown, transfer: ArrayBuffer[]): void;
  /** Registers the handlers of replies and of the worker's death. */
  listen(onMessage: (m: unknown) => void, onFailure: (e: Error) => void): void;
  terminate(): Promise<unknown> | void;
}

/** Starts one worker with its init data (the platform's part of the pool). */
export type Spawn = (init: ShardInit) => Endpoint;

/** What a shard worker is started with (see shard-host.ts). */
export interface ShardInit {
  config: Esmm["config"];
  firstLayer: Esmm["firstLayer"];
  backend: string;
  params: Array<[string, SharedArrayBuffer]>;
  epoch: SharedArrayBuffer;
  hyper: { lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };
  state: Array<readonly [string, ArrayBufferLike, ArrayBufferLike, number]>;
  shards: number;
}

/** One worker and its replies, queued until asked for (a reply may come before anyone waits). */
class Lane {
  private readonly replies: Reply[] = [];
  private waiting: { type: string; resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  failed: Error | null = null;

  constructor(readonly worker: Endpoint, readonly index: number) {
    worker.listen(
      (msg) => {
        const m = msg as Reply;
        if (m.type === "error") return this.fail(new Error(`thread ${index + 1}: ${m.message}`));
        const w = this.waiting;
        if (w && w.type === m.type) {
          this.waiting = null;
          w.resolve(m);
        } else this.replies.push(m);
      },
      (e) => this.fail(new Error(`thread ${index + 1}: ${e.message}`)),
    );
  }

  private fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  post(msg: unknown, transfer: ArrayBuffer[] = []): void {
    if (!this.failed) this.worker.post(msg, transfer);
  }

  /** The next reply of type `type` (replies come in the order the requests went). */
  next<T extends Reply["type"]>(type: T): Promise<Extract<Reply, { type: T }>> {
    if (this.failed) return Promise.reject(this.failed);
    const i = this.replies.findIndex((r) => r.type === type);
    if (i >= 0) return Promise.resolve(this.replies.splice(i, 1)[0] as Extract<Reply, { type: T }>);
    return new Promise((resolve, reject) => {
      this.waiting = { type, resolve: resolve as (r: Reply) => void, reject };
    });
  }

  ask<T extends Reply["type"]>(type: T, msg: unknown, transfer: ArrayBuffer[] = []): Promise<Extract<Reply, { type: T }>> {
    this.post(msg, transfer);
    return this.next(type);
  }
}


/**
 * Starts `count` shard workers for a model (and, for training, its optimiser) with a platform's
 * `spawn`: the whole protocol of ShardWorkers, browser-safe.
 */
export async function startShardPool(spawn: Spawn, model: Esmm, count: number, optimizer?: Adam): Promise<ShardWorkers> {
  if (typeof SharedArrayBuffer !== "function") throw new Error("threads: SharedArrayBuffer is not available (a page must be cross-origin isolated: COOP/COEP headers)");
  const params = shareParameters(model);
  const epoch = new Int32Array(new SharedArrayBuffer(4));
  // With gradient clipping the update needs every gradient at once: the caller keeps all of it.
  // Scoring alone (no optimiser) or gradient clipping (the update needs every gradient at once):
  // the caller keeps the whole update.
  const parts = optimizer && optimizer.maxGradNorm === undefined ? partitionParameters(model, count, 1024) : [model.namedParameters().map(([n]) => n), ...Array.from({ length: count }, () => [])];
  const owned = parts.slice(1).map((names) => new Set(names));
  const hyper = optimizer ? { lr: optimizer.lr, beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps, weightDecay: optimizer.weightDecay } : {};
  const lanes: Lane[] = [];
  await Promise.all(
    owned.map((names, i) => {
      // the moments of what worker i updates, in shared memory (the trainer's Adam keeps the same arrays)
      const state = [...names].map((n) => {
        const st = optimizer!.liveState(n);
        const m = shareArray(st.m);
        const v = shareArray(st.v);
        optimizer!.useState(n, { step: st.step, m, v });
        return [n, m.buffer, v.buffer, st.step] as const;
      });
      const init: ShardInit = { config: model.config, firstLayer: model.firstLayer, backend: backendName(), params, epoch: epoch.buffer, hyper, state, shards: count + 1 };
      const lane = new Lane(spawn(init), i);
      lanes.push(lane);
      return lane.next("ready");
    }),
  );
  lanes.sort((a, b) => a.index - b.index);
  return {
    count,
    owned,
    async run(shards: LabeledBatch[], weights: LossWeights[]): Promise<ShardResult[]> {
      const replies = await Promise.all(
        shards.map((shard, i) => {
          const transfer = [shard.ids.buffer, shard.click.buffer, shard.conversion.buffer, ...(shard.dense ? [shard.dense.buffer] : [])] as ArrayBuffer[];
          return lanes[i]!.ask("result", { type: "step", shard, weights: weights[i] }, transfer);
        }),
      );
      return replies.map((r) => r.result);
    },
    share(worker: number, grads: Array<ShardGrads & { shard: number }>): void {
      lanes[worker]!.post({ type: "reduce", grads }, grads.flatMap(buffersOf));
    },
    async verdicts(): Promise<Array<{ name: string; count: number } | null>> {
      return (await Promise.all(lanes.map((l) => l.next("checked")))).map((r) => r.bad);
    },
    async commit(apply: boolean): Promise<void> {
      const replies = await Promise.all(lanes.map((l) => l.ask("done", { type: "commit", apply })));
      // the step counts of the moments the workers updated, for the trainer's checkpoints
      for (const r of replies) for (const [n, s] of r.steps) optimizer!.liveState(n).step = s;
    },
    async score(shards: Batch[]): Promise<Scores[]> {
      const replies = await Promise.all(shards.map((shard, i) => lanes[i]!.ask("scored", { type: "score", shard }, [shard.ids.buffer, ...(shard.dense ? [shard.dense.buffer] : [])] as ArrayBuffer[])));
      return replies.map((r) => r.scores);
    },
    publish(): void {
      Atomics.add(epoch, 0, 1);
    },
    async close(): Promise<void> {
      await Promise.all(lanes.map((l) => l.worker.terminate()));
    },
  };
}

