/**
 * Matrix products. Backward passes use the gemm kernel's transpose flags, never a materialised
 * transpose, and accumulate straight into the gradient buffers.
 */
import { allocF32, fmt, gemmIntoGrad, kernels, Tensor } from "../../tensor/index.js";
import { record } from "../engine.js";

/**
 * a [M, K] @ b [K, N] -> [M, N].  Cost 2MNK flops forward, twice that backward.
 * backward: da += dy @ b^T,  db += a^T @ dy
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} do not chain (need [M, K] and [K, N])`);
  }
  const M = a.shape[0]!;
  const K = a.shape[1]!;
  const N = b.shape[1]!;
  const y = Tensor.unfilled([M, N]); // gemm writes every element
  kernels.gemm(y.data, a.data, b.data, M, N, K);
  return record("matmul", y, [a, b], (dy) => {
    if (a.needsGrad) gemmIntoGrad(a, dy, b.data, M, K, N, { transB: true });
    if (b.needsGrad) gemmIntoGrad(b, a.data, dy, K, N, M, { transA: true });
  });
}

function checkLinear(op: string, x: Tensor, w: Tensor, b: Tensor | null): void {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[1]) {
    throw new Error(`${op}: input ${fmt(x.shape)} and weight ${fmt(w.shape)} do not match (need x [B, I], w [O, I])`);
  }
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[0])) {
    throw new Error(`${op}: bias ${fmt(b.shape)} does not match weight ${fmt(w.shape)} (need b [O])`);
  }
}

/** Forward of linear: y = x @ w^T (+ b) (then ReLU), written into y; bias and ReLU applied as gemm stores. */
function linearForward(y: Float32Array, x: Tensor, w: Tensor, b: Tensor | null, relu: boolean): void {
  const B = x.shape[0]!;
  const I = x.shape[1]!;
  const O = w.shape[0]!;
  kernels.gemm(y, x.data, w.data, B, O, I, { transB: true, bias: b ? b.data : null, relu });
}

/** Backward of linear given dz = dL/d(x w^T + b). */
function linearBackward(dz: Float32Array, x: Tensor, w: Tensor, b: Tensor | null): void {
  const B = x.shape[0]!;
  const I = x.shape[1]!;
  const O = w.shape[0]!;
  if (x.needsGrad) gemmIntoGrad(x, dz, w.data, B, I, O);
  if (w.needsGrad) kernels.gemm(w.gradBuffer(), dz, x.data, O, I, B, { transA: true, accumulate: true });
  if (b && b.needsGrad) kernels.sumRowsInto(b.gradBuffer(), dz, B, O);
}

/**
 * Affine map as PyTorch's nn.Linear: x [B, I], w [O, I], b [O] -> y = x @ w^T + b  [B, O], and with
 * `relu` its ReLU, fused: bias and ReLU are applied as the product is stored (one pass over y), the
 * pre-activation is never stored, and the ReLU mask is read off y. Cost 2BIO flops forward.
 * backward: dz = dy (with relu: dy * [y > 0]), then dx += dz @ w,  dw += dz^T @ x,  db += sum over rows of dz
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null, relu = false): Tensor {
  const op = relu ? "linearRelu" : "linear";
  checkLinear(op, x, w, b);
  const y = Tensor.unfilled([x.shape[0]!, w.shape[0]!]); // gemm writes every element
  linearForward(y.data, x, w, b, relu);
  const inputs = b ? [x, w, b] : [x, w];
  return record(op, y, inputs, (dy) => {
    if (!relu) return linearBackward(dy, x, w, b);
    const dz = allocF32(y.size);
    kernels.reluBackward(dz, dy, y.data, y.size);
    linearBackward(dz, x, w, b);
  });
}
