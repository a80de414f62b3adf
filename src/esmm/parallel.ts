/**
 * Data-parallel training, the part that runs anywhere: how a batch is cut into shards, how each
 * shard's loss is scaled so that the shards' gradients add up to the whole batch's, and the
 * interface of a pool of workers (Node's worker_threads in src/node/parallel.ts; Web Workers
 * implement the same interface). Browser-safe: no threads are started here.
 *
 * One step with T threads: the batch is cut into T contiguous shards; the calling thread computes
 * shard 0's gradient while the T - 1 workers compute the others on replicas whose parameters are
 * the same shared memory; the gradients are then summed in shard order (0, 1, ..., T - 1) and the
 * calling thread applies Adam. A fixed order makes a seed give the same bits on every run with the
 * same T; a different T sums in a different order, so its bits differ (within float rounding).
 */
import { allocF32, kernels, type Tensor } from "../tensor/index.js";
import type { Bag, Batch, LabeledBatch } from "./batch.js";
import type { Adam } from "../optim/index.js";
import { predictFrom, type Esmm, type LossWeights, type Scores } from "./model.js";
import { InputRowError } from "../layers/index.js";
import { objectiveOf, termWeight } from "./objectives.js";

/**
 * A buffer as another thread receives it. Where the backend computes in a memory every thread shares
 * (the wasm backend), only its place, `{ at, n }`: the other thread views the very floats, nothing is
 * copied or sent. Otherwise the array itself: a SharedArrayBuffer view is shared by postMessage, a
 * copy is transferred.
 */
export type Handed = Float32Array | { at: number; n: number };

/** How `x` goes to another thread (see Handed); `copy`: an array outside shared memory goes as a copy (the sender keeps using its own). */
export function hand(x: Float32Array, copy: boolean): Handed {
  const sm = kernels.sharedMemory?.() ?? null;
  if (sm && sm.owns(x)) return { at: x.byteOffset, n: x.length };
  return copy ? x.slice() : x;
}

/** The array a Handed stands for, on this thread. */
export function received(h: Handed): Float32Array {
  if (h instanceof Float32Array) return h;
  const sm = kernels.sharedMemory?.() ?? null;
  if (!sm) throw new Error("threads: a buffer in shared kernel memory reached a thread whose backend has none");
  return sm.view(h.at, h.n);
}

/**
 * Gradients of some parameters from one shard: dense ones, and row-sparse (rows, values) ones. The
 * sender leaves them untouched until the receiver has summed them (the step's protocol, pool.ts).
 */
export interface ShardGrads {
  dense: Array<[string, Handed]>;
  sparse: Array<[string, Int32Array, Handed]>;
}

/** What a worker returns for its shard: its loss (scaled, as backpropagated), the unscaled parts, and the gradients of the parameters it does not update itself. */
export interface ShardResult extends ShardGrads {
  total: number;
  ctr: number;
  cvr: number;
  /** How long the worker's forward and backward took, in ms, on its own clock (for TrainOptions.phases). */
  ms?: number;
}

/**
 * Some parameters' current gradients, handed: dense ones, and a table's row-sparse parts as they
 * arrived (not coalesced: the owner coalesces every shard's parts once, in shard order).
 */
export function gradsOf(params: ReadonlyMap<string, Tensor>, names: Iterable<string>): ShardGrads {
  const g: ShardGrads = { dense: [], sparse: [] };
  for (const n of names) {
    const p = params.get(n)!;
    if (p.sparse) for (const part of p.rowGradParts) g.sparse.push([n, part.rows.slice(), hand(part.values, true)]);
    else if (p.grad) g.dense.push([n, hand(p.grad, true)]);
  }
  return g;
}

/**
 * A pool of T - 1 workers, each holding a replica of the model over shared parameter memory. The
 * Adam update is split too: each worker updates the parameters in its `owned` set (their moments
 * live in shared memory), the caller the rest; so one step goes
 *   run      every worker computes its shard; returns its loss and the gradients it does not own
 *            (handed: in place where the kernels' memory is shared, untouched until commit)
 *   share    every worker is handed the other shards' gradients of what it owns (shard 0's as soon
 *            as the caller has them), sums them in shard order and says whether they are finite
 *   commit   if every sum (the caller's too) is finite, every owner applies Adam; else nobody does.
 */
