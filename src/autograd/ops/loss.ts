/**
 * Losses computed from logits, in log space: no sigmoid is taken and then logged, no epsilon clipping,
 * finite values and gradients at any finite logit.
 */
import { allocF32, fmt, kernels, Tensor } from "../../tensor/index.js";
import { record } from "../engine.js";

/** Options of the BCE losses. */
export interface BceOptions {
  /** Per-row weights; the mean divides by their sum. A zero weight removes a row (and its gradient). */
  weights?: Float32Array;
}

function targetsOf(op: string, logits: Tensor, targets: Tensor | Float32Array | ArrayLike<number>): Float32Array {
  const y = targets instanceof Tensor ? targets.data : targets instanceof Float32Array ? targets : Float32Array.from(targets);
  if (y.length !== logits.size) throw new Error(`${op}: ${y.length} targets for logits ${fmt(logits.shape)}`);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!(v >= 0 && v <= 1)) throw new Error(`${op}: target ${v} at position ${i} is not in [0, 1]`);
  }
  return y;
}

function checkWeights(op: string, n: number, w: Float32Array | undefined): Float32Array | null {
  if (!w) return null;
  if (w.length !== n) throw new Error(`${op}: ${w.length} weights for ${n} rows`);
  return w;
}

/**
 * Mean binary cross-entropy between sigmoid(z) and y, from the logits z:
 *   loss_i = softplus(z_i) - y_i z_i = max(z, 0) - y z + ln(1 + e^-|z|)
 *   L = sum_i w_i loss_i / sum_i w_i      (w = 1 without weights)
 * backward: dz_i += dL * w_i (sigmoid(z_i) - y_i) / sum w
 * With all weights zero the loss is 0 and no gradient flows.
 */
export function bceWithLogits(logits: Tensor, targets: Tensor | Float32Array | ArrayLike<number>, opts: BceOptions = {}): Tensor {
  const y = targetsOf("bceWithLogits", logits, targets);
  const n = logits.size;
  const w = checkWeights("bceWithLogits", n, opts.weights);
  const dz = allocF32(n);
  const loss = kernels.bceWithLogits(dz, logits.data, y, w, n);
  const out = new Tensor(Float32Array.of(loss), []);
  return record("bceWithLogits", out, [logits], (dy) => {
    kernels.addScaled(logits.gradBuffer(), dz, dy[0]!, n);
  });
}

/**
 * Mean BCE of a product of two probabilities, p = sigmoid(a) * sigmoid(b), against y, from the logits.
 * This is ESMM's CTCVR loss: pCTCVR = pCTR * pCVR, label = click AND conversion.
 *
 *   ln p     = ln sig(a) + ln sig(b)                         = -softplus(-a) - softplus(-b)
 *   ln (1-p) = ln(e^-a + e^-b + e^-(a+b)) + ln sig(a) + ln sig(b)
 * (since 1 - sig(a) sig(b) = (e^-a + e^-b + e^-a e^-b) sig(a) sig(b)), so nothing cancels and
 * nothing is clipped.
 *   loss_i = -(y ln p + (1 - y) ln(1 - p)),  L = sum w_i loss_i / sum w_i
 * backward (per row, before the weight and the mean):
 *   dloss/da = -y sig(-a) + (1 - y) r_a,   r_a = p sig(-a) / (1 - p) = exp(ln p + ln sig(-a) - ln(1-p)),
 * and r_a <= 1 always, so the exponent never overflows. Symmetric in b.
 */
export function bceWithLogitsProduct(
  a: Tensor,
  b: Tensor,
  targets: Tensor | Float32Array | ArrayLike<number>,
  opts: BceOptions = {},
): Tensor {
  if (a.size !== b.size) throw new Error(`bceWithLogitsProduct: logits ${fmt(a.shape)} and ${fmt(b.shape)} differ in size`);
  const y = targetsOf("bceWithLogitsProduct", a, targets);
  const n = a.size;
  const w = checkWeights("bceWithLogitsProduct", n, opts.weights);
  const da = allocF32(n);
  const db = allocF32(n);
  const loss = kernels.bceWithLogitsProduct(da, db, a.data, b.data, y, w, n);
  const out = new Tensor(Float32Array.of(loss), []);
  return record("bceWithLogitsProduct", out, [a, b], (dy) => {
    const s = dy[0]!;
    if (a.needsGrad) kernels.addScaled(a.gradBuffer(), da, s, n);
    if (b.needsGrad) kernels.addScaled(b.gradBuffer(), db, s, n);
  });
}
