/**
 * Checks for values that come from outside (a model.json, a config object): each names the field it
 * checks by its path ("config.experts.count"), so an error says exactly what is wrong and where.
 * Browser-safe; used by the model config here and by the preprocessing in src/data.
 */
export class FieldError extends Error {
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
    this.name = "FieldError";
  }
}

/** The largest finite float32: a value beyond it becomes Infinity when stored. */
export const F32_MAX = 3.4028234663852886e38;

/** How a value from outside reads in an error message: a string quoted (and cut at 40), an array by its length, an object as such. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return String(v);
}

/** v as a plain object, else a `FieldError` naming the field. */
export function expectObject(v: unknown, field: string): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new FieldError(field, `must be an object, got ${show(v)}`);
  return v as Record<string, unknown>;
}

/** v as an array of at most `max` entries, else a `FieldError` naming the field. */
export function expectArray(v: unknown, field: string, maxLength = Number.MAX_SAFE_INTEGER): unknown[] {
  if (!Array.isArray(v)) throw new FieldError(field, `must be an array, got ${show(v)}`);
  if (v.length > maxLength) throw new FieldError(field, `has ${v.length} entries, at most ${maxLength} are allowed`);
  return v;
}

/** v as a string, else a `FieldError` naming the field. */
export function expectString(v: unknown, field: string): string {
  if (typeof v !== "string") throw new FieldError(field, `must be a string, got ${show(v)}`);
  return v;
}

/** v as an integer in [min, max], else a `FieldError` naming the field. */
export function expectInt(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new FieldError(field, `must be an integer in [${min}, ${max}], got ${show(v)}`);
  }
  return v;
}

/** A finite number that float32 can hold (|v| <= F32_MAX), optionally > 0. */
export function expectFloat(v: unknown, field: string, opts: { positive?: boolean; min?: number; max?: number } = {}): number {
  if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > F32_MAX) throw new FieldError(field, `must be a finite float32 number, got ${show(v)}`);
  if (opts.positive && !(v > 0)) throw new FieldError(field, `must be > 0, got ${v}`);
  if (opts.min !== undefined && v < opts.min) throw new FieldError(field, `must be >= ${opts.min}, got ${v}`);
  if (opts.max !== undefined && v > opts.max) throw new FieldError(field, `must be <= ${opts.max}, got ${v}`);
  return v;
}

/** v as one of `allowed`, else a `FieldError` naming the field and the choices. */
export function expectOneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v !== "string" || !allowed.includes(v as T)) throw new FieldError(field, `must be one of ${allowed.join(", ")}, got ${show(v)}`);
  return v as T;
}

/** Edit distance (insertions, deletions, substitutions) between two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known name (an option, a command) nearest an unknown one, within two edits ("epoch" gives "epochs"), else null. */
export function nearestName(key: string, names: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const k of names) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}
