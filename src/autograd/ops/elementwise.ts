/**
 * Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient back over the
 * broadcast dimensions (a bias of shape [H] added to [B, H] receives the column sums of dy).
 */
import { Tensor, broadcastShapes, broadcastStrides, kernels, sameShape, softplusScalar, tensor, type BinaryOp, type UnaryOp } from "../../tensor/index.js";
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

/** The unary ops' shared shape: y = f(x) through the kernel, dx += dy * f'(x) (f' from x or the saved y). */
function unary(op: UnaryOp, x: Tensor): Tensor {
  const y = Tensor.empty(x.shape);
  kernels.unary(op, y.data, x.data, x.size);
  return record(op, y, [x], (dy) => kernels.unaryBackward(op, x.gradBuffer(), dy, x.data, y.data, x.size));
}

/** -x.  backward: dx -= dy. */
export function neg(x: Tensor): Tensor {
  return unary("neg", x);
}

/** e^x.  backward: dx += dy * y. */
export function exp(x: Tensor): Tensor {
  return unary("exp", x);
}

/** ln x.  backward: dx += dy / x. */
export function log(x: Tensor): Tensor {
  return unary("log", x);
}

export { softplusScalar };

/** ln(1 + e^x), stable for any x.  backward: dx += dy * sigmoid(x). */
export function softplus(x: Tensor): Tensor {
  return unary("softplus", x);
}

/** ln sigmoid(x) = -softplus(-x), stable for any x (no log of 0).  backward: dx += dy * sigmoid(-x). */
export function logSigmoid(x: Tensor): Tensor {
  return unary("logSigmoid", x);
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
