/**
 * How much two shards of a training step slow each other down on this machine (Node only: the second
 * shard runs on a worker thread, src/cli/shard-pair-worker.ts).
 *
 * Data-parallel training on two threads computes two half-batches at once, one per core, and can
 * beat one thread by at most 2x. Two cores of a shared virtual machine give less: the shards share
 * the memory system (and, on some hosts, more), so each computes slower beside the other than alone.
 * This probe measures that directly: the forward and backward pass of a half-batch of the reference
 * workload on this thread, timed alone and then while a worker thread computes half-batches of a
 * model of its own, round after round. The ratio of the two bounds what two threads can reach for
 * those passes, whatever the protocol around them: 2 / (beside / alone). The SIMD loop's probe
 * (peak.ts) has no memory traffic, so it cannot see this.
 */
import { Worker } from "node:worker_threads";
import { Adam, Arena, useBackend, type BackendName } from "../index.js";
import { compiledScript } from "../node/index.js";
import { median } from "./timing.js";
import { BATCH, randomBatches, referenceModel, timedStep } from "./workload.js";

/** The worker's states, in one shared Int32: wait, compute half-batches, or end. */
export const PAIR_IDLE = 0, PAIR_RUN = 1, PAIR_EXIT = 2;

/** A model, its optimiser and a few half-batches of the reference workload: one shard's work (seeded: `seed`). */
export function shardWork(seed: number): () => { forward: number; backward: number } {
  const model = referenceModel(10_000, seed);
  const batches = randomBatches(10_000, 4, BATCH / 2, seed + 1);
  const opt = new Adam(model.namedParameters(), { lr: 1e-3 });
  const arena = new Arena();
  let i = 0;
  return () => timedStep(model, opt, batches[i++ % batches.length]!, arena);
}

export interface ShardPair {
  backend: BackendName;
  /** Rows of each shard (half the batch). */
  rows: number;
  /** Each round: the median forward + backward ms of this thread's shard alone, and beside the worker's. */
  rounds: Array<{ alone: number; beside: number }>;
  /** Medians over the rounds. */
  aloneMs: number;
  besideMs: number;
  /** What two threads can reach at most for the forward and backward passes here: 2 x alone / beside (medians of the rounds' ratios). */
  bound: number;
}

/** The median forward + backward ms of `step` over about `ms` (at least 3 steps). */
function passMs(step: () => { forward: number; backward: number }, ms: number): number {
  const t: number[] = [];
  const end = performance.now() + ms;
  while (t.length < 3 || performance.now() < end) {
    const s = step();
    t.push((s.forward + s.backward) * 1e3);
  }
  return median(t);
}

/** Runs the probe on `backend`: `rounds` times alone, then beside a worker, each for about `ms`. */
export async function shardPair(backend: BackendName, rounds = 3, ms = 400): Promise<ShardPair> {
  useBackend(backend);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(compiledScript(new URL("./shard-pair-worker.js", import.meta.url), "cli/shard-pair-worker.js"), { workerData: { backend, flag: flag.buffer } });
  const next = (): Promise<string> =>
    new Promise((res, rej) => {
      w.once("message", res);
      w.once("error", rej);
    });
  const set = (state: number): void => {
    Atomics.store(flag, 0, state);
    Atomics.notify(flag, 0);
  };
  try {
    const ready = next();
    const step = shardWork(1);
    for (let i = 0; i < 6; i++) step(); // to the optimising tier, the arena at its size
    await ready; // the worker has warmed up too
    const out: ShardPair["rounds"] = [];
    for (let r = 0; r < rounds; r++) {
      const alone = passMs(step, ms);
      const running = next();
      set(PAIR_RUN);
      await running;
      const beside = passMs(step, ms);
      const idle = next();
      set(PAIR_IDLE);
      await idle; // its last half-batch is done: the next round's "alone" is alone
      out.push({ alone, beside });
    }
    set(PAIR_EXIT);
    return {
      backend,
      rows: BATCH / 2,
      rounds: out,
      aloneMs: median(out.map((x) => x.alone)),
      besideMs: median(out.map((x) => x.beside)),
      bound: median(out.map((x) => (2 * x.alone) / x.beside)),
    };
  } finally {
    await w.terminate();
  }
}
