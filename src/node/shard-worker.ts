/**
 * One thread of data-parallel training (see parallel.ts): a replica of the model over the shared
 * parameters; for each shard it is sent, forward, the scaled loss, backward, and its gradients back.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Arena, Esmm, useBackend, type BackendName, type EsmmConfig, type LabeledBatch, type LossWeights, type ShardResult } from "../index.js";

const port = parentPort!;
const init = workerData as { config: EsmmConfig; firstLayer: Esmm["firstLayer"]; backend: BackendName | "custom"; params: Array<[string, SharedArrayBuffer]>; epoch: SharedArrayBuffer };
try {
  if (init.backend !== "custom") useBackend(init.backend);
  const model = new Esmm(init.config);
  model.firstLayer = init.firstLayer;
  const shared = new Map(init.params);
  const params = model.namedParameters();
  for (const [name, p] of params) p.moveDataTo(new Float32Array(shared.get(name)!), false);
  const epoch = new Int32Array(init.epoch);
  const arena = new Arena();
  port.on("message", (m: { type: string; shard: LabeledBatch; weights: LossWeights }) => {
    if (m.type !== "step") return;
    try {
      Atomics.load(epoch, 0); // pairs with the trainer's Atomics.add after its update: this thread now sees the new weights
      const result = arena.run((): ShardResult => {
        const s = m.shard;
        const loss = model.loss(model.forward(s), s.click, s.conversion, m.weights);
        loss.total.backward();
        const dense: ShardResult["dense"] = [];
        const sparse: ShardResult["sparse"] = [];
        for (const [name, p] of params) {
          if (p.sparse) {
            const g = p.sparseGrad;
            if (g) sparse.push([name, g.rows.slice(), g.values.slice()]);
          } else if (p.grad) dense.push([name, p.grad.slice()]);
          p.zeroGrad();
        }
        return { total: loss.total.item(), ctr: loss.ctr, cvr: loss.cvr, dense, sparse };
      });
      const transfer = [...result.dense.map(([, g]) => g.buffer), ...result.sparse.flatMap(([, r, v]) => [r.buffer, v.buffer])] as ArrayBuffer[];
      port.postMessage({ type: "result", result }, transfer);
    } catch (e) {
      port.postMessage({ type: "error", message: (e as Error).message });
    }
  });
  port.postMessage({ type: "ready" });
} catch (e) {
  port.postMessage({ type: "error", message: (e as Error).message });
}
