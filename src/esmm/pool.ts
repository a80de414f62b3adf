/**
 * The pool of shard workers behind data-parallel training (the ShardWorkers of parallel.ts), written
 * once for every platform: Node's worker_threads (src/node/parallel.ts) and browsers' Web Workers
 * (src/web/parallel.ts) each supply only how a worker is started and how its messages arrive.
 *
 * Every thread sees one copy of the parameters, so each worker's replica of the model reads the very
 * values the owners update: no weights are sent per step. So are the Adam moments of the parameters
 * a worker updates. On the wasm backend the workers compute in the trainer's own shared kernel
 * memory: parameters, moments and every thread's gradients are views of it, and a step hands
 * gradients over as positions in it (nothing copied, nothing sent but a few numbers); on other
 * backends parameters and moments move into SharedArrayBuffers and gradients go as transferred
 * copies. A step sends each worker its shard (a few hundred KB of ids and labels) and gets back the
 * gradients it does not own; then hands it the other shards' gradients of what it owns. Workers wait
 * for messages between steps (they never spin). After every update the trainer bumps an atomic
 * counter that the workers read before their next forward pass: the memory model's guarantee that
 * they see the new weights.
 */
import { allocLasting, backendName, kernels } from "../tensor/index.js";
import type { Adam } from "../optim/index.js";
import { InputRowError } from "../layers/index.js";
import type { Batch, LabeledBatch } from "./batch.js";
import type { Esmm, LossWeights, Scores } from "./model.js";
import { buffersOf, hand, partitionParameters, type Handed, type ShardGrads, type ShardResult, type ShardWorkers } from "./parallel.js";

/**
 * Where the workers find an array that every thread must see (a parameter, an Adam moment): in the
 * kernels' shared memory when the backend has one (moved there if it was elsewhere), else in a
 * SharedArrayBuffer of its own. Returns the array to keep using here and how it is handed.
 */
function shareArray(a: Float32Array): { data: Float32Array; handed: Handed } {
  const sm = kernels.sharedMemory?.() ?? null;
  if (sm) {
    const data = sm.owns(a) ? a : allocLasting(a.length);
    if (data !== a) data.set(a);
    if (sm.owns(data)) return { data, handed: hand(data, false) };
  }
  if (a.buffer instanceof SharedArrayBuffer) return { data: a, handed: a };
  const data = new Float32Array(new SharedArrayBuffer(a.length * 4));
  data.set(a);
  return { data, handed: data };
}

/** Moves every parameter of the model where the workers see it (once); returns name -> how it is handed. */
export function shareParameters(model: Esmm): Array<[string, Handed]> {
  return model.namedParameters().map(([name, p]) => {
    const { data, handed } = shareArray(p.data);
    if (data !== p.data) p.moveDataTo(data, false);
    return [name, handed];
  });
}

type Reply = { type: "ready" } | { type: "scored"; scores: Scores; failed?: undefined } | { type: "scored"; failed: { where: string; row: number; reason: string } | { message: string } } | { type: "result"; result: ShardResult } | { type: "checked"; bad: { name: string; count: number } | null } | { type: "done"; steps: Array<[string, number]> } | { type: "bye"; regions: Array<[number, number]> } | { type: "error"; message: string };

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
  /** The trainer's kernel memory, where it is shared (the worker's kernels then compute in it too). */
  memory: WebAssembly.Memory | null;
  /** Regions of that memory an ended worker left, for this one to allocate from first. */
  regions: Array<[number, number]>;
  params: Array<[string, Handed]>;
  epoch: SharedArrayBuffer;
  hyper: { lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };
  state: Array<readonly [string, Handed, Handed, number]>;
  shards: number;
}

/**
 * One worker and its replies, queued until asked for (a reply may come before anyone waits). Several
 * requests may be out at once (scoring keeps two queued per worker): replies come in the order the
 * requests went, so each goes to the oldest waiter for its type.
 */
class Lane {
  private readonly replies: Reply[] = [];
  private readonly waiting: Array<{ type: string; resolve: (r: Reply) => void; reject: (e: Error) => void }> = [];
  failed: Error | null = null;

  constructor(readonly worker: Endpoint, readonly index: number) {
    worker.listen(
      (msg) => this.accept(msg),
      (e) => this.fail(new Error(`thread ${index + 1}: ${e.message}`)),
    );
  }

  private accept(msg: unknown): void {
    const m = msg as Reply;
    if (m.type === "error") return this.fail(new Error(`thread ${this.index + 1}: ${m.message}`));
    const i = this.waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    else this.replies.push(m);
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
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
      this.waiting.push({ type, resolve: resolve as (r: Reply) => void, reject });
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
  // the trainer's kernel memory, where the workers compute too (the wasm backend), or null
  const sm = kernels.sharedMemory?.() ?? null;
  await Promise.all(
    owned.map((names, i) => {
      // the moments of what worker i updates, in shared memory (the trainer's Adam keeps the same arrays)
      const state = [...names].map((n) => {
        const st = optimizer!.liveState(n);
        const m = shareArray(st.m);
        const v = shareArray(st.v);
        optimizer!.useState(n, { step: st.step, m: m.data, v: v.data });
        return [n, m.handed, v.handed, st.step] as const;
      });
      const init: ShardInit = { config: model.config, firstLayer: model.firstLayer, backend: backendName(), memory: sm?.memory ?? null, regions: sm ? sm.handOut() : [], params, epoch: epoch.buffer, hyper, state, shards: count + 1 };
      const lane = new Lane(spawn(init), i);
      lanes.push(lane);
      return lane.next("ready");
    }),
  );
  lanes.sort((a, b) => a.index - b.index);
  const scoreOn = async (worker: number, shard: Batch): Promise<Scores> => {
    const r = await lanes[worker]!.ask("scored", { type: "score", shard }, [shard.ids.buffer, ...(shard.dense ? [shard.dense.buffer] : [])] as ArrayBuffer[]);
    if (!r.failed) return r.scores;
    // the batch's own error, as predict on this thread would have thrown it; the lane stays open
    throw "row" in r.failed ? new InputRowError(r.failed.where, r.failed.row, r.failed.reason) : new Error(`thread ${worker + 1}: ${r.failed.message}`);
  };
  return {
    count,
    owned,
    async run(shards: LabeledBatch[], weights: LossWeights[]): Promise<ShardResult[]> {
      const replies = await Promise.all(
        shards.map((shard, i) => {
          const transfer = [shard.ids.buffer, shard.click.buffer, shard.conversion.buffer, ...(shard.dense ? [shard.dense.buffer] : [])] as ArrayBuffer[];
          return lanes[i]!.ask("result", { type: "step", shard, index: i + 1, weights: weights[i] }, transfer);
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
    score: (shards: Batch[]): Promise<Scores[]> => Promise.all(shards.map((shard, i) => scoreOn(i, shard))),
    scoreOn,
    publish(): void {
      Atomics.add(epoch, 0, 1);
    },
    async close(): Promise<void> {
      // Workers that computed in the trainer's memory hand back the regions they took (their own
      // gradients, arenas, scratch) for the next pool's workers, so that a process training again
      // and again does not run the memory up; a failed worker's regions are not reused.
      const byes = sm ? await Promise.all(lanes.map((l) => (l.failed ? null : l.ask("bye", { type: "bye" }).catch(() => null)))) : [];
      await Promise.all(lanes.map((l) => l.worker.terminate()));
      for (const b of byes) if (b) sm!.retire(b.regions);
    },
  };
}

