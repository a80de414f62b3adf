/** A small, strict argument parser: `--key value`, `--key=value` and boolean `--flag`. */
import { parseDecimal } from "../data/index.js";
import { nearestName } from "../esmm/validate.js";

export { nearestName };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface OptionSpec {
  /** Takes a value (string), may be given several times (repeat: see `many`), or is a boolean flag. */
  type: "string" | "repeat" | "flag";
  help: string;
}

export type Parsed = Record<string, string | boolean | undefined>;

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): Parsed {
  const out: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"`);
    const eq = a.indexOf("=");
    const key = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const s = spec[key];
    if (!s) {
      const near = nearestName(key, Object.keys(spec));
      throw new UsageError(`unknown option --${key}${near ? ` (did you mean --${near}?)` : ""}`);
    }
    if (s.type === "flag") {
      if (eq >= 0) throw new UsageError(`--${key} takes no value`);
      out[key] = true;
    } else {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || (eq < 0 && v.startsWith("--"))) throw new UsageError(`--${key} needs a value`);
      // a repeated option keeps every value, one per line, in the order given
      out[key] = s.type === "repeat" && typeof out[key] === "string" ? `${out[key]}\n${v}` : v;
    }
  }
  return out;
}

/** Whether an option was given at all: a value, or a flag set (a `--config` file's false is not given). */
export function given(p: Parsed, key: string): boolean {
  return p[key] !== undefined && p[key] !== false;
}

export function str(p: Parsed, key: string, fallback?: string): string | undefined {
  const v = p[key];
  return typeof v === "string" ? v : fallback;
}

export function need(p: Parsed, key: string): string {
  const v = str(p, key);
  if (v === undefined) throw new UsageError(`--${key} is required`);
  return v;
}

/** An output path option (a file or a directory), if given: "-", standard output as predict takes it, is a usage error saying `why` not. */
export function pathOption(p: Parsed, key: string, why: string): string | undefined {
  const v = str(p, key);
  if (v === "-") throw new UsageError(`--${key} -: ${why}, not to standard output; give a path`);
  return v;
}

/** A required output path (see pathOption). */
export function needPath(p: Parsed, key: string, why: string): string {
  pathOption(p, key, why);
  return need(p, key);
}

/** An integer option in [min, max] (by default any exact integer >= min), else a usage error (exit 2). */
export function int(p: Parsed, key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = str(p, key);
  if (v === undefined) return fallback;
  const n = parseDecimal(v); // "1e5" is 100000; "0x10" is no number here, as in a data file
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${key} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`}, got "${v}"`);
  return n;
}

export function num(p: Parsed, key: string, fallback: number, check: (n: number) => boolean = Number.isFinite, what = "a finite number"): number {
  const v = str(p, key);
  if (v === undefined) return fallback;
  const n = parseDecimal(v);
  // always finite: "1e999" parses to Infinity, which passes a check like x > 0
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${key} must be ${what === "a finite number" ? what : `a finite number ${what}`}, got "${v}"`);
  return n;
}

/** Every value of a repeatable option, in order (none: []). */
export function many(p: Parsed, key: string): string[] {
  const v = str(p, key);
  return v === undefined ? [] : v.split("\n");
}

export function list(p: Parsed, key: string): string[] | undefined {
  const v = str(p, key);
  return v === undefined ? undefined : v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

export function helpText(usage: string, spec: Record<string, OptionSpec>): string {
  const names = Object.entries(spec).map(([k, s]) => `  --${k}${s.type === "string" ? " VALUE" : s.type === "repeat" ? " VALUE ..." : ""}`);
  // the descriptions start in one column, two spaces after the longest name
  const width = Math.max(26, ...names.map((n) => n.length + 2));
  const rows = names.map((n, i) => n.padEnd(width) + Object.values(spec)[i]!.help);
  return `${usage}\n\nOptions:\n${[...rows, "  --help".padEnd(width) + "this text"].join("\n")}\n`;
}

/**
 * Options from a JSON config file (`--config FILE`): the same keys as the flags (without "--"),
 * values as strings, numbers, booleans (flags) or arrays (comma lists); the command line overrides
 * the file. An unknown key or a value of the wrong kind is a usage error naming the file and key.
 */
export function withConfigFile(p: Parsed, spec: Record<string, OptionSpec>, path: string, text: string): Parsed {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!j || typeof j !== "object" || Array.isArray(j)) throw new UsageError(`${path}: must hold one JSON object of options`);
  const fromFile: Parsed = {};
  for (const [key, v] of Object.entries(j as Record<string, unknown>)) {
    const s = spec[key];
    if (!s || key === "config") {
      const near = key === "config" ? null : nearestName(key, Object.keys(spec));
      throw new UsageError(`${path}: unknown option "${key}"${near ? ` (did you mean "${near}"?)` : ""}`);
    }
    if (s.type === "flag") {
      if (typeof v !== "boolean") throw new UsageError(`${path}: "${key}" is a flag: true or false`);
      if (v) fromFile[key] = true;
    } else if (typeof v === "string" || typeof v === "number") fromFile[key] = String(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")) fromFile[key] = v.join(",");
    else throw new UsageError(`${path}: "${key}" must be a string, a number or a list`);
  }
  return { ...fromFile, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) };
}
