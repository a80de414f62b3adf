/**
 * From raw tokens to model ids: which columns mean what (the schema), and the fitted mappings
 * (vocabularies or the hashing trick, dense statistics) that are saved with a model so that scoring
 * uses exactly the mapping training used. Browser-safe: no files here.
 */
import { TokenIndex } from "./tokens.js";
import { FieldError, expectArray, expectFloat, expectInt, expectObject, expectOneOf, expectString, type FieldSpec, type LabeledBatch } from "../esmm/index.js";

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A number written in decimal notation ("3", "-0.5", ".5", "1e-3"; spaces around it allowed), else
 * NaN. JavaScript's Number() would also read "0x10" as 16, "0b11" as 3 and "Infinity", which no
 * data file means; an empty cell is NaN too, not 0. Values beyond float range come back infinite.
 */
export function parseDecimal(text: string): number {
  const t = text.trim();
  return DECIMAL.test(t) ? Number(t) : Number.NaN;
}

/** A data error that knows where it happened. The CLI prints it and exits 1. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: string | null,
    readonly reason: string,
  ) {
    // line 0: about the file as a whole (missing, unreadable, empty), so no line is named
    super(`${file}${line > 0 ? `:${line}` : ""}${column ? `: column "${column}"` : ""}: ${reason}`);
    this.name = "DataError";
  }
}

/** A multi-valued column: its name, the separator between its ids, and how its bag is pooled. */
export interface MultiColumn {
  name: string;
  /** Separator between ids in a cell (default "|"); each id may carry a weight as `id:weight`. */
  sep?: string;
  pooling?: "sum" | "mean";
}

/** A multi-valued column from JSON (a saved schema, a `.schema.json` sidecar), each field checked; errors name `at`. */
export function multiColumnFromJSON(v: unknown, at: string): MultiColumn {
  const m = expectObject(v, at);
  const out: MultiColumn = { name: expectString(m.name, `${at}.name`) };
  if (m.sep !== undefined) {
    out.sep = expectString(m.sep, `${at}.sep`);
    if (out.sep === "") throw new FieldError(`${at}.sep`, "must not be empty");
  }
  if (m.pooling !== undefined) out.pooling = expectOneOf(m.pooling, `${at}.pooling`, ["sum", "mean"] as const);
  return out;
}

/** What each column of a file means. */
export interface Schema {
  click: string;
  conversion: string;
  /** Single-valued categorical columns, in model field order. */
  categorical: string[];
  multi: MultiColumn[];
  dense: string[];
  /** Optional column holding a user key for GAUC (it may also be a feature). */
  user: string | null;
  /** Ground-truth columns written by the simulator; never features. */
  truePctr: string | null;
  truePcvr: string | null;
}

/** One row as tokens, before ids are assigned. */
export interface RawRow {
  singles: string[];
  multis: Array<{ tokens: string[]; weights: number[] | null }>;
  dense: number[];
  click: number;
  conversion: number;
  user: string | null;
  truePctr: number | null;
  truePcvr: number | null;
  /** The raw cells of the columns asked for with CsvOptions.keep, in that order. */
  kept?: string[];
}

/** Either an explicit vocabulary (id 0 = out of vocabulary) or hashing into `buckets` ids (plus 0). */
export type Mapping = { kind: "vocab"; tokens: string[] } | { kind: "hash"; buckets: number };

/** 32-bit FNV-1a over UTF-16 code units: stable across engines, cheap. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Token -> id for one field. */
export class FieldMap {
  /** A vocabulary's tokens in order (token k is id k + 1); null when hashing. */
  private readonly index: TokenIndex | null;
  constructor(readonly mapping: Mapping) {
    if (mapping.kind !== "vocab") {
      this.index = null;
      return;
    }
    this.index = new TokenIndex({ ownStrings: true });
    mapping.tokens.forEach((t, k) => {
      if (this.index!.add(t) !== k) throw new Error(`the vocabulary holds the token ${JSON.stringify(t)} twice`);
    });
  }

  /** Rows of the embedding table: known tokens (or buckets) plus the out-of-vocabulary row 0. */
  get size(): number {
    return this.mapping.kind === "vocab" ? this.mapping.tokens.length + 1 : this.mapping.buckets + 1;
  }

