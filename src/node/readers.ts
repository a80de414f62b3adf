/**
 * Reading data files into the model's batches (Node only). Formats:
 *  - csv:        a header row; labels `click` / `conversion` by default; see CsvOptions
 *  - aliccp-csv: torch-rechub's preprocessed Ali-CCP (`click`, `purchase`, sparse columns, `D*` dense)
 *  - aliexpress: torch-rechub's AliExpress (`categorical_*`, `numerical_*` dense, `search_id` as the GAUC key)
 *  - aliccp-raw: the raw release, sample_skeleton joined with common_features (see src/data/aliccp.ts)
 * Every bad line raises a DataError naming file, line and column, unless `skipBad` is set: then bad
 * lines are skipped AND counted, so nothing is silently dropped.
 */
import { existsSync, readFileSync } from "node:fs";
import {
  BatchBuilder,
  CsvRowParser,
  DataError,
  Preprocessor,
  UnseenCounts,
  VocabBuilder,
  aliccpSchema,
  csvOptionsFromJSON,
  parseCommonLine,
  simulatorOptionsFromJSON,
  parseSkeletonLine,
  splitCsvLine,
  type CsvOptions,
  type FeatureMap,
  type RawRow,
  type Schema,
  type SimulatorOptions,
} from "../data/index.js";
import { Dataset, InputRowError, Rng, expectInt, expectObject, evaluateScores, orderedScoring, type BatchSource, type EsmmMetrics, type EvalLabels, type Esmm, type LabeledBatch, type Scores, type ShardWorkers } from "../index.js";
import { STDIN, STDIN_NAME, readLines } from "./files.js";

/** A data file's format: csv (with the column options), torch-rechub's preprocessed Ali-CCP and AliExpress CSVs, or the raw Ali-CCP release. */
export type Format = "csv" | "aliccp-csv" | "aliexpress" | "aliccp-raw";
/** Every `Format`. */
export const FORMATS: readonly Format[] = ["csv", "aliccp-csv", "aliexpress", "aliccp-raw"];

/** What `openSource` opens: a path, its format and CSV options, and what to do with bad lines. */
export interface SourceSpec {
  format: Format;
  path: string;
  /** aliccp-raw: the common_features file. */
  common?: string;
  csv?: CsvOptions;
  skipBad?: boolean;
  /** Longest line accepted, in characters (default DEFAULT_MAX_LINE); longer stops with file and line. */
  maxLine?: number;
  /** A schema file read instead of the `<file>.schema.json` sidecar (standard input has none); `csv` overrides it. */
  schemaFile?: string;
}

/** What a read counted: rows read, lines skipped as bad and the first few reasons, and the rows the format itself drops. */
export interface ReadStats {
  rows: number;
  /** Lines skipped as bad (only with skipBad), with the first few errors. */
  bad: number;
  badExamples: string[];
  /** Rows the format itself drops (Ali-CCP: a conversion without a click). */
  dropped: number;
}

/** CSV options implied by a format, merged under the user's. */
function csvOptionsFor(format: Format, header: string[], user: CsvOptions = {}): CsvOptions {
  if (format === "aliccp-csv") {
    return { conversion: "purchase", dense: header.filter((h) => /^D\d/.test(h)), user: "101", ...user };
  }
  if (format === "aliexpress") {
    return { dense: header.filter((h) => h.startsWith("numerical_")), ignore: ["search_id"], user: "search_id", ...user };
  }
  return user;
}

/**
 * A sidecar `<file>.schema.json` (written by `esmm generate`) supplies CSV options the user did not
 * give; for `<file>.gz`, `<file>.gz.schema.json` or else `<file>.schema.json` (the sidecar stays
 * behind when the file is gzipped).
 */
export function sidecarOptions(path: string): CsvOptions {
  const p = sidecarPath(path);
  return p ? schemaFileOptions(p) : {};
}

/** The sidecar a data file has, if any (see sidecarOptions). */
function sidecarPath(path: string): string | undefined {
  return [`${path}.schema.json`, ...(path.endsWith(".gz") ? [`${path.slice(0, -3)}.schema.json`] : [])].find((f) => existsSync(f));
}

