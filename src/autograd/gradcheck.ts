/**
 * Gradient checking by central differences, for users' own ops and layers as much as for ours.
 *
 * The output y = f(inputs) (any shape) is reduced to a scalar with a fixed random cotangent c:
 * L = <c, y>. A plain sum would hide errors that cancel across outputs (softmax's rows sum to a
 * constant, so the gradient of their plain sum is zero whatever the backward does).
 * Small inputs are checked at every coordinate; large ones along random directions v, comparing
 * <dL/dx, v> with (L(x + eps v) - L(x - eps v)) / 2 eps (as PyTorch's gradcheck fast mode).
 * Arithmetic is float32 on purpose, so the default tolerances are float32's (tinygrad's 1e-3).
 */
import { Rng, Tensor, denseGrad, fmt } from "../tensor/index.js";
import { noGrad } from "./engine.js";
import { mul } from "./ops/elementwise.js";
import { sum } from "./ops/reduce.js";

/** Options of `gradcheck`: the finite-difference step and tolerances (float32 defaults), and how large inputs are checked. */
export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  /** Inputs with more elements than this are checked along random directions. Default 64. */
  maxExhaustive?: number;
  /** How many random directions per large input. Default 4. */
  directions?: number;
}

/** What `gradcheck` found: whether every coordinate or direction was within tolerance, and each one that was not. */
export interface GradcheckResult {
  ok: boolean;
  /** Largest |numeric - analytic| - (atol + rtol |numeric|) seen; <= 0 means within tolerance. */
  worstExcess: number;
  /** Human-readable description of every failing coordinate or direction (empty when ok). */
  failures: string[];
}

/** Checks the gradients the tape computes for `f` against central differences of `f` itself, for every input that requires a gradient (see the top of this file). */
export function gradcheck(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-3;
  const atol = opts.atol ?? 1e-3;
  const rtol = opts.rtol ?? 1e-3;
  const maxExhaustive = opts.maxExhaustive ?? 64;
  const directions = opts.directions ?? 4;
  const rng = new Rng(opts.seed ?? 1234);

  for (const t of inputs) {
    if (!t.requiresGrad) throw new Error(`gradcheck: input ${t.label()} must have requiresGrad`);
    t.zeroGrad();
  }
  const y0 = noGrad(() => f(...inputs));
  const c = new Float32Array(y0.size);
  for (let i = 0; i < c.length; i++) c[i] = rng.uniform(-1, 1);
  const cT = new Tensor(c, y0.shape);

  // Analytic gradients of L = <c, f(x)>.
  const L = sum(mul(f(...inputs), cT));
  L.backward();
  const analytic = inputs.map((t) => denseGrad(t));

  const evalL = (): number => {
    const y = noGrad(() => f(...inputs));
    let s = 0;
    for (let i = 0; i < y.size; i++) s += c[i]! * y.data[i]!;
    return s;
  };

  const failures: string[] = [];
  let worstExcess = -Infinity;
  const compare = (what: string, num: number, ana: number): void => {
    const excess = Math.abs(num - ana) - (atol + rtol * Math.abs(num));
    if (!(excess <= worstExcess)) worstExcess = excess;
    if (!(excess <= 0)) failures.push(`${what}: numeric ${num.toPrecision(6)} vs analytic ${ana.toPrecision(6)}`);
  };

  inputs.forEach((t, k) => {
    const x = t.data;
    const g = analytic[k]!;
    if (t.size <= maxExhaustive) {
      for (let i = 0; i < t.size; i++) {
        const orig = x[i]!;
        x[i] = orig + eps;
        const up = evalL();
        x[i] = orig - eps;
        const down = evalL();
        x[i] = orig;
        // Use the step actually taken in float32, not the nominal eps.
        const h = Math.fround(orig + eps) - Math.fround(orig - eps);
        compare(`input ${k} ${fmt(t.shape)} at ${i}`, (up - down) / h, g[i]!);
      }
    } else {
      for (let r = 0; r < directions; r++) {
        // NOTE: v is not normalised: each coordinate moves about eps, as in the exhaustive check, so the
        // change in L stands well above float32 rounding noise.
        const v = new Float32Array(t.size);
        for (let i = 0; i < v.length; i++) v[i] = rng.normal();
        const orig = x.slice();
        for (let i = 0; i < v.length; i++) x[i] = orig[i]! + eps * v[i]!;
        const up = evalL();
        for (let i = 0; i < v.length; i++) x[i] = orig[i]! - eps * v[i]!;
        const down = evalL();
        x.set(orig);
        let ana = 0;
        for (let i = 0; i < v.length; i++) ana += g[i]! * v[i]!;
        compare(`input ${k} ${fmt(t.shape)} direction ${r}`, (up - down) / (2 * eps), ana);
      }
    }
  });
  for (const t of inputs) t.zeroGrad();
  return { ok: failures.length === 0, worstExcess, failures };
}