  /** The id of a token: its vocabulary entry, its hash bucket, or the out-of-vocabulary row. */
  id(token: string): number {
    if (this.index) return this.index.get(token) + 1; // -1 (unseen) + 1 is the out-of-vocabulary row 0
    return 1 + (fnv1a(token) % (this.mapping as { buckets: number }).buckets);
  }
}

/**
 * One field's tokens as they are first seen: each gets the next provisional id (0, 1, 2, ...) and a
 * count. One lookup a token, and the ids let a single pass over a file both count the tokens and
 * keep its rows (`BatchBuilder.remap` turns the provisional ids into the vocabulary's afterwards).
 */
class TokenCounter {
  private readonly index = new TokenIndex({ keepTokens: true });
  /** Per provisional id, its token and how often it was seen. */
  readonly tokens: readonly string[] = this.index.tokens!;
  readonly counts: number[] = [];

  /** Counts the token and returns its provisional id. */
  id(token: string): number {
    const i = this.index.add(token);
    if (i === this.counts.length) this.counts.push(1);
    else this.counts[i]!++;
    return i;
  }
}

/**
 * Counts tokens per field while streaming a training file, then keeps those seen >= minCount.
 * Two ways to feed it: `add(row)` counts a row; or a `BatchBuilder` built on this builder keeps each
 * row with provisional ids (its lookups are the counting) and `observe(row)` adds the rest of the row
 * (its dense values), which is how `fitAndLoad` reads a training file once instead of twice.
 */
export class VocabBuilder {
  /** Per field, token -> provisional id, counting as it goes: what a BatchBuilder on this builder looks tokens up in. */
  readonly maps: ReadonlyArray<TokenIds>;
  private readonly counters: TokenCounter[];
  private readonly denseSum: Float64Array;
  private readonly denseSq: Float64Array;
  /** Each dense column's least and greatest value as the model stores it (float32), to tell a constant column. */
  private readonly denseMin: Float64Array;
  private readonly denseMax: Float64Array;
  rows = 0;

  constructor(readonly schema: Schema) {
    this.counters = [...schema.categorical, ...schema.multi.map((m) => m.name)].map(() => new TokenCounter());
    this.maps = this.counters;
    this.denseSum = new Float64Array(schema.dense.length);
    this.denseSq = new Float64Array(schema.dense.length);
    this.denseMin = new Float64Array(schema.dense.length).fill(Infinity);
    this.denseMax = new Float64Array(schema.dense.length).fill(-Infinity);
  }

  /** Counts the tokens of one raw row, per field (and the row), for the vocabularies. */
  add(r: RawRow): void {
    const c = this.counters;
    const F = r.singles.length;
    for (let i = 0; i < F; i++) c[i]!.id(r.singles[i]!);
    r.multis.forEach((m, i) => {
      for (const t of m.tokens) c[F + i]!.id(t);
    });
    this.observe(r);
  }

  /** Counts the row and its dense values; its tokens are counted where they are looked up (`add`, or a BatchBuilder on this builder). */
  observe(r: RawRow): void {
    this.rows++;
    r.dense.forEach((v, j) => {
      this.denseSum[j]! += v;
      this.denseSq[j]! += v * v;
      const f = Math.fround(v);
      if (f < this.denseMin[j]!) this.denseMin[j] = f;
      if (f > this.denseMax[j]!) this.denseMax[j] = f;
    });
  }

  /**
   * Single-valued categorical columns that look like numbers read the wrong way: at least
   * `minDistinct` distinct values, nearly all (95%) of them numbers and some not integers (integer
   * ids are categorical on purpose; prices, ratings, durations are not). Each is one id per value.
   */
  numericLooking(minDistinct = 100): Array<{ column: string; distinct: number; examples: string[] }> {
    const out: Array<{ column: string; distinct: number; examples: string[] }> = [];
    this.schema.categorical.forEach((column, i) => {
      const tokens = this.counters[i]!.tokens;
      if (tokens.length < minDistinct) return;
      let numbers = 0;
      let fractional = 0;
      for (const t of tokens) {
        const v = parseDecimal(t);
        if (Number.isFinite(v)) {
          numbers++;
          if (!Number.isInteger(v)) fractional++;
        }
      }
      if (numbers >= 0.95 * tokens.length && fractional > 0) out.push({ column, distinct: tokens.length, examples: tokens.slice(0, 3) });
    });
    return out;
  }

