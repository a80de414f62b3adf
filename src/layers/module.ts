/**
 * Module: a thing with named parameters. Every module lists its parameters explicitly in
 * `namedParameters()` (no attribute magic), with PyTorch-like dotted names that checkpoints and other
 * engines rely on.
 */
import type { Tensor } from "../tensor/index.js";

/** Parameters under their dotted names (`towers.ctr.0.weight`), in a fixed order. */
export type NamedParameters = Array<[name: string, parameter: Tensor]>;

/** A layer: what owns parameters, lists them under stable names (`namedParameters`) and moves them as one state (`stateDict`, `loadStateDict`). */
export abstract class Module {
  /** Parameters with stable dotted names, in a fixed order. */
  abstract namedParameters(): NamedParameters;

  /** The parameters, in `namedParameters` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.size;
    return n;
  }

  /** A copy of every parameter's values, by name (for early stopping and checkpoints). */
  stateDict(): Map<string, Float32Array> {
    return new Map(this.namedParameters().map(([n, p]) => [n, p.data.slice()]));
  }

  /** Copies values in by name; every parameter must be present with the right size, and nothing else. */
  loadStateDict(state: ReadonlyMap<string, Float32Array>): void {
    const params = this.namedParameters();
    const known = new Set(params.map(([n]) => n));
    for (const name of state.keys()) if (!known.has(name)) throw new Error(`loadStateDict: unexpected parameter "${name}"`);
    for (const [name, p] of params) {
      const v = state.get(name);
      if (!v) throw new Error(`loadStateDict: missing parameter "${name}"`);
      if (v.length !== p.size) throw new Error(`loadStateDict: "${name}" has ${v.length} values, expected ${p.size} for shape [${p.shape.join(", ")}]`);
      p.data.set(v);
    }
  }
}

/** Prefixes a child's parameter names: ("towers.ctr", [["0.weight", w]]) -> [["towers.ctr.0.weight", w]]. */
export function prefixed(prefix: string, params: NamedParameters): NamedParameters {
  return params.map(([n, p]) => [`${prefix}.${n}`, p]);
}