/**
 * The simulated world and impression stream a data file was drawn from, where `esmm generate`
 * recorded them in the file's sidecar (or in the `--schema` file given instead): `"simulated": {
 * "world": {...}, "stream": K }`. Null for a file with no record (any file not generated, or
 * generated before the record existed). `esmm train` keeps the world in the checkpoint, so that
 * `esmm abtest` plays it, and tells a validation file of the same stream (the same rows) apart.
 */
export function simulatedSourceOf(path: string, schemaFile?: string): { world: Required<SimulatorOptions>; stream: number } | null {
  const p = schemaFile ?? (path === STDIN ? undefined : sidecarPath(path)); // standard input has no sidecar
  if (p === undefined) return null;
  const sim = (readSchemaJson(p) as { simulated?: unknown } | null)?.simulated;
  if (sim === undefined) return null;
  try {
    const o = expectObject(sim, "simulated");
    return { world: simulatorOptionsFromJSON(o.world, "simulated.world"), stream: expectInt(o.stream, "simulated.stream", 0, 2 ** 31 - 1) };
  } catch (e) {
    throw new DataError(p, 1, null, (e as Error).message);
  }
}

/** A schema file (a sidecar's JSON, given by its path: `--schema`), each key checked; errors name the file. */
export function schemaFileOptions(p: string): CsvOptions {
  return csvOptionsFromJSON(readSchemaJson(p), p);
}

/** A schema file's JSON, or a DataError naming the file where it is missing or not JSON. */
function readSchemaJson(p: string): unknown {
  if (!existsSync(p)) throw new DataError(p, 0, null, "no such file");
  try {
    return JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new DataError(p, 1, null, `not valid JSON (${(e as Error).message})`);
  }
}

/** An opened file: its schema, and its rows as a stream (each call re-reads the file). */
export interface RowSource {
  /** The file as errors name it (the path, or standard input's name). */
  name: string;
  schema: Schema;
  /** The file's rows, streamed (constant memory); counts into `stats`. */
  rows(stats?: ReadStats): AsyncGenerator<RawRow>;
  /** Set for standard input: `rows` can be called once only. */
  readOnce?: boolean;
}

/** Read statistics with nothing counted yet. */
export function emptyStats(): ReadStats {
  return { rows: 0, bad: 0, badExamples: [], dropped: 0 };
}

function recordBad(stats: ReadStats, e: unknown): void {
  if (!(e instanceof DataError)) throw e;
  stats.bad++;
  if (stats.badExamples.length < 5) stats.badExamples.push(e.message);
}

async function firstLine(path: string, maxLine?: number): Promise<string | null> {
  for await (const { line } of readLines(path, maxLine === undefined ? {} : { maxLine })) return line;
  return null;
}

/** Opens a data file as a row source: its header checked, its schema read (and the `<file>.schema.json` sidecar, if any). */
export async function openSource(spec: SourceSpec): Promise<RowSource> {
  const once = spec.path === STDIN; // standard input: one pass, its header read from the same stream
  const name = once ? STDIN_NAME : spec.path;
  if (once && spec.format === "aliccp-raw") throw new DataError(name, 0, null, "aliccp-raw joins two files; pass them as files, not on standard input");
  if (!once && !existsSync(spec.path)) throw new DataError(spec.path, 0, null, "no such file");
  if (spec.format === "aliccp-raw") return openAliccpRaw(spec);
  const lineOpts = spec.maxLine === undefined ? {} : { maxLine: spec.maxLine };
  const stdinLines = once ? readLines(STDIN, lineOpts) : null;
  const header = stdinLines ? ((await stdinLines.next()).value?.line ?? null) : await firstLine(spec.path, spec.maxLine);
  if (header === null || header.trim() === "") throw new DataError(name, 1, null, "empty file (no header row)");
  const delimiter = spec.csv?.delimiter ?? ",";
  const columns = splitCsvLine(header.replace(/^\uFEFF/, ""), delimiter) ?? [];
  const opts = csvOptionsFor(spec.format, columns, { ...(spec.schemaFile !== undefined ? schemaFileOptions(spec.schemaFile) : once ? {} : sidecarOptions(spec.path)), ...(spec.csv ?? {}) });
  const parser = new CsvRowParser(header, opts, name);
  let read = false;
  return {
    name,
    schema: parser.schema,
    ...(once ? { readOnce: true } : {}),
    async *rows(stats = emptyStats()) {
      if (stdinLines && read) throw new DataError(name, 0, null, "standard input can be read only once; save the data to a file");
      read = true;
      for await (const { line, lineNo } of stdinLines ?? readLines(spec.path, lineOpts)) {
        if (lineNo === 1 || line === "") continue;
        let row: RawRow;
        try {
          row = parser.parse(line, lineNo);
        } catch (e) {
          if (!spec.skipBad) throw e;
          recordBad(stats, e);
          continue;
        }
        stats.rows++;
        yield row;
      }
    },
  };
}

