/**
 * The tape: ops record a graph node on their output as they run (when grad mode is on and an input
 * needs a gradient); `backward()` sorts the graph topologically and runs each node's backward closure
 * in reverse order.
 *
 * - The sort is iterative (no recursion limit on deep graphs) and visits inputs in their recorded
 *   order, so the order of accumulation, and hence every gradient bit, is deterministic.
 * - Gradients accumulate: leaves keep theirs across backward calls until `zeroGrad()`.
 * - After backward the graph is released: intermediate tensors drop their node and gradient, so
 *   memory does not grow across training steps.
 */
import type { Tensor } from "../tensor/index.js";
import { installBackwardEngine } from "../tensor/tensor.js";
import type { OpName } from "./ops/names.js";

let gradEnabled = true;

/** True unless inside `noGrad`. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording anything (inference, metric computation, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attaches a graph node to `out` when grad mode is on and some input needs a gradient, and returns
 * `out`, so an op reads top to bottom: compute, then `return record(...)`.
 * The backward closure receives dy = dL/d(out) and must accumulate (+=) into its inputs' gradients,
 * skipping inputs whose `needsGrad` is false.
 */
export function record(op: OpName, out: Tensor, inputs: readonly Tensor[], backward: (dy: Float32Array) => void): Tensor {
  if (!gradEnabled) return out;
  let any = false;
  for (const t of inputs) if (t.needsGrad) any = true;
  if (!any) return out;
  out.node = { op, inputs, backward };
  return out;
}

/** Inputs first, then the tensors that use them; the root comes last. */
export function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<{ t: Tensor; next: number }> = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const inputs = top.t.node ? top.t.node.inputs : [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++]!;
      if (!visited.has(child) && child.needsGrad) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

function runBackward(root: Tensor): void {
  if (root.size !== 1) {
    throw new Error(`backward: needs a scalar (one element), got ${root.label()}; reduce with sum() or mean() first`);
  }
  if (!root.needsGrad) throw new Error(`backward: ${root.label()} does not require grad (no input of its graph has requiresGrad)`);
  const order = topologicalOrder(root);
  root.gradBuffer()[0]! += 1;
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (t.node && t.grad) t.node.backward(t.grad);
  }
  // Release the graph: intermediates forget how they were made and their gradients.
  for (const t of order) {
    if (t.node) {
      t.node = null;
      t.grad = null;
    }
  }
}

installBackwardEngine(runBackward);
