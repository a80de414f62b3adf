/**
 * CSV rows -> RawRow, line by line (the Node readers stream a file through this; a browser can feed it
 * lines from a fetch). A header row names the columns; every error names the file, line and column.
 */
import { F32_MAX, FieldError, expectArray, expectObject, expectString } from "../esmm/index.js";
import { nearestName } from "../esmm/validate.js";
import { DataError, multiColumnFromJSON, parseDecimal, type MultiColumn, type RawRow, type Schema } from "./schema.js";

/** How a CSV file's columns are read: the label columns, which columns are categorical, multi-valued (a bag of ids) or dense, which to ignore, the user column for GAUC, the delimiter, and columns to keep for output. */
export interface CsvOptions {
  delimiter?: string;
  click?: string;
  conversion?: string;
  /** Single-valued categorical columns; default: every column not used otherwise. */
  categorical?: string[];
  multi?: MultiColumn[];
  dense?: string[];
  ignore?: string[];
  /** User key column for GAUC; default `user_id` when present. null for none. */
  user?: string | null;
  /** Scoring input: label columns are optional and ignored (click = conversion = 0). */
  noLabels?: boolean;
  /** Columns whose raw cells each row carries along untouched (`RawRow.kept`), e.g. keys to join scores back on. */
  keep?: string[];
}

/** The keys a schema file (a `<data>.schema.json` sidecar, `--schema`) may hold; `simulated` is esmm generate's record of its world. */
const SCHEMA_KEYS: readonly string[] = ["delimiter", "click", "conversion", "categorical", "dense", "ignore", "keep", "multi", "user", "noLabels", "simulated"];

/**
 * CSV options from JSON (a `<file>.schema.json` sidecar), each key checked by type; errors name the
 * key under `at` ("train.csv.schema.json: categorical: must be an array, got 5"). Unknown keys are
 * left out, so a sidecar written by a later version still reads.
 */
export function csvOptionsFromJSON(j: unknown, at: string): CsvOptions {
  const o = expectObject(j, at);
  // a key it does not know is left out (a later version's), unless it is a slip of a known one
  for (const k of Object.keys(o)) {
    if (SCHEMA_KEYS.includes(k)) continue;
    const near = nearestName(k, SCHEMA_KEYS);
    if (near) throw new FieldError(`${at}: ${k}`, `is not a schema key (did you mean "${near}"?)`);
  }
  const names = (k: string): string[] => expectArray(o[k], `${at}: ${k}`).map((x, i) => expectString(x, `${at}: ${k}[${i}]`));
  const out: CsvOptions = {};
  if (o.delimiter !== undefined) {
    out.delimiter = expectString(o.delimiter, `${at}: delimiter`);
    if (out.delimiter === "") throw new FieldError(`${at}: delimiter`, "must not be empty");
  }
  if (o.click !== undefined) out.click = expectString(o.click, `${at}: click`);
  if (o.conversion !== undefined) out.conversion = expectString(o.conversion, `${at}: conversion`);
  for (const k of ["categorical", "dense", "ignore", "keep"] as const) if (o[k] !== undefined) out[k] = names(k);
  if (o.multi !== undefined) out.multi = expectArray(o.multi, `${at}: multi`).map((m, i) => multiColumnFromJSON(m, `${at}: multi[${i}]`));
  if (o.user !== undefined) out.user = o.user === null ? null : expectString(o.user, `${at}: user`);
  if (o.noLabels !== undefined) {
    if (typeof o.noLabels !== "boolean") throw new FieldError(`${at}: noLabels`, `must be true or false, got ${JSON.stringify(o.noLabels)}`);
    out.noLabels = o.noLabels;
  }
  return out;
}

/** Why a header may lack a column it seems to have: another delimiter, or spaces around the names. */
function headerHint(header: readonly string[], name: string, delim: string): string {
  if (header.length === 1) {
    const other = [";", "\t", "|", ",", " "].find((d) => d !== delim && header[0]!.includes(d));
    if (other) return `; the header is one column: if the file is separated by ${other === "\t" ? "tabs, pass --delimiter tab" : `"${other}", pass --delimiter '${other}'`}`;
  }
  const spaced = header.find((h) => h !== name && h.trim() === name);
  if (spaced !== undefined) return `; the header has ${JSON.stringify(spaced)}: column names are matched exactly, spaces included`;
  return "";
}