export interface ShardWorkers {
  readonly count: number;
  /** owned[i]: the parameters worker i updates. */
  readonly owned: ReadonlyArray<ReadonlySet<string>>;
  /** Computes shard i + 1's gradient on worker i, for each shard given. */
  run(shards: LabeledBatch[], weights: LossWeights[]): Promise<ShardResult[]>;
  /** Hands worker i gradients of its parameters from other shards (each tagged with its shard; in one or more calls, every other shard once). */
  share(worker: number, grads: Array<ShardGrads & { shard: number }>): void;
  /** Once every worker has had all of its shards: each worker's first non-finite sum, or null. */
  verdicts(): Promise<Array<{ name: string; count: number } | null>>;
  /** Applies (or drops) the workers' updates; resolves when every worker is done. */
  commit(apply: boolean): Promise<void>;
  /** Scores shard i + 1 on worker i (inference, no graph): the model's predict, on another thread. */
  score(shards: Batch[]): Promise<Scores[]>;
  /** Scores one batch on worker `worker`; several may be out at once (they are scored in turn). */
  scoreOn(worker: number, shard: Batch): Promise<Scores>;
  /** Makes the parameters' current values visible to the workers (after every update). */
  publish(): void;
  /** Stops the workers. */
  close(): Promise<void>;
}

/**
 * Sums every shard's gradient of each parameter in `only`, in shard order (0, 1, ...), into the
 * parameter's own gradient, which holds this thread's shard `own`. Dense: the first addition is
 * commutative (a + b is b + a in floating point), so for `own` 0 or 1 the sum builds in place; a
 * later `own` sums in a scratch buffer first. Row-sparse: every shard's parts, in shard order and
 * within a shard as they arrived, for the next coalescing. Call inside a step arena (the scratch).
 */
export function sumShards(params: ReadonlyMap<string, Tensor>, only: ReadonlySet<string>, own: number, others: ReadonlyArray<ShardGrads & { shard: number }>): void {
  const order = [...others].sort((a, b) => a.shard - b.shard);
  const dense = new Map<string, Array<{ shard: number; g: Float32Array }>>();
  const sparse = new Map<string, Array<{ shard: number; rows: Int32Array; values: Float32Array }>>();
  for (const o of order) {
    for (const [name, d] of o.dense) if (only.has(name)) (dense.get(name) ?? dense.set(name, []).get(name)!).push({ shard: o.shard, g: received(d) });
    for (const [name, rows, v] of o.sparse) if (only.has(name)) (sparse.get(name) ?? sparse.set(name, []).get(name)!).push({ shard: o.shard, rows, values: received(v) });
  }
  for (const [name, parts] of dense) {
    const p = params.get(name)!;
    const into = p.gradBuffer();
    const before = parts.filter((x) => x.shard < own);
    if (before.length <= 1) {
      for (const x of parts) kernels.addScaled(into, x.g, 1, p.size);
    } else {
      const acc = allocF32(p.size);
      acc.set(before[0]!.g);
      for (const x of before.slice(1)) kernels.addScaled(acc, x.g, 1, p.size);
      kernels.addScaled(acc, into, 1, p.size);
      for (const x of parts.filter((y) => y.shard > own)) kernels.addScaled(acc, x.g, 1, p.size);
      into.set(acc);
    }
  }
  for (const [name, parts] of sparse) {
    const p = params.get(name)!;
    if (own === 0) {
      for (const x of parts) p.addRowGrad(x.rows, x.values);
      continue;
    }
    const mine = [...p.rowGradParts];
    p.zeroGrad();
    for (const x of parts.filter((y) => y.shard < own)) p.addRowGrad(x.rows, x.values);
    for (const x of mine) p.addRowGrad(x.rows, x.values);
    for (const x of parts.filter((y) => y.shard > own)) p.addRowGrad(x.rows, x.values);
  }
}

