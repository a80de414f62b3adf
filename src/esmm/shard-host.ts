/**
 * What a shard worker does, on any platform (see pool.ts for the protocol): a replica of the model
 * over the shared parameters. Per step: its shard's forward, scaled loss and backward (the gradients
 * it does not own go back); the other shards' gradients of what it owns, summed in shard order and
 * checked; then, on the trainer's word, Adam on those parameters, with their moments in shared
 * memory. Also scoring (inference) of a shard. `hostShards(init, post)` returns the message handler;
 * a platform's worker entry wires it to its message port.
 */
import { Arena, kernels, useBackend, type BackendName } from "../tensor/index.js";
import { Adam } from "../optim/index.js";
import { InputRowError } from "../layers/index.js";
import type { Batch, LabeledBatch } from "./batch.js";
import { Esmm, type LossWeights } from "./model.js";
import { buffersOf, gradsOf, received, sumShards, type ShardGrads, type ShardResult } from "./parallel.js";
import type { ShardInit } from "./pool.js";

type Msg = { type: "score"; shard: Batch } | { type: "step"; shard: LabeledBatch; index: number; weights: LossWeights } | { type: "reduce"; grads: Array<ShardGrads & { shard: number }> } | { type: "commit"; apply: boolean } | { type: "bye" };

export function hostShards(init: ShardInit, post: (msg: unknown, transfer?: ArrayBuffer[]) => void): (msg: unknown) => void {
  if (init.backend !== "custom") useBackend(init.backend as BackendName);
  // compute in the trainer's memory where it is shared: the parameters, moments and every gradient
  // of both threads are then views of one memory, which each thread's kernels use in place
  if (init.memory) kernels.adoptMemory?.(init.memory, init.regions);
  const model = new Esmm(init.config, { draw: false }); // its parameters become views of the trainer's just below
  model.firstLayer = init.firstLayer;
  const shared = new Map(init.params);
  const params = model.namedParameters();
  const byName = new Map(params);
  for (const [name, p] of params) p.moveDataTo(received(shared.get(name)!), false);
  const mine = new Set(init.state.map(([n]) => n));
  const others = params.map(([n]) => n).filter((n) => !mine.has(n));
  const adam = new Adam(params, init.hyper);
  for (const [n, m, v, step] of init.state) adam.useState(n, { step, m: received(m), v: received(v) });
  const epoch = new Int32Array(init.epoch);
  const arena = new Arena();
  const stepArena = new Arena();
  let own = -1;
  let incoming: Array<ShardGrads & { shard: number }> = [];

  const handlers = {
    score(m: Extract<Msg, { type: "score" }>): void {
      Atomics.load(epoch, 0); // see step
      let scores;
      try {
        scores = model.predict(m.shard);
      } catch (e) {
        // a batch the model cannot score (a row that overflows float32) fails that request alone: the
        // worker and its lane go on serving the next one
        const failed = e instanceof InputRowError ? { where: e.where, row: e.row, reason: e.reason } : { message: (e as Error).message };
        return post({ type: "scored", failed });
      }
      post({ type: "scored", scores }, [scores.pCtr.buffer, scores.pCvr.buffer, scores.pCtcvr.buffer, ...(scores.gates ? [scores.gates.ctr.buffer, scores.gates.cvr.buffer] : [])] as ArrayBuffer[]);
    },
    step(m: Extract<Msg, { type: "step" }>): void {
      Atomics.load(epoch, 0); // pairs with the trainer's Atomics.add after each update: this thread now sees the new weights
      const t0 = performance.now();
      const result = arena.run((): ShardResult => {
        const s = m.shard;
        const loss = model.loss(model.forward(s), s.click, s.conversion, m.weights);
        loss.total.backward();
        // what this thread updates stays here until the other shards' parts arrive; the rest is
        // handed to its owners (in place where memory is shared: left untouched until commit)
        return { total: loss.total.item(), ctr: loss.ctr, cvr: loss.cvr, ...gradsOf(byName, others) };
      });
      result.ms = performance.now() - t0;
      post({ type: "result", result }, buffersOf(result));
    },
    reduce(m: Extract<Msg, { type: "reduce" }>): void {
      incoming.push(...m.grads);
      if (incoming.length < init.shards - 1) return; // more shards to come
      const all = incoming;
      incoming = [];
      // summed and checked here, updated in commit: both in stepArena (the second run allocates
      // nothing, so the coalesced sparse gradients of the first stay as they are)
      const bad = stepArena.run(() => {
        sumShards(byName, mine, own, all);
        return adam.nonFiniteGradient(mine);
      });
      post({ type: "checked", bad });
    },
    commit(m: Extract<Msg, { type: "commit" }>): void {
      if (m.apply && mine.size > 0) stepArena.run(() => adam.step(mine));
      // every gradient of this shard is free again: the owners have summed what they were handed
      for (const [, p] of params) p.zeroGrad();
      post({ type: "done", steps: [...mine].map((n) => [n, adam.liveState(n).step]) });
    },
  };
  return (msg: unknown) => {
    const m = msg as Msg;
    try {
      // the pool closes: the regions this thread took from the trainer's memory go back to the trainer
      if (m.type === "bye") return post({ type: "bye", regions: init.memory ? (kernels.sharedMemory?.()?.regions() ?? []) : [] });
      if (m.type === "score") handlers.score(m);
      else if (m.type === "step") handlers.step(m);
      else if (m.type === "reduce") handlers.reduce(m);
      else handlers.commit(m);
    } catch (e) {
      post({ type: "error", message: (e as Error).message });
    }
  };
}