  /** Fitted preprocessing. With `hashBuckets` every field hashes instead of keeping a vocabulary. */
  finish(opts: { minCount?: number; hashBuckets?: number } = {}): Preprocessor {
    const minCount = opts.minCount ?? 1;
    const maps: Mapping[] = this.counters.map(({ tokens, counts }) => {
      if (opts.hashBuckets) return { kind: "hash", buckets: opts.hashBuckets };
      // Sorted by count (desc) then token (UTF-16 code units, as `<` and sort() compare strings), so the
      // same data always gives the same ids. Grouped by count first: most tokens of a large field share
      // a small count, and sorting plain strings in each group is faster than sorting pairs.
      const byCount = new Map<number, string[]>();
      tokens.forEach((t, i) => {
        const n = counts[i]!;
        if (n < minCount) return;
        const group = byCount.get(n);
        if (group) group.push(t);
        else byCount.set(n, [t]);
      });
      const order = [...byCount.keys()].sort((a, b) => b - a);
      return { kind: "vocab", tokens: order.flatMap((n) => byCount.get(n)!.sort()) };
    });
    const n = Math.max(this.rows, 1);
    const mean = Array.from(this.denseSum, (s) => s / n);
    // A column that is one value (as float32 holds it) is not scaled: sum v^2 / n - mean^2 then leaves
    // rounding noise, not 0 (a constant 0.4734 over 100 rows gave a std of 1.7e-8), and dividing by that
    // noise made inputs of millions from any other value the column takes in other data.
    const std = Array.from(this.denseSq, (s, j) => (this.denseMin[j] === this.denseMax[j] ? 1 : Math.sqrt(Math.max(s / n - mean[j]! ** 2, 0)) || 1));
    return new Preprocessor(this.schema, maps, mean, std);
  }

  /** Per field, provisional id -> the id `pre` (this builder's `finish`) gives the token: what `BatchBuilder.remap` takes. */
  idTables(pre: Preprocessor): Int32Array[] {
    return this.counters.map(({ tokens }, f) => {
      const map = pre.maps[f]!;
      return Int32Array.from(tokens, (t) => map.id(t));
    });
  }
}

/** The saved, fitted mapping from raw rows to model inputs. */
export class Preprocessor {
  readonly maps: FieldMap[];
  constructor(
    readonly schema: Schema,
    readonly mappings: Mapping[],
    readonly denseMean: number[],
    readonly denseStd: number[],
  ) {
    this.maps = mappings.map((m, i) => {
      try {
        return new FieldMap(m);
      } catch (e) {
        throw new FieldError(`preprocessor.mappings[${i}].tokens`, (e as Error).message);
      }
    });
  }

  /** The model's fields: single-valued columns first, then multi-valued, with their table sizes. */
  fieldSpecs(): FieldSpec[] {
    const s = this.schema;
    return [
      ...s.categorical.map((name, i) => ({ name: safeName(name), vocab: this.maps[i]!.size, kind: "single" as const })),
      ...s.multi.map((m, i) => ({
        name: safeName(m.name),
        vocab: this.maps[s.categorical.length + i]!.size,
        kind: "multi" as const,
        pooling: m.pooling ?? ("mean" as const),
      })),
    ];
  }

  /** The preprocessing as JSON, each vocabulary an array of tokens (`Preprocessor.fromJSON` reads it back, checking every field). */
  toJSON(): object {
    return { schema: this.schema, mappings: this.mappings, denseMean: this.denseMean, denseStd: this.denseStd };
  }

  /**
   * The preprocessing as a checkpoint's model.json stores it (since format 4): each vocabulary's tokens in
   * one string, one per line (`tokenLines`), instead of an array of strings. JSON.parse takes one long
   * string far faster than millions of short ones (a vocabulary of 4.9M tokens: 0.4 s against 1.3 s,
   * in a file of 38 MB against 97 MB written indented), and one string is what a browser fetches
   * and parses. A vocabulary with a token holding a line feed, or with no tokens, stays an array.
   */
  toCheckpointJSON(): object {
    const mappings = this.mappings.map((m) => (m.kind === "vocab" && m.tokens.length > 0 && !m.tokens.some((t) => t.includes("\n")) ? { kind: "vocab", tokenLines: m.tokens.join("\n") } : m));
    return { ...this.toJSON(), mappings };
  }

