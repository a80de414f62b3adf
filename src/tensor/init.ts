/**
 * Weight initialisers, matching PyTorch's defaults so that a model built here starts from the same
 * distribution as its PyTorch twin (the values differ: the generators differ).
 *
 * fanIn / fanOut of a [O, I] weight are I and O.
 */
import type { Rng } from "./rng.js";

/** U(-bound, bound) into `out`. */
export function uniformInit(out: Float32Array, rng: Rng, bound: number): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

/** N(0, std^2) into `out`. */
export function normalInit(out: Float32Array, rng: Rng, std: number): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = rng.normal(0, std);
  return out;
}

/** Xavier/Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform(out: Float32Array, rng: Rng, fanIn: number, fanOut: number, gain = 1): Float32Array {
  return uniformInit(out, rng, gain * Math.sqrt(6 / (fanIn + fanOut)));
}

/** Xavier/Glorot normal: N(0, s^2), s = gain * sqrt(2 / (fanIn + fanOut)). */
export function xavierNormal(out: Float32Array, rng: Rng, fanIn: number, fanOut: number, gain = 1): Float32Array {
  return normalInit(out, rng, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/**
 * Kaiming/He uniform: U(-b, b), b = gain * sqrt(3 / fanIn), gain = sqrt(2 / (1 + a^2)).
 * With a = sqrt(5) this is PyTorch's nn.Linear weight default, i.e. b = 1 / sqrt(fanIn).
 */
export function kaimingUniform(out: Float32Array, rng: Rng, fanIn: number, a = 0): Float32Array {
  const gain = Math.sqrt(2 / (1 + a * a));
  return uniformInit(out, rng, gain * Math.sqrt(3 / fanIn));
}

/** Kaiming/He normal: N(0, s^2), s = sqrt(2 / fanIn) (ReLU gain). */
export function kaimingNormal(out: Float32Array, rng: Rng, fanIn: number): Float32Array {
  return normalInit(out, rng, Math.sqrt(2 / fanIn));
}

/** PyTorch nn.Linear: weight U(-1/sqrt(I), 1/sqrt(I)) (kaiming_uniform with a = sqrt(5)), bias the same bound. */
export function linearDefault(weight: Float32Array, bias: Float32Array | null, rng: Rng, fanIn: number): void {
  kaimingUniform(weight, rng, fanIn, Math.sqrt(5));
  if (bias) uniformInit(bias, rng, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0);
}
