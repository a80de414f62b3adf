/** Ops that only move data: reshape (a view in spirit; here a copy-free rewrap) and concat. */
import { Tensor, fmt, kernels, sizeOf, type Shape } from "../../tensor/index.js";
import { record } from "../engine.js";

/**
 * Same data, new shape (one entry may be -1 and is inferred). Shares the data buffer.
 * backward: dx += dy (same flat layout).
 */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = shape.slice();
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    const known = s.reduce((p, d, i) => (i === infer ? p : p * d), 1);
    s[infer] = known === 0 ? 0 : x.size / known;
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(s) !== x.size) {
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
  }
  const y = new Tensor(x.data, s);
  return record("reshape", y, [x], (dy) => {
    kernels.addScaled(x.gradBuffer(), dy, 1, x.size); // g += dy (1 * dy is dy exactly)
  });
}

/**
 * Concatenates along `axis` (default the last). All other dims must agree.
 * backward: each input receives its slice of dy.
 */
export function concat(xs: readonly Tensor[], axis = -1): Tensor {
  if (xs.length === 0) throw new Error("concat: needs at least one tensor");
  const first = xs[0]!;
  const r = first.rank;
  const ax = axis < 0 ? axis + r : axis;
  if (ax < 0 || ax >= r) throw new Error(`concat: axis ${axis} out of range for ${fmt(first.shape)}`);
  for (const t of xs) {
    const ok = t.rank === r && t.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!ok) throw new Error(`concat: shapes ${fmt(first.shape)} and ${fmt(t.shape)} differ outside axis ${ax}`);
  }
  let outer = 1;
  for (let i = 0; i < ax; i++) outer *= first.shape[i]!;
  // Each input contributes a contiguous chunk of `width` floats per outer index.
  const widths = xs.map((t) => t.size / Math.max(outer, 1));
  const total = widths.reduce((a, b) => a + b, 0);
  const shape = first.shape.slice();
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax]!, 0);
  const y = Tensor.empty(shape);
  // each input is a block of `width` columns of y viewed as [outer, total]: column copies both ways
  let col = 0;
  const cols = widths.map((w) => {
    const c = col;
    col += w;
    return c;
  });
  xs.forEach((t, k) => kernels.copyColumns(y.data, total, cols[k]!, t.data, widths[k]!, 0, widths[k]!, outer, false));
  return record("concat", y, xs, (dy) => {
    xs.forEach((t, k) => {
      if (t.needsGrad) kernels.copyColumns(t.gradBuffer(), widths[k]!, 0, dy, total, cols[k]!, widths[k]!, outer, true);
    });
  });
}

/**
 * The same values with no gradient flowing back (PyTorch's `detach()`): a new leaf over the same
 * buffer, recorded on no tape. What reads it trains nothing upstream of it.
 */
export function detach(x: Tensor): Tensor {
  return new Tensor(x.data, x.shape);
}
