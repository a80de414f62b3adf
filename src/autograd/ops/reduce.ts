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
  if (axis === undefined) {
    const n = x.size;
    let s = 0;
    for (let i = 0; i < n; i++) s += x.data[i]!;
    const scale = op === "mean" ? 1 / n : 1;
    const y = new Tensor(Float32Array.of(s * scale), keepDims ? x.shape.map(() => 1) : []);
    return record(op, y, [x], (dy) => {
      const g = x.gradBuffer();
      const d = dy[0]! * scale;
      for (let i = 0; i < n; i++) g[i] = g[i]! + d;
    });
  }
  const { outer, n, inner, axis: ax } = around(x, axis, op);
  const shape = x.shape.slice();
  if (keepDims) shape[ax] = 1;
  else shape.splice(ax, 1);
  const y = Tensor.empty(shape);
  const scale = op === "mean" ? 1 / n : 1;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += x.data[(o * n + k) * inner + i]!;
      y.data[o * inner + i] = s * scale;
    }
  }
  return record(op, y, [x], (dy) => {
    const g = x.gradBuffer();
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const d = dy[o * inner + i]! * scale;
        for (let k = 0; k < n; k++) g[(o * n + k) * inner + i]! += d;
      }
    }
  });
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
