/**
 * Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient back over the
 * broadcast dimensions (a bias of shape [H] added to [B, H] receives the column sums of dy).
 */
import { Tensor, broadcastShapes, broadcastStrides, kernels, sameShape, sizeOf, softplusScalar, tensor, type Shape } from "../../tensor/index.js";
import { record } from "../engine.js";

/**
 * Calls fn(o, ia, ib) for every output index o of `outShape`, with ia / ib the matching flat indices
 * into the two (broadcast) inputs. Counters advance incrementally: no division per element.
 */
function forEachBroadcast(outShape: Shape, sa: Int32Array, sb: Int32Array, fn: (o: number, ia: number, ib: number) => void): void {
  const n = sizeOf(outShape);
  const rank = outShape.length;
  const idx = new Int32Array(rank);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < n; o++) {
    fn(o, ia, ib);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      ia += sa[d]!;
      ib += sb[d]!;
      if (idx[d]! < outShape[d]!) break;
      ia -= sa[d]! * outShape[d]!;
      ib -= sb[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
}

type Binary = "add" | "sub" | "mul" | "div";

function binary(op: Binary, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const y = Tensor.empty(shape);
  const A = a.data;
  const B = b.data;
  const Y = y.data;
  const f = FORWARD[op];
  if (sameShape(a.shape, b.shape)) {
    for (let i = 0; i < Y.length; i++) Y[i] = f(A[i]!, B[i]!);
  } else {
    const sa = broadcastStrides(a.shape, shape);
    const sb = broadcastStrides(b.shape, shape);
    forEachBroadcast(shape, sa, sb, (o, ia, ib) => {
      Y[o] = f(A[ia]!, B[ib]!);
    });
  }
  return record(op, y, [a, b], (dy) => {
    const ga = a.needsGrad ? a.gradBuffer() : null;
    const gb = b.needsGrad ? b.gradBuffer() : null;
    const sa = broadcastStrides(a.shape, shape);
    const sb = broadcastStrides(b.shape, shape);
    // d(a op b)/da and /db, multiplied by dy and accumulated at the (possibly shared) input index.
    forEachBroadcast(shape, sa, sb, (o, ia, ib) => {
      const g = dy[o]!;
      const av = A[ia]!;
      const bv = B[ib]!;
      switch (op) {
        case "add":
          if (ga) ga[ia] = ga[ia]! + g;
          if (gb) gb[ib] = gb[ib]! + g;
          break;
        case "sub":
          if (ga) ga[ia] = ga[ia]! + g;
          if (gb) gb[ib] = gb[ib]! - g;
          break;
        case "mul":
          if (ga) ga[ia] = ga[ia]! + g * bv;
          if (gb) gb[ib] = gb[ib]! + g * av;
          break;
        case "div":
          if (ga) ga[ia] = ga[ia]! + g / bv;
          if (gb) gb[ib] = gb[ib]! - (g * av) / (bv * bv);
          break;
      }
    });
  });
}

const FORWARD: Record<Binary, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
};

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
