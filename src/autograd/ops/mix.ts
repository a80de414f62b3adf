/** The MMoE mixture: a gate's weights blend the experts' outputs, row by row. */
import { Tensor, fmt, kernels } from "../../tensor/index.js";
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
  const X = experts.map((x) => x.data);
  kernels.mixExperts(y.data, G, X, B, H);
  return record("mixExperts", y, [gates, ...experts], (dy) => {
    kernels.mixExpertsBackward(gates.needsGrad ? gates.gradBuffer() : null, experts.map((x) => (x.needsGrad ? x.gradBuffer() : null)), dy, G, X, B, H);
  });
}
