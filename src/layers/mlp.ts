import type { Rng, Tensor } from "../tensor/index.js";
import type { FieldInput } from "../autograd/index.js";
import { Linear } from "./linear.js";
import { Module, prefixed, type NamedParameters } from "./module.js";

/** Options of an `Mlp`: the seeded generator, and whether a ReLU follows the last layer too. */
export interface MlpOptions {
  rng: Rng;
  /** ReLU after the last layer too (experts: yes; a tower ending in a logit: no). Default false. */
  activateLast?: boolean;
}

/**
 * A stack of Linear layers with ReLU between them: sizes [I, H1, ..., O].
 * Parameters are named `<l>.weight`, `<l>.bias`, l counting Linear layers from 0.
 */
export class Mlp extends Module {
  readonly layers: Linear[];
  readonly activateLast: boolean;

  constructor(readonly sizes: readonly number[], opts: MlpOptions) {
    super();
    if (sizes.length < 2) throw new Error(`Mlp: needs at least [in, out] sizes, got [${sizes.join(", ")}]`);
    this.layers = [];
    for (let l = 0; l + 1 < sizes.length; l++) this.layers.push(new Linear(sizes[l]!, sizes[l + 1]!, { rng: opts.rng }));
    this.activateLast = opts.activateLast === true;
  }

  /** x [B, I] -> [B, O]; x may be a FieldInput (see Linear.forward). */
  forward(x: Tensor | FieldInput): Tensor {
    let h: Tensor | FieldInput = x;
    this.layers.forEach((layer, l) => {
      const last = l === this.layers.length - 1;
      h = layer.forward(h, !last || this.activateLast);
    });
    return h as Tensor;
  }

  namedParameters(): NamedParameters {
    return this.layers.flatMap((layer, l) => prefixed(String(l), layer.namedParameters()));
  }
}