async function openAliccpRaw(spec: SourceSpec): Promise<RowSource> {
  if (!spec.common) throw new DataError(spec.path, 0, null, "aliccp-raw needs the common_features file (--common)");
  if (!existsSync(spec.common)) throw new DataError(spec.common, 0, null, "no such file");
  // NOTE: the common features are held in memory (one entry per user session); the skeleton streams.
  const common = new Map<string, FeatureMap>();
  const commonPath = spec.common;
  const lineOpts = spec.maxLine === undefined ? {} : { maxLine: spec.maxLine };
  let loaded = false;
  let commonBad = 0;
  const load = async (): Promise<void> => {
    if (loaded) return;
    for await (const { line, lineNo } of readLines(commonPath, lineOpts)) {
      if (line === "") continue;
      try {
        const [k, v] = parseCommonLine(line, commonPath, lineNo);
        common.set(k, v);
      } catch (e) {
        if (!spec.skipBad) throw e;
        commonBad++;
      }
    }
    loaded = true;
  };
  return {
    name: spec.path,
    schema: aliccpSchema(),
    async *rows(stats = emptyStats()) {
      await load();
      stats.bad += commonBad;
      for await (const { line, lineNo } of readLines(spec.path, lineOpts)) {
        if (line === "") continue;
        let row: RawRow | null;
        try {
          row = parseSkeletonLine(line, common, spec.path, lineNo);
        } catch (e) {
          if (!spec.skipBad) throw e;
          recordBad(stats, e);
          continue;
        }
        if (row === null) {
          stats.dropped++;
          continue;
        }
        stats.rows++;
        yield row;
      }
    },
  };
}

/** How fitting keeps a vocabulary or hashes, and where its warnings go. */
export interface FitOptions {
  /** Keep the tokens seen at least this often (default 1); the rest read the out-of-vocabulary id 0. */
  minCount?: number;
  /** Hash every field into this many ids instead of keeping vocabularies. */
  hashBuckets?: number;
  /** Where warnings go (a column that looks numeric, a field left with no token). */
  warn?: (message: string) => void;
}

/** First pass over training data: vocabularies (or hashing) and dense statistics (`fitAndLoad` keeps the rows too, in the same pass). */
export async function fitPreprocessor(src: RowSource, opts: FitOptions = {}, stats?: ReadStats): Promise<Preprocessor> {
  // fitting reads the rows once and training reads them again: standard input cannot be both
  if (src.readOnce) throw new DataError(STDIN_NAME, 0, null, "training data is read twice (the vocabularies, then the rows: with --stream, again every epoch) and standard input only once; save it to a file, or train without --stream");
  const vb = new VocabBuilder(src.schema);
  for await (const r of src.rows(stats)) vb.add(r);
  return finishFit(vb, src, opts, stats);
}

/**
 * Fits the preprocessing and reads the whole file into memory as a Dataset, in one pass (standard
 * input too): each row is kept with provisional ids as its tokens are counted, and the ids are
 * rewritten once the vocabularies are known. The same preprocessor and the same dataset, bit for
 * bit, as `fitPreprocessor` and then `loadDataset`, with half the reading and a lookup a token.
 */