  /**
   * Rebuilds a saved preprocessor, checking every field of the JSON by type and range (errors name
   * it: "preprocessor.mappings[3].tokens[17]: ..."). With `fields` (the model config's), each
   * mapping's size and name must match its embedding table, checked BEFORE any lookup table is
   * built, so a crafted vocabulary of millions of tokens fails fast instead of filling memory.
   */
  static fromJSON(j: unknown, fields?: readonly FieldSpec[]): Preprocessor {
    const o = expectObject(j, "preprocessor");
    const sc = expectObject(o.schema, "preprocessor.schema");
    const strs = (v: unknown, at: string): string[] => expectArray(v, at).map((x, i) => expectString(x, `${at}[${i}]`));
    const strOrNull = (v: unknown, at: string): string | null => (v === null || v === undefined ? null : expectString(v, at));
    const schema: Schema = {
      click: expectString(sc.click, "preprocessor.schema.click"),
      conversion: expectString(sc.conversion, "preprocessor.schema.conversion"),
      categorical: strs(sc.categorical, "preprocessor.schema.categorical"),
      multi: expectArray(sc.multi, "preprocessor.schema.multi").map((m, i) => multiColumnFromJSON(m, `preprocessor.schema.multi[${i}]`)),
      dense: strs(sc.dense, "preprocessor.schema.dense"),
      user: strOrNull(sc.user, "preprocessor.schema.user"),
      truePctr: strOrNull(sc.truePctr, "preprocessor.schema.truePctr"),
      truePcvr: strOrNull(sc.truePcvr, "preprocessor.schema.truePcvr"),
    };
    const nFields = schema.categorical.length + schema.multi.length;
    const maps = expectArray(o.mappings, "preprocessor.mappings");
    if (maps.length !== nFields) throw new FieldError("preprocessor.mappings", `has ${maps.length} mappings for ${nFields} fields`);
    if (fields && fields.length !== nFields) throw new FieldError("preprocessor.mappings", `${nFields} fields, the model config has ${fields.length}`);
    const names = [...schema.categorical, ...schema.multi.map((m) => m.name)];
    const mappings: Mapping[] = maps.map((mIn, i) => {
      const at = `preprocessor.mappings[${i}]`;
      const m = expectObject(mIn, at);
      const kind = expectOneOf(m.kind, `${at}.kind`, ["vocab", "hash"] as const);
      // a vocabulary is an array of tokens, or (toCheckpointJSON) one string of them, one per line
      const lines = kind === "vocab" && m.tokens === undefined ? expectString(m.tokenLines, `${at}.tokenLines`) : null;
      const size = kind === "hash" ? expectInt(m.buckets, `${at}.buckets`, 1, 2 ** 31 - 2) + 1 : lines !== null ? lineCount(lines) + 1 : expectArray(m.tokens, `${at}.tokens`).length + 1;
      const f = fields?.[i];
      if (f && (f.vocab !== size || f.name !== safeName(names[i]!))) {
        throw new FieldError(at, `maps column "${names[i]}" to ${size} ids, the model's field ${i} is "${f.name}" with ${f.vocab} rows`);
      }
      if (kind === "hash") return { kind, buckets: size - 1 };
      if (lines !== null) return { kind, tokens: lines.split("\n") };
      return { kind, tokens: (m.tokens as unknown[]).map((t, k) => expectString(t, `${at}.tokens[${k}]`)) };
    });
    const Nd = schema.dense.length;
    const floats = (v: unknown, at: string, positive: boolean): number[] => {
      const a = expectArray(v, at).map((x, i) => expectFloat(x, `${at}[${i}]`, { positive }));
      if (a.length !== Nd) throw new FieldError(at, `has ${a.length} entries for ${Nd} dense columns`);
      return a;
    };
    const pre = new Preprocessor(schema, mappings, floats(o.denseMean, "preprocessor.denseMean", false), floats(o.denseStd, "preprocessor.denseStd", true));
    return pre;
  }
}

/** How many lines a string of `tokenLines` holds (line feeds + 1), counted without splitting it. */
function lineCount(s: string): number {
  let n = 1;
  for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) n++;
  return n;
}

/** Field names become parameter names: dots and spaces would break them. */
export function safeName(column: string): string {
  return column.replace(/[.\s]/g, "_");
}

/**
 * A typed array that grows as values are pushed (by half again of its length each time), so that a
 * column of millions of rows costs its typed size (4 bytes a value) and not a JavaScript array's 8
 * plus the copies its growth makes.
 */
