/**
 * Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient back over the
 * broadcast dimensions (a bias of shape [H] added to [B, H] receives the column sums of dy).
 */
import { Tensor, broadcastShapes, broadcastStrides, kernels, sameShape, softplusScalar, tensor, type BinaryOp } from "../../tensor/index.js";
import { record } from "../engine.js";

type Binary = BinaryOp;

function binary(op: Binary, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const y = Tensor.empty(shape);
  const same = sameShape(a.shape, b.shape);
  kernels.binary(op, y.data, a.data, b.data, shape, same ? null : broadcastStrides(a.shape, shape), same ? null : broadcastStrides(b.shape, shape));
  return record(op, y, [a, b], (dy) => {
    kernels.binaryBackward(op, a.needsGrad ? a.gradBuffer() : null, b.needsGrad ? b.gradBuffer() : null, dy, a.data, b.data, shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
  });
}

function asTensor(x: Tensor | number): Tensor {
  return typeof x === "number" ? tensor(x) : x;
}

/** a + b with broadcasting.  backward: da += dy, db += dy (each summed over its broadcast dims). */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("add", asTensor(a), asTensor(b));
}

/** a - b with broadcasting.  backward: da += dy, db -= dy. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("sub", asTensor(a), asTensor(b));
}

/** a * b with broadcasting.  backward: da += dy * b, db += dy * a. `mul(x, x)` gets both terms. */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("mul", asTensor(a), asTensor(b));
}

/** a / b with broadcasting.  backward: da += dy / b, db -= dy * a / b^2. */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("div", asTensor(a), asTensor(b));
}

/**
 * Shared shape of the unary ops: y = f(x) elementwise, dx += dy * f'(x), where f' may be written in
 * terms of x or of the saved output y (whichever is cheaper and stable).
 */
function unary(
  op: "neg" | "exp" | "log" | "logSigmoid" | "softplus",
  x: Tensor,
  f: (v: number) => number,
  df: (xv: number, yv: number) => number,
): Tensor {
  const y = Tensor.empty(x.shape);
  const X = x.data;
  const Y = y.data;
  for (let i = 0; i < X.length; i++) Y[i] = f(X[i]!);
  return record(op, y, [x], (dy) => {
    const gx = x.gradBuffer();
    for (let i = 0; i < gx.length; i++) gx[i] = gx[i]! + dy[i]! * df(X[i]!, Y[i]!);
  });
}

/** -x.  backward: dx -= dy. */
export function neg(x: Tensor): Tensor {
  return unary("neg", x, (v) => -v, () => -1);
}

/** e^x.  backward: dx += dy * y. */
export function exp(x: Tensor): Tensor {
  return unary("exp", x, Math.exp, (_x, y) => y);
}

/** ln x.  backward: dx += dy / x. */
export function log(x: Tensor): Tensor {
  return unary("log", x, Math.log, (xv) => 1 / xv);
}

export { softplusScalar };

/** ln(1 + e^x), stable for any x.  backward: dx += dy * sigmoid(x). */
export function softplus(x: Tensor): Tensor {
  return unary("softplus", x, softplusScalar, (xv) => sigmoidOf(xv));
}

/** ln sigmoid(x) = -softplus(-x), stable for any x (no log of 0).  backward: dx += dy * sigmoid(-x). */
export function logSigmoid(x: Tensor): Tensor {
  return unary("logSigmoid", x, (v) => -softplusScalar(-v), (xv) => sigmoidOf(-xv));
}

function sigmoidOf(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** max(x, 0).  backward: dx += dy * [y > 0]. */
export function relu(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape);
  kernels.relu(y.data, x.data, x.size);
  return record("relu", y, [x], (dy) => kernels.reluBackward(x.gradBuffer(), dy, y.data, x.size));
}

/** 1 / (1 + e^-x), no overflow at any x.  backward: dx += dy * y * (1 - y) (needs only y). */
export function sigmoid(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape);
  kernels.sigmoid(y.data, x.data, x.size);
  return record("sigmoid", y, [x], (dy) => kernels.sigmoidBackward(x.gradBuffer(), dy, y.data, x.size));
}