export async function fitAndLoad(src: RowSource, opts: FitOptions = {}, stats?: ReadStats): Promise<{ pre: Preprocessor; data: Dataset }> {
  const vb = new VocabBuilder(src.schema);
  const bb = new BatchBuilder(vb);
  for await (const r of src.rows(stats)) {
    bb.push(r);
    vb.observe(r);
  }
  const pre = finishFit(vb, src, opts, stats);
  bb.remap(vb.idTables(pre));
  return { pre, data: datasetOf(bb.flush(), pre.schema.dense.length) };
}

function finishFit(vb: VocabBuilder, src: RowSource, opts: FitOptions, stats?: ReadStats): Preprocessor {
  if (vb.rows === 0) throw new DataError(src.name, 0, null, stats && stats.bad > 0 ? `no data rows (every one of its ${stats.bad} rows was bad and skipped)` : "no data rows");
  for (const n of vb.numericLooking()) {
    opts.warn?.(`warning: column "${n.column}" looks numeric (${n.distinct} distinct values, e.g. ${n.examples.join(", ")}) but is read as categorical, one id per value; if it is a number, pass --dense ${n.column}`);
  }
  const pre = vb.finish(opts);
  // a field whose every value fell under --min-count is the out-of-vocabulary id alone: it tells rows nothing
  const names = [...src.schema.categorical, ...src.schema.multi.map((m) => m.name)];
  const empty = pre.mappings.flatMap((m, i) => (m.kind === "vocab" && m.tokens.length === 0 ? [names[i]!] : []));
  if (empty.length > 0) opts.warn?.(`warning: ${empty.length} of ${names.length} fields keep no value seen at least ${opts.minCount ?? 1} time(s) (${empty.slice(0, 5).join(", ")}${empty.length > 5 ? ", ..." : ""}): every row reads the out-of-vocabulary id there, so they cannot help the model; lower --min-count`);
  return pre;
}

/** Checks that a file's columns mean what the model's preprocessing expects. */
export function checkSchema(src: RowSource, pre: Preprocessor, file: string): void {
  const a = pre.schema;
  const b = src.schema;
  const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  if (!same(a.categorical, b.categorical) || !same(a.multi.map((m) => m.name), b.multi.map((m) => m.name)) || !same(a.dense, b.dense)) {
    throw new DataError(file, 1, null, `columns differ from the model's: expected categorical [${a.categorical.join(", ")}], multi [${a.multi.map((m) => m.name).join(", ")}], dense [${a.dense.join(", ")}]`);
  }
}

/** Reads a whole file into memory as a Dataset. */
export async function loadDataset(src: RowSource, pre: Preprocessor, stats?: ReadStats): Promise<Dataset> {
  const bb = new BatchBuilder(pre);
  for await (const r of src.rows(stats)) bb.push(r);
  return datasetOf(bb.flush(), pre.schema.dense.length);
}

/**
 * Scores every row of a source, 4,096 rows to a batch, here or on `workers` (the same bits either
 * way), and hands the scores to `emit` batch by batch in row order. A batch's rows and ids are let go
 * once it is sent: `keep` picks what of it `emit` needs beside the scores (its labels, say), from the
 * batch and from what `row` (if given) took of each of its rows (columns to copy, say).
 */
export async function scoreSource<T, R = never>(
  model: Esmm,
  src: RowSource,
  pre: Preprocessor,
  opts: { workers?: ShardWorkers | null; stats?: ReadStats; row?: (r: RawRow) => R },
  keep: (batch: LabeledBatch, rows: R[]) => T,
  emit: (scores: Scores, kept: T) => Promise<void>,
): Promise<void> {
  const bb = new BatchBuilder(pre);
  let taken: R[] = [];
  const scoring = orderedScoring<T>(model, opts.workers ?? null, emit);
  const send = async (): Promise<void> => {
    const b = bb.flush();
    const kept = keep(b, taken);
    taken = [];
    await scoring.push(b, kept);
  };
  try {
    for await (const r of src.rows(opts.stats)) {
      bb.push(r);
      if (opts.row) taken.push(opts.row(r));
      if (bb.size === 4096) await send();
      else if ((bb.size & 1023) === 0) await scoring.poll(); // hand back what the workers finished
    }
    if (bb.size > 0) await send();
    await scoring.finish();
  } catch (e) {
    throw byDataRow(e, src.name); // orderedScoring counts a row error's row from the file's first data row
  }
}