class Column<T extends Int32Array | Float32Array> {
  private a: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.a = make(64);
  }
  push(v: number): void {
    if (this.length === this.a.length) {
      const b = this.make(this.length + (this.length >> 1) + 64);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.length++] = v;
  }
  /** A copy of values from .. to (what a batch keeps; the builder's buffer, with its spare room, is not lent out). */
  slice(from: number, to: number): T {
    return this.a.slice(from, to) as T;
  }
  at(i: number): number {
    return this.a[i]!;
  }
  /** Replaces each value v at i by f(v, i), in place. */
  map(f: (v: number, i: number) => number): void {
    const a = this.a;
    for (let i = 0; i < this.length; i++) a[i] = f(a[i]!, i);
  }
}

const ints = (): Column<Int32Array> => new Column((n) => new Int32Array(n));
const floats = (): Column<Float32Array> => new Column((n) => new Float32Array(n));

/** One field's token -> id. */
export interface TokenIds {
  /** The id the token maps to (for a fitted vocabulary, 0 when unseen). */
  id(token: string): number;
}

/** What a BatchBuilder needs of the preprocessing: the columns, and each field's token -> id (a Preprocessor, or a VocabBuilder still counting). */
export interface RowEncoder {
  readonly schema: Schema;
  readonly maps: ReadonlyArray<TokenIds>;
}

/**
 * How many of a stream's values each field had never seen in training: id 0, the out-of-vocabulary
 * row every such value reads (a hashed field never gives it). Counted batch by batch as a file is
 * scored, so that `esmm eval` and `esmm predict` can say when a file's ids are not the ones the model
 * was trained on (another encoding, another world): its scores then come from one shared row.
 */
export class UnseenCounts {
  readonly unseen: number[];
  readonly total: number[];
  /** `fields`: the model's fields in order, single-valued first, then the bags (Preprocessor.fieldSpecs). */
  constructor(readonly fields: readonly { name: string; kind?: "single" | "multi" }[]) {
    this.unseen = fields.map(() => 0);
    this.total = fields.map(() => 0);
  }

  /** Counts for the fields of a preprocessing, by their column names; `rows` (a whole Dataset) is counted at once. */
  static of(pre: Preprocessor, rows?: Parameters<UnseenCounts["add"]>[0]): UnseenCounts {
    const u = new UnseenCounts([...pre.schema.categorical.map((name) => ({ name })), ...pre.schema.multi.map((m) => ({ name: m.name, kind: "multi" as const }))]);
    if (rows) u.add(rows);
    return u;
  }

  /** Counts a batch's ids (a Batch, or a whole Dataset). */
  add(b: { size: number; ids: Int32Array; bags: ReadonlyArray<{ offsets: Int32Array; ids: Int32Array }> }): void {
    const Fs = b.size > 0 ? b.ids.length / b.size : 0;
    for (let f = 0; f < Fs; f++) {
      let u = 0;
      for (let r = 0; r < b.size; r++) if (b.ids[r * Fs + f] === 0) u++;
      this.unseen[f]! += u;
      this.total[f]! += b.size;
    }
    b.bags.forEach((bag, k) => {
      const [from, to] = [bag.offsets[0]!, bag.offsets[b.size]!];
      let u = 0;
      for (let j = from; j < to; j++) if (bag.ids[j] === 0) u++;
      this.unseen[Fs + k]! += u;
      this.total[Fs + k]! += to - from;
    });
  }

  /** Field i's share of unseen values, null for a field with no values. */
  private share(i: number): number | null {
    return this.total[i]! > 0 ? this.unseen[i]! / this.total[i]! : null;
  }

  /** Each field's share of unseen values (null for a field with no values). */
  shares(): Record<string, number | null> {
    return Object.fromEntries(this.fields.map((f, i) => [f.name, this.share(i)]));
  }

  /** The fields with at least `min` of their values unseen, as "user_id 97.5%, app_id 61.0%"; null for none. */
  above(min: number): string | null {
    const list = this.fields.flatMap((f, i) => {
      const s = this.share(i);
      return s !== null && s >= min ? [`${f.name} ${(100 * s).toFixed(1)}%`] : [];
    });
    return list.length ? list.join(", ") : null;
  }
}

/**
 * Collects encoded rows into LabeledBatches of a fixed size. Values go into typed columns as they
 * come (Float32 ones rounded there, as the batch's Float32Arrays would round them: the same bits).
 */