/** The buffers to transfer with a set of gradients: the copies (never shared memory). */
export function buffersOf(g: ShardGrads): ArrayBuffer[] {
  const own = (h: Handed): ArrayBuffer[] => (h instanceof Float32Array && !(typeof SharedArrayBuffer === "function" && h.buffer instanceof SharedArrayBuffer) ? [h.buffer as ArrayBuffer] : []);
  return [...g.dense.flatMap(([, d]) => own(d)), ...g.sparse.flatMap(([, r, v]) => [r.buffer as ArrayBuffer, ...own(v)])];
}

/** Starts `count` workers for a model and, for training, its optimiser (parameters and moments move into shared memory). */
export type WorkerFactory = (model: Esmm, count: number, optimizer?: Adam) => Promise<ShardWorkers>;

/**
 * Splits the Adam update between the caller (0) and `workers` threads (1..): greedily by the
 * work of each parameter's update (a table's: the rows a batch touches, about min(V, B) of them).
 * The caller gets a little more (about a tenth of the work): a worker's share waits on two more
 * hand-offs (its shards' gradients, then the word to apply), each a thread wake-up of 0.1-0.5 ms on
 * the machines measured, while the caller's starts at once. (With the caller given less, it waited
 * on the workers' verdicts and updates 0.75 ms a step at the reference workload; given more, 0.35.)
 * Who updates a parameter does not change its bits. Deterministic.
 */
export function partitionParameters(model: Esmm, workers: number, batch: number): string[][] {
  const parts: string[][] = Array.from({ length: workers + 1 }, () => []);
  const load = new Array<number>(workers + 1).fill(0);
  load[0] = -0.1; // the caller's share starts sooner (see above)
  const cost = model.namedParameters().map(([n, p]) => [n, p.sparse ? Math.min(p.shape[0]!, batch) * p.shape[1]! : p.size] as const);
  cost.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = cost.reduce((s, [, c]) => s + c, 0) || 1;
  for (const [n, c] of cost) {
    let best = 0;
    for (let i = 1; i <= workers; i++) if (load[i]! < load[best]!) best = i;
    parts[best]!.push(n);
    load[best]! += c / total;
  }
  return parts;
}

let factory: WorkerFactory | null = null;

/** Installs the thread implementation (esmm-ts/node does this on import). */
export function registerWorkerFactory(f: WorkerFactory): void {
  factory = f;
}

export function workerFactory(): WorkerFactory {
  if (!factory) throw new Error("train: threads > 1 needs a worker implementation: import 'esmm-ts/node' (Node), or register one with registerWorkerFactory");
  return factory;
}

function sliceBag(b: Bag, from: number, to: number): Bag {
  const lo = b.offsets[from]!;
  const hi = b.offsets[to]!;
  const offsets = new Int32Array(to - from + 1);
  for (let i = 0; i <= to - from; i++) offsets[i] = b.offsets[from + i]! - lo;
  return { offsets, ids: b.ids.slice(lo, hi), weights: b.weights ? b.weights.slice(lo, hi) : null };
}

/** Rows [from, to) of a batch as a batch of their own (copies, so a shard can be sent to a thread). */
function sliceInput(b: Batch, from: number, to: number): Batch {
  const Fs = b.size ? b.ids.length / b.size : 0;
  const Nd = b.dense && b.size ? b.dense.length / b.size : 0;
  return { size: to - from, ids: b.ids.slice(from * Fs, to * Fs), bags: b.bags.map((bag) => sliceBag(bag, from, to)), dense: b.dense ? b.dense.slice(from * Nd, to * Nd) : null };
}

/** The same for a labelled batch: its labels too. */
export function sliceBatch(b: LabeledBatch, from: number, to: number): LabeledBatch {
  return { ...sliceInput(b, from, to), click: b.click.slice(from, to), conversion: b.conversion.slice(from, to) };
}

