import { Rng, Tensor, linearDefault, zeros } from "../tensor/index.js";
import { fieldsLinear, linear, type FieldInput } from "../autograd/index.js";
import { Module, type NamedParameters } from "./module.js";

/** Options of a `Linear`: the seeded generator of its initial weights, and whether it has a bias. */
export interface LinearOptions {
  rng: Rng;
  bias?: boolean;
}

/**
 * Affine layer as PyTorch's nn.Linear: weight [O, I], bias [O], y = x @ W^T + b.
 * Init: W, b ~ U(-1/sqrt(I), 1/sqrt(I)) (PyTorch's default).  Cost 2BIO flops forward.
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions) {
    super();
    this.weight = zeros([outFeatures, inFeatures], { requiresGrad: true, name: "weight" });
    this.bias = opts.bias === false ? null : zeros([outFeatures], { requiresGrad: true, name: "bias" });
    linearDefault(this.weight.data, this.bias ? this.bias.data : null, opts.rng, inFeatures);
  }

  /**
   * x [B, I] -> [B, O]; with relu = true the ReLU is fused into the same op. x may also be a model
   * input given by parts (embedding tables, ids and the remaining columns): then the product is taken
   * once per distinct id (see src/autograd/ops/fields.ts) and the [B, I] input is never built.
   */
  forward(x: Tensor | FieldInput, relu = false): Tensor {
    if (!(x instanceof Tensor)) return fieldsLinear(x, this.weight, this.bias, relu);
    return linear(x, this.weight, this.bias, relu);
  }

  namedParameters(): NamedParameters {
    return this.bias ? [["weight", this.weight], ["bias", this.bias]] : [["weight", this.weight]];
  }
}