export class BatchBuilder<P extends RowEncoder = Preprocessor> {
  private ids!: Column<Int32Array>;
  private bagIds!: Array<Column<Int32Array>>;
  private bagW!: Array<Column<Float32Array>>;
  private bagOff!: Array<Column<Int32Array>>;
  private dense!: Column<Float32Array>;
  private click!: Column<Float32Array>;
  private conversion!: Column<Float32Array>;
  private user!: Column<Int32Array>;
  private tp!: Column<Float32Array>;
  private tv!: Column<Float32Array>;
  /** User key -> a dense id in order of appearance (GAUC groups rows by it). */
  private readonly userIds = new TokenIndex();

  constructor(readonly pre: P) {
    this.reset();
  }

  /** Empty columns (each bag's offsets start with its first row's 0). */
  private reset(): void {
    const nm = this.pre.schema.multi.length;
    this.ids = ints();
    this.bagIds = Array.from({ length: nm }, ints);
    this.bagW = Array.from({ length: nm }, floats);
    this.bagOff = Array.from({ length: nm }, () => {
      const c = ints();
      c.push(0);
      return c;
    });
    this.dense = floats();
    this.click = floats();
    this.conversion = floats();
    this.user = ints();
    this.tp = floats();
    this.tv = floats();
  }

  get size(): number {
    return this.click.length;
  }

  /** Adds a raw row (mapped through the preprocessor); `flush` returns the batch. */
  push(r: RawRow): void {
    const maps = this.pre.maps;
    const F = r.singles.length;
    for (let i = 0; i < F; i++) this.ids.push(maps[i]!.id(r.singles[i]!));
    r.multis.forEach((m, k) => {
      const map = maps[F + k]!;
      m.tokens.forEach((t, j) => {
        this.bagIds[k]!.push(map.id(t));
        this.bagW[k]!.push(m.weights ? m.weights[j]! : 1);
      });
      this.bagOff[k]!.push(this.bagIds[k]!.length);
    });
    for (const v of r.dense) this.dense.push(v);
    this.click.push(r.click);
    this.conversion.push(r.conversion);
    if (r.user !== null) {
      this.user.push(this.userIds.add(r.user));
    }
    if (r.truePctr !== null) this.tp.push(r.truePctr);
    if (r.truePcvr !== null) this.tv.push(r.truePcvr);
  }

  /**
   * Rows `from` to `to` of those collected so far, as a batch (a copy; the builder keeps them): a
   * reader can score a file's rows as they come and still flush the whole of it at the end.
   */
  rows(from: number, to: number): LabeledBatch {
    const n = to - from;
    const F = this.size ? this.ids.length / this.size : 0;
    const D = this.pre.schema.dense.length;
    const b: LabeledBatch = {
      size: n,
      ids: this.ids.slice(from * F, to * F),
      bags: this.bagIds.map((ids, k) => {
        const off = this.bagOff[k]!;
        const o0 = off.at(from);
        const offsets = new Int32Array(n + 1);
        for (let i = 0; i <= n; i++) offsets[i] = off.at(from + i) - o0; // rebased to the batch's first row
        return { offsets, ids: ids.slice(o0, off.at(to)), weights: this.bagW[k]!.slice(o0, off.at(to)) };
      }),
      dense: D ? this.dense.slice(from * D, to * D) : null,
      click: this.click.slice(from, to),
      conversion: this.conversion.slice(from, to),
    };
    if (this.user.length === this.size && n > 0) b.user = this.user.slice(from, to);
    if (this.tp.length === this.size && n > 0) b.truePctr = this.tp.slice(from, to);
    if (this.tv.length === this.size && n > 0) b.truePcvr = this.tv.slice(from, to);
    return b;
  }

  /** Rewrites every id collected so far through its field's table (ids[f][old] is the new id): provisional ids, once the vocabularies are known. */
  remap(tables: ReadonlyArray<Int32Array>): void {
    const F = this.pre.schema.categorical.length;
    this.ids.map((id, i) => tables[i % F]![id]!);
    this.bagIds.forEach((c, k) => {
      const t = tables[F + k]!;
      c.map((id) => t[id]!);
    });
  }

  /** Takes the rows collected so far as a batch and starts afresh (user keys stay consistent). */
  flush(): LabeledBatch {
    const b = this.rows(0, this.size);
    this.reset();
    return b;
  }
}