/** Where `parts` contiguous shards of `size` rows start and end: near-equal sizes, the first ones one row larger. */
function shardCuts(size: number, parts: number): number[] {
  const cuts = [0];
  for (let p = 0; p < parts; p++) cuts.push(cuts[p]! + Math.floor(size / parts) + (p < size % parts ? 1 : 0));
  return cuts;
}

/** Cuts a batch into `parts` contiguous shards of near-equal size (the first ones one row larger). */
export function shardBatch(b: LabeledBatch, parts: number): LabeledBatch[] {
  const cuts = shardCuts(b.size, parts);
  return Array.from({ length: parts }, (_, p) => sliceBatch(b, cuts[p]!, cuts[p + 1]!));
}

/**
 * Loss weights that make shard losses add up to the batch loss. Each term of the loss is a mean
 * (see the objective's terms): over all rows (a shard of n of B rows weighs n / B), or over the
 * clicked rows (a shard with c of C clicks weighs c / C). A term normalised by the batch's sum of
 * propensity weights needs every shard's pCTR first, so it cannot be sharded.
 */
export function shardLossWeights(model: Esmm, shards: LabeledBatch[], base: LossWeights = {}): LossWeights[] {
  const B = shards.reduce((s, x) => s + x.size, 0);
  const clicks = shards.map((x) => x.click.reduce((s, v) => s + v, 0));
  const C = clicks.reduce((s, v) => s + v, 0);
  const terms = objectiveOf(model.config).terms(model.config.counterfactual);
  return shards.map((x, i) => {
    const w: LossWeights = {};
    for (const t of terms) {
      if (t.over === "weights") throw new Error(`${model.name}: the self-normalised counterfactual risk (counterfactual.normalize) cannot be split over threads; train on one thread or leave normalize off`);
      const share = t.over === "clicked" ? (C ? clicks[i]! / C : 0) : B ? x.size / B : 0;
      w[t.key] = termWeight(base, t.key) * share;
    }
    return w;
  });
}

/**
 * A way to let the event loop deliver what has arrived (the workers' replies) and come straight back.
 * A promise resolves before any message is delivered, and a timer waits at least 1 ms in Node (4 ms
 * when nested in browsers). Node has setImmediate, which runs after the loop has polled for
 * messages (a message to oneself comes back first there, with the workers' replies still waiting);
 * browsers take tasks from every source in turn, so a message to oneself does there. close() when done.
 */
export function turnTaker(): (() => Promise<void>) & { close(): void } {
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
  if (immediate) return Object.assign(() => new Promise<void>((resolve) => void immediate(resolve)), { close: () => undefined });
  const ch = new MessageChannel();
  const waiting: Array<() => void> = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  const turn = (): Promise<void> =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      ch.port2.postMessage(0);
    });
  return Object.assign(turn, { close: () => ch.port1.close() });
}

/** How many batches scored on this thread orderedScoring holds behind a worker's before it waits for that one. */
const HELD = 4;

/** What orderedScoring returns: a stream of batches in, their scores out in the same order. */
export interface OrderedScoring<T> {
  /** Hands over the next batch (with a tag for emit); resolves once what is ready has been emitted. */
  push(batch: Batch, tag: T): Promise<void>;
  /** Whether the next batch pushed goes to a worker (one has fewer than two queued), not this thread. */
  room(): boolean;
  /** Lets the event loop deliver the workers' replies (call every thousand rows or so while reading). */
  poll(): Promise<void>;
  /** Emits every batch still out, in order; then the stream is done. */
  finish(): Promise<void>;
}

/**
 * Scores a stream of batches on this thread and the workers, and hands each batch's scores to `emit`
 * in the order the batches came (esmm predict: this thread reads and writes the file while the
 * workers score). A batch goes to a worker with fewer than two queued, and is scored here only when
 * none has room; the scores are the same bits wherever a batch was scored (see predictParallel).
 * `push` resolves once what is ready has been emitted (waiting for the oldest batch only when HELD
 * batches scored here wait behind it, so a few at most are held); `finish` emits the rest. A reader that
 * makes the batches should `poll` every thousand rows or so: the workers' replies (and their queues'
 * refills) wait for this thread's event loop, which a loop over buffered rows does not visit. An
 * error (a worker's, this thread's scoring, or emit's) is thrown from the push or finish it met, once
 * every batch handed to a worker has come back: no stale reply is left for the workers' next user.
 * An InputRowError's row then counts from the first row pushed, not from its batch's, and a worker
 * whose batch failed goes on scoring the next.
 */
