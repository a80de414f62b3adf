/**
 * Shape helpers shared by tensors, ops and kernels' callers.
 *
 * Shapes are plain readonly arrays of non-negative integers, row-major. A scalar has shape [].
 */
export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2,3]` — used in every error message so that shapes read the same everywhere. */
export function fmt(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Whether two shapes are equal. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws unless every entry is a non-negative integer. */
export function checkShape(shape: Shape, where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${where}: invalid shape ${fmt(shape)}`);
  }
}

/**
 * NumPy broadcasting: align shapes on the right; each pair of dims must be equal or one of them 1.
 * Throws an error naming the op and both shapes.
 */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides (in elements) that read an array of `shape` as if it had `outShape`:
 * broadcast dims get stride 0. `shape` must broadcast to `outShape`.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): Int32Array {
  const n = outShape.length;
  const strides = new Int32Array(n);
  let s = 1;
  for (let i = n - 1; i >= 0; i--) {
    const j = shape.length - n + i;
    const d = j >= 0 ? shape[j]! : 1;
    strides[i] = d === 1 ? 0 : s;
    s *= d;
  }
  return strides;
}