/** Splits one CSV line; double quotes may wrap a cell and "" inside one is a literal quote. */
export function splitCsvLine(line: string, delim: string): string[] | null {
  if (line.indexOf('"') < 0) return line.split(delim);
  const out: string[] = [];
  let cur = "";
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else cur += ch;
      i++;
    } else if (ch === '"' && cur === "") {
      quoted = true;
      i++;
    } else if (line.startsWith(delim, i)) {
      out.push(cur);
      cur = "";
      i += delim.length;
    } else {
      cur += ch;
      i++;
    }
  }
  if (quoted) return null; // unterminated quote
  out.push(cur);
  return out;
}

const TRUE_PCTR = "true_pctr";
const TRUE_PCVR = "true_pcvr";

/** Resolves what each column means from a header and options, then parses lines. */
export class CsvRowParser {
  readonly schema: Schema;
  readonly header: string[];
  private readonly delim: string;
  private readonly col: {
    click: number;
    conversion: number;
    singles: number[];
    multis: number[];
    dense: number[];
    user: number;
    tp: number;
    tv: number;
    keep: number[];
  };

  constructor(headerLine: string, opts: CsvOptions, readonly file: string) {
    this.delim = opts.delimiter ?? ",";
    const header = splitCsvLine(headerLine.replace(/^\uFEFF/, "").replace(/\r$/, ""), this.delim);
    if (!header || header.length === 0 || (header.length === 1 && header[0] === "")) throw new DataError(file, 1, null, "empty header");
    this.header = header;
    const where = new Map<string, number>();
    header.forEach((h, i) => {
      if (where.has(h)) throw new DataError(file, 1, h, "column name appears twice in the header");
      where.set(h, i);
    });
    const need = (name: string, what: string): number => {
      const i = where.get(name);
      if (i === undefined) throw new DataError(file, 1, name, `missing ${what} column (header has: ${header.join(", ")})${headerHint(header, name, this.delim)}`);
      return i;
    };
    const click = opts.click ?? "click";
    const conversion = opts.conversion ?? "conversion";
    const multi = opts.multi ?? [];
    const dense = opts.dense ?? [];
    const ignore = new Set(opts.ignore ?? []);
    const used = new Set([click, conversion, TRUE_PCTR, TRUE_PCVR, ...multi.map((m) => m.name), ...dense, ...ignore]);
    const categorical = opts.categorical ?? header.filter((h) => !used.has(h));
    // labels and ground truth are never features: a label as a feature would hand the model the answer
    // (training looks perfect, and scoring has no such column). A column is one embedding field at most
    // (categorical or multi-valued); it may also be dense (a number read both ways is a known device).
    const fields = new Map<string, string>();
    const claim = (c: string, role: string): void => {
      if (c === click || c === conversion) throw new DataError(file, 1, c, `the ${c === click ? "click" : "conversion"} label cannot be a ${role} feature (it would give the model the answer)`);
      if (c === TRUE_PCTR || c === TRUE_PCVR) throw new DataError(file, 1, c, "ground-truth columns are never features");
      if (ignore.has(c)) throw new DataError(file, 1, c, `is both ignored and a ${role} feature`);
      if (role === "dense") return;
      const had = fields.get(c);
      if (had) throw new DataError(file, 1, c, `is both a ${had} and a ${role} feature`);
      fields.set(c, role);
    };
    for (const c of categorical) claim(c, "categorical");
    for (const m of multi) claim(m.name, "multi-valued");
    for (const d of dense) claim(d, "dense");
    const user = opts.user === undefined ? (where.has("user_id") ? "user_id" : null) : opts.user;
    this.schema = {
      click,
      conversion,
      categorical,
      multi,
      dense,
      user,
      truePctr: where.has(TRUE_PCTR) ? TRUE_PCTR : null,
      truePcvr: where.has(TRUE_PCVR) ? TRUE_PCVR : null,
    };
    const noLabels = opts.noLabels === true;
    this.col = {
      click: noLabels ? -1 : need(click, "click label"),
      conversion: noLabels ? -1 : need(conversion, "conversion label"),
      singles: categorical.map((c) => need(c, "categorical")),
      multis: multi.map((m) => need(m.name, "multi-valued")),
      dense: dense.map((d) => need(d, "dense")),
      user: user ? need(user, "user") : -1,
      tp: where.get(TRUE_PCTR) ?? -1,
      tv: where.get(TRUE_PCVR) ?? -1,
      keep: (opts.keep ?? []).map((k) => need(k, "kept")),
    };
  }

