/** Reductions (sum, mean) and the row softmax. */
import { Tensor, fmt, kernels } from "../../tensor/index.js";
import { record } from "../engine.js";

/** Splits a shape around `axis` into [outer, n, inner] so one loop handles every rank. */
function around(x: Tensor, axis: number, op: string): { outer: number; n: number; inner: number; axis: number } {
  const r = x.rank;
  const ax = axis < 0 ? axis + r : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= r) throw new Error(`${op}: axis ${axis} out of range for ${fmt(x.shape)}`);
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < ax; i++) outer *= x.shape[i]!;
  for (let i = ax + 1; i < r; i++) inner *= x.shape[i]!;
  return { outer, n: x.shape[ax]!, inner, axis: ax };
}

function reduce(op: "sum" | "mean", x: Tensor, axis: number | undefined, keepDims: boolean): Tensor {
  // the whole tensor is one [1, size, 1] reduction; an axis, [outer, n, inner]
  const { outer, n, inner, axis: ax } = axis === undefined ? { outer: 1, n: x.size, inner: 1, axis: -1 } : around(x, axis, op);
  const shape = axis === undefined ? (keepDims ? x.shape.map(() => 1) : []) : x.shape.slice();
  if (axis !== undefined) {
    if (keepDims) shape[ax] = 1;
    else shape.splice(ax, 1);
  }
  const y = Tensor.empty(shape);
  const scale = op === "mean" ? 1 / n : 1;
  kernels.sumAxis(y.data, x.data, outer, n, inner, scale);
  return record(op, y, [x], (dy) => kernels.sumAxisBackward(x.gradBuffer(), dy, outer, n, inner, scale));
}

/** Sum of all elements (axis undefined) or along one axis.  backward: dx += dy broadcast back. */
export function sum(x: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce("sum", x, axis, keepDims);
}

/** Mean of all elements or along one axis.  backward: dx += dy / n broadcast back. */
export function mean(x: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce("mean", x, axis, keepDims);
}

/**
 * Softmax over the last axis, one row at a time, max-subtracted (a logit gap of 1000 is fine).
 * y = e^(x - max) / sum e^(x - max)
 * backward: dx += y * (dy - <dy, y>)   (per row)
 */
export function softmax(x: Tensor): Tensor {
  if (x.rank === 0) throw new Error("softmax: needs at least one axis, got a scalar");
  const cols = x.shape[x.rank - 1]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const y = Tensor.empty(x.shape);
  kernels.softmaxRows(y.data, x.data, rows, cols);
  return record("softmax", y, [x], (dy) => kernels.softmaxRowsBackward(x.gradBuffer(), dy, y.data, rows, cols));
}
