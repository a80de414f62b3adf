/**
 * What the experts and gates of an mmoe bottom are doing, measured rather than guessed:
 * - gate statistics: how much weight each task gives each expert on average (usage), and the mean
 *   entropy of a row's gate distribution (ln E when a gate mixes evenly, 0 when it picks one expert:
 *   a gate collapsed onto one expert has entropy near 0 on every row);
 * - task gradient norms: the L2 norm of the gradient each loss term alone sends into each expert's
 *   parameters on a batch, which shows whether one task's gradient dominates the shared experts
 *   (the CTR term sees every impression, the CTCVR term is 20x sparser in positives).
 */
import { Arena, denseGrad } from "../tensor/index.js";
import type { Dataset, LabeledBatch } from "./batch.js";
import type { Esmm, LossWeights } from "./model.js";
import { objectiveOf, type TermKey } from "./objectives.js";

/** Gate usage and entropy per task, over a dataset. */
export interface GateStats {
  /** Mean gate weight of each expert, per task. */
  usage: { ctr: number[]; cvr: number[] };
  /** Mean over rows of -sum_e g_e ln g_e, per task (at most ln E). */
  entropy: { ctr: number; cvr: number };
}

/** Gate usage and entropy over a dataset, or null for a bottom without gates. */
export function gateStats(model: Esmm, ds: Dataset, batchSize = 4096): GateStats | null {
  if (!model.gates) return null;
  const E = model.config.experts.count;
  const usage = { ctr: new Array<number>(E).fill(0), cvr: new Array<number>(E).fill(0) };
  const entropy = { ctr: 0, cvr: 0 };
  const order = Array.from({ length: ds.size }, (_, i) => i);
  for (let start = 0; start < ds.size; start += batchSize) {
    const b = ds.take(order, start, Math.min(ds.size, start + batchSize));
    const s = model.predict(b);
    for (const t of ["ctr", "cvr"] as const) {
      const g = s.gates![t];
      for (let r = 0; r < b.size; r++) {
        let h = 0;
        for (let e = 0; e < E; e++) {
          const v = g[r * E + e]!;
          usage[t][e]! += v;
          if (v > 0) h -= v * Math.log(v);
        }
        entropy[t] += h;
      }
    }
  }
  const n = Math.max(ds.size, 1);
  return {
    usage: { ctr: usage.ctr.map((v) => v / n), cvr: usage.cvr.map((v) => v / n) },
    entropy: { ctr: entropy.ctr / n, cvr: entropy.cvr / n },
  };
}

/**
 * For each term of the model's objective, the L2 norm of the gradient that term alone (weight 1,
 * the others 0) sends into each expert's parameters, on one batch: `{ ctr: [e0, e1], cvr: [...] }`.
 * The model's gradients are zero before and after. Empty for a bottom without experts.
 */
export function taskGradientNorms(model: Esmm, batch: LabeledBatch): Partial<Record<TermKey, number[]>> {
  const out: Partial<Record<TermKey, number[]>> = {};
  if (model.experts.length === 0) return out;
  const terms = objectiveOf(model.config).terms(model.config.counterfactual);
  const arena = new Arena();
  for (const t of terms) {
    const only: LossWeights = Object.fromEntries(terms.map((u) => [u.key, u.key === t.key ? 1 : 0]));
    arena.run(() => {
      model.loss(model.forward(batch), batch.click, batch.conversion, only).total.backward();
    });
    out[t.key] = model.experts.map((e) => {
      let s = 0;
      for (const p of e.parameters()) for (const g of denseGrad(p)) s += g * g;
      return Math.sqrt(s);
    });
    model.zeroGrad();
  }
  return out;
}