  /** One data line as a raw row; throws a `DataError` naming the file, the line and the column. */
  parse(lineIn: string, lineNo: number): RawRow {
    const line = lineIn.endsWith("\r") ? lineIn.slice(0, -1) : lineIn;
    const cells = splitCsvLine(line, this.delim);
    const err = (column: string | null, reason: string): DataError => new DataError(this.file, lineNo, column, reason);
    if (!cells) throw err(null, "unterminated quoted cell (a quoted cell must end on its line: cells spanning lines are not read)");
    if (cells.length !== this.header.length) throw err(null, `${cells.length} columns, the header has ${this.header.length}`);
    const c = this.col;
    const label = (i: number): number => {
      if (i < 0) return 0;
      const v = cells[i]!.trim();
      if (v !== "0" && v !== "1") throw err(this.header[i]!, `label "${v}" is not 0 or 1`);
      return v === "1" ? 1 : 0;
    };
    const click = label(c.click);
    const conversion = label(c.conversion);
    if (conversion === 1 && click === 0) throw err(this.schema.conversion, "a conversion without a click is a data error");
    const num = (i: number): number => {
      const s = cells[i]!.trim();
      const v = parseDecimal(s);
      if (!Number.isFinite(v)) throw err(this.header[i]!, `"${s}" is not a finite number`);
      if (Math.abs(v) > F32_MAX) throw err(this.header[i]!, `${s} is beyond float32's range (|x| <= ${F32_MAX.toExponential(4)})`);
      return v;
    };
    const prob = (i: number): number | null => {
      if (i < 0) return null;
      const v = num(i);
      if (v < 0 || v > 1) throw err(this.header[i]!, `probability ${v} is outside [0, 1]`);
      return v;
    };
    const multis = c.multis.map((i, k) => parseBag(cells[i]!, this.schema.multi[k]!, (reason) => err(this.schema.multi[k]!.name, reason)));
    return {
      singles: c.singles.map((i) => cells[i]!),
      multis,
      dense: c.dense.map(num),
      click,
      conversion,
      user: c.user >= 0 ? cells[c.user]! : null,
      truePctr: prob(c.tp),
      truePcvr: prob(c.tv),
      ...(c.keep.length ? { kept: c.keep.map((i) => cells[i]!) } : {}),
    };
  }
}

/**
 * One multi-valued cell, "a|b:2|c" (the column's separator; an optional ":weight" per id, default 1)
 * -> its tokens and weights (null when no id has a weight). `fail` builds the error for a bad weight.
 */
export function parseBag(cellIn: string, m: MultiColumn, fail: (reason: string) => Error): { tokens: string[]; weights: number[] | null } {
  const cell = cellIn.trim();
  if (cell === "") return { tokens: [], weights: null };
  const tokens: string[] = [];
  let weights: number[] | null = null;
  cell.split(m.sep ?? "|").forEach((p, j) => {
    const colon = p.lastIndexOf(":");
    if (colon >= 0) {
      const w = parseDecimal(p.slice(colon + 1));
      if (!Number.isFinite(w) || Math.abs(w) > F32_MAX) throw fail(`weight "${p.slice(colon + 1)}" of "${p}" is not a finite number`);
      if (!weights) weights = new Array<number>(j).fill(1);
      weights.push(w);
      tokens.push(p.slice(0, colon));
    } else {
      if (weights) weights.push(1);
      tokens.push(p);
    }
  });
  return { tokens, weights };
}

/** Writes a CSV cell, quoting when it holds the delimiter, a quote or a line break. */
export function csvCell(s: string, delim = ","): string {
  return s.includes(delim) || s.includes('"') || s.includes("\n") || s.includes("\r") ? `"${s.replace(/"/g, '""')}"` : s;
}