/** A row error whose row counts from a file's first data row, as an error naming the file and that row (1-based, as `esmm predict` numbers them); anything else as it is. */
export function byDataRow(e: unknown, file: string): unknown {
  return e instanceof InputRowError ? new Error(`${file}: data row ${e.row + 1}: ${e.reason}`) : e;
}

/**
 * A file's metrics for a model, scored while it is read (scoreSource: the workers score where there
 * are some, so that reading and scoring overlap). Only each batch's label columns outlive its
 * scoring. The same metrics, bit for bit, as loadDataset and then evaluate (a row's scores are its own).
 * `unseen` counts the values each field never saw in training, as the batches go by.
 */
export async function evaluateSource(model: Esmm, src: RowSource, pre: Preprocessor, opts: { workers?: ShardWorkers | null; stats?: ReadStats; unseen?: UnseenCounts } = {}): Promise<EsmmMetrics> {
  const parts: Scores[] = [];
  const labels: EvalLabels[] = [];
  const keep = (b: LabeledBatch): EvalLabels => {
    opts.unseen?.add(b);
    const { size, click, conversion, user, truePctr, truePcvr } = b;
    return { size, click, conversion, user, truePctr, truePcvr };
  };
  await scoreSource(model, src, pre, opts, keep, async (sc, l) => {
    parts.push(sc);
    labels.push(l);
  });
  return evaluateScores(model, joinLabels(labels), parts);
}

/** The chunks' label columns end to end; users and ground truth only where every row has them (as BatchBuilder keeps them). */
function joinLabels(chunks: readonly EvalLabels[]): EvalLabels {
  const size = chunks.reduce((n, c) => n + c.size, 0);
  const join = <A extends Float32Array | Int32Array>(pick: (c: EvalLabels) => A | undefined, make: (n: number) => A): A | undefined => {
    if (size === 0 || !chunks.every((c) => pick(c)?.length === c.size)) return undefined;
    const out = make(size);
    let at = 0;
    for (const c of chunks) {
      out.set(pick(c)!, at);
      at += c.size;
    }
    return out;
  };
  const f32 = (n: number): Float32Array => new Float32Array(n);
  return {
    size,
    click: join((c) => c.click, f32) ?? f32(0),
    conversion: join((c) => c.conversion, f32) ?? f32(0),
    user: join((c) => c.user, (n) => new Int32Array(n)),
    truePctr: join((c) => c.truePctr, f32),
    truePcvr: join((c) => c.truePcvr, f32),
  };
}

/** A dataset holding a labelled batch's rows (with `numDense` dense values per row). */
export function datasetOf(b: LabeledBatch, numDense: number): Dataset {
  return new Dataset(b.size, b.ids, b.size ? b.ids.length / b.size : 0, b.bags, b.dense, numDense, b.click, b.conversion, b.user, b.truePctr, b.truePcvr);
}

/**
 * Batches straight from a file, for data larger than memory: each epoch re-reads the file and
 * shuffles within a seeded buffer of `shuffleBuffer` rows (a global shuffle would need the whole file).
 */
export function streamingSource(src: RowSource, pre: Preprocessor, batchSize: number, opts: { shuffleBuffer?: number; seed?: number } = {}): BatchSource {
  const bufSize = opts.shuffleBuffer ?? 65_536;
  return {
    async *batches(epoch: number) {
      const rng = new Rng((opts.seed ?? 1) * 7919 + epoch);
      const bb = new BatchBuilder(pre);
      const buf: RawRow[] = [];
      const emit = function* (r: RawRow): Generator<LabeledBatch> {
        bb.push(r);
        if (bb.size === batchSize) yield bb.flush();
      };
      for await (const r of src.rows()) {
        if (buf.length < bufSize) {
          buf.push(r);
          continue;
        }
        const j = rng.int(buf.length);
        const out = buf[j]!;
        buf[j] = r;
        yield* emit(out);
      }
      rng.shuffle(buf);
      for (const r of buf) yield* emit(r);
      if (bb.size > 0) yield bb.flush();
    },
  };
}