export function orderedScoring<T>(model: Esmm, workers: ShardWorkers | null, emit: (scores: Scores, tag: T) => Promise<void>): OrderedScoring<T> {
  type Item = { tag: T; ready: Scores | null; scores: Promise<Scores> | Scores };
  const queue: Item[] = [];
  const queued = new Array<number>(workers?.count ?? 0).fill(0);
  const turn = workers ? turnTaker() : null;
  const lane = (): number => (workers ? queued.findIndex((q) => q < 2) : -1);
  let rows = 0; // rows pushed so far: where the next batch starts in the stream
  const dispatch = (batch: Batch, tag: T): Item => {
    const first = rows;
    rows += batch.size;
    const w = lane();
    if (!workers || w < 0) {
      const sc = predictFrom(model, batch, first);
      return { tag, ready: sc, scores: sc };
    }
    queued[w]!++;
    const scores = workers.scoreOn(w, batch).then(
      (sc) => {
        queued[w]!--;
        return (item.ready = sc);
      },
      (e: unknown) => {
        queued[w]!--;
        throw e instanceof InputRowError ? e.shifted(first) : e;
      },
    );
    scores.catch(() => undefined); // thrown where the batch is emitted, never left unhandled
    const item: Item = { tag, ready: null, scores };
    return item;
  };
  const emitOldest = async (): Promise<void> => {
    const it = queue.shift()!;
    await emit(await it.scores, it.tag);
  };
  /** Runs `f`; on an error, waits until every batch still out has come back, then throws it. */
  const settling = async (f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      await Promise.all(queue.splice(0).map((it) => Promise.resolve(it.scores).catch(() => undefined)));
      throw e;
    }
  };
  return {
    push: (batch: Batch, tag: T): Promise<void> =>
      settling(async () => {
        queue.push(dispatch(batch, tag));
        while (queue.length > 0 && (queue[0]!.ready !== null || queue.length > 2 * queued.length + HELD)) await emitOldest();
      }),
    room: () => lane() >= 0,
    poll: () => (turn ? turn() : Promise.resolve()),
    async finish(): Promise<void> {
      try {
        await settling(async () => {
          while (queue.length > 0) await emitOldest();
        });
      } finally {
        turn?.close();
      }
    },
  };
}

/**
 * Scores a batch on this thread and the workers at once: shard 0 here, the others there, the rows'
 * scores put back in order. A row's scores depend on its own ids only (see Esmm.predict), so they are
 * bit-identical to scoring the whole batch on one thread.
 */
export async function predictParallel(model: Esmm, workers: ShardWorkers, batch: Batch): Promise<Scores> {
  const T = workers.count + 1;
  const cuts = shardCuts(batch.size, T);
  const shards = Array.from({ length: T }, (_, p) => sliceInput(batch, cuts[p]!, cuts[p + 1]!));
  const pending = workers.score(shards.slice(1));
  const first = model.predict(shards[0]!);
  const parts = [first, ...(await pending)];
  const join = (pick: (s: Scores) => Float32Array | undefined, width: number): Float32Array => {
    const out = new Float32Array(batch.size * width);
    parts.forEach((s, p) => out.set(pick(s)!, cuts[p]! * width));
    return out;
  };
  const out: Scores = { pCtr: join((s) => s.pCtr, 1), pCvr: join((s) => s.pCvr, 1), pCtcvr: join((s) => s.pCtcvr, 1) };
  if (first.gates) {
    const E = first.gates.ctr.length / Math.max(shards[0]!.size, 1);
    out.gates = { ctr: join((s) => s.gates?.ctr, E), cvr: join((s) => s.gates?.cvr, E) };
  }
  return out;
}
