import type { Rng, Tensor } from "../tensor/index.js";
import { softmax, type FieldInput } from "../autograd/index.js";
import { Linear } from "./linear.js";
import { Module, type NamedParameters } from "./module.js";

/**
 * An MMoE gate: exactly Linear + softmax over the E experts (as EasyRec's MMoE), nothing hidden.
 * x [B, I] -> g [B, E], rows sum to 1. A zero gate (W = 0, b = 0) weighs every expert 1/E.
 */
export class Gate extends Module {
  readonly linear: Linear;

  constructor(inFeatures: number, readonly experts: number, opts: { rng: Rng }) {
    super();
    this.linear = new Linear(inFeatures, experts, { rng: opts.rng });
  }

  /** x [B, I] (or a FieldInput, see Linear.forward) -> [B, E]. */
  forward(x: Tensor | FieldInput): Tensor {
    return softmax(this.linear.forward(x));
  }

  namedParameters(): NamedParameters {
    return this.linear.namedParameters();
  }
}
