/** The MMoE mixture: a gate's weights blend the experts' outputs, row by row. */
import { Tensor, fmt } from "../../tensor/index.js";
import { record } from "../engine.js";

/**
 * gates [B, E], experts E x [B, H] -> [B, H],   y[b, :] = sum_e gates[b, e] * experts[e][b, :]
 * backward: dgates[b, e] += <dy[b, :], experts[e][b, :]>,   dexperts[e][b, :] += gates[b, e] * dy[b, :]
 * Cost 2BEH flops forward.
 */
export function mixExperts(gates: Tensor, experts: readonly Tensor[]): Tensor {
  const E = experts.length;
  if (gates.rank !== 2 || gates.shape[1] !== E) {
    throw new Error(`mixExperts: gates ${fmt(gates.shape)} do not match ${E} experts (need [B, ${E}])`);
  }
  const B = gates.shape[0]!;
  const H = experts[0]?.shape[1] ?? 0;
  for (const x of experts) {
    if (x.rank !== 2 || x.shape[0] !== B || x.shape[1] !== H) {
      throw new Error(`mixExperts: expert ${fmt(x.shape)} does not match gates ${fmt(gates.shape)} and width ${H}`);
    }
  }
  const y = Tensor.empty([B, H]);
  const G = gates.data;
  for (let e = 0; e < E; e++) {
    const X = experts[e]!.data;
    for (let b = 0; b < B; b++) {
      const g = G[b * E + e]!;
      const o = b * H;
      for (let h = 0; h < H; h++) y.data[o + h] = y.data[o + h]! + g * X[o + h]!;
    }
  }
  return record("mixExperts", y, [gates, ...experts], (dy) => {
    const gg = gates.needsGrad ? gates.gradBuffer() : null;
    for (let e = 0; e < E; e++) {
      const x = experts[e]!;
      const X = x.data;
      const gx = x.needsGrad ? x.gradBuffer() : null;
      for (let b = 0; b < B; b++) {
        const o = b * H;
        const g = G[b * E + e]!;
        let dot = 0;
        for (let h = 0; h < H; h++) {
          const d = dy[o + h]!;
          dot += d * X[o + h]!;
          if (gx) gx[o + h] = gx[o + h]! + g * d;
        }
        if (gg) gg[b * E + e] = gg[b * E + e]! + dot;
      }
    }
  });
}
