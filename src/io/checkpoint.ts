/**
 * A model checkpoint as bytes (browser-safe; src/node/checkpoint.ts puts them in a directory):
 *   model.json              format, version, config, preprocessing, training metadata, checksums
 *   weights.safetensors     named parameters, float32
 *   optimizer.safetensors   Adam's m and v per parameter ("<name>.m", "<name>.v"), steps in metadata
 *
 * A checkpoint is untrusted input. Loading checks, in this order, before anything large is
 * allocated: model.json's every field (types and ranges, see resolveConfig), its content checksum,
 * the weights file's checksum, its header against the parameter count the config implies; then it
 * builds the model and refuses non-finite weights, naming the tensor.
 */
import { firstNonFinite } from "../tensor/index.js";
import { Adam, type AdamParamState } from "../optim/index.js";
import { DEFAULT_TOWERS, Esmm, FieldError, LEGACY_VARIANTS, expectObject, expectOneOf, expectString, parameterCount, resolveConfig, type EsmmConfig, type EsmmConfigInput } from "../esmm/index.js";
import { crc32Hex } from "./crc32.js";
import { Preprocessor, simulatorOptionsFromJSON } from "../data/index.js";
import { concatBytes } from "./bytes.js";
import { decodeSafetensors, readSafetensorsHeader, safetensorsParts, type NamedArray } from "./safetensors.js";

/** The `format` marker of an esmm-ts checkpoint's model.json. */
export const CHECKPOINT_FORMAT = "esmm-ts-checkpoint";
/**
 * 2 adds checksums; 3 replaces the config's `variant` by a `bottom` and an `objective`; 4 may store a
 * vocabulary as one string, its tokens one per line (`tokenLines`, see Preprocessor.toCheckpointJSON),
 * where it was an array of tokens; 5 records the CVR tower's sizes (`towers.cvr`), which before were
 * the CTR tower's. Versions 1 and 2 still load: their variant is read as LEGACY_VARIANTS says (their
 * `base` is `base-shared`), their experts as plain MMoE (share "all", gate prior 0); every version
 * before 5 has its CVR tower the size of its CTR tower.
 */
export const CHECKPOINT_VERSION = 5;
const READABLE_VERSIONS = [1, 2, 3, 4, 5];

/** The file of a checkpoint that holds the weights. */
export const WEIGHTS_FILE = "weights.safetensors";
/** The file of a checkpoint that holds Adam's state. */
export const OPTIMIZER_FILE = "optimizer.safetensors";

/** A checkpoint's model.json. */
export interface ModelJson {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: number;
  config: EsmmConfig;
  /** Fitted preprocessing (schema, vocabularies or hashing, dense statistics); opaque to the model. */
  preprocessor?: unknown;
  /** Whatever the trainer records: epochs done, rows, metrics, seed, options. */
  training?: Record<string, unknown>;
  /**
   * CRC-32s (hex): `content` over config, preprocessor and training as JSON (so a flipped byte in a
   * vocabulary token is caught), and one per file of the checkpoint.
   */
  checksums?: Record<string, string>;
}

/** The text the content checksum covers: the parsed values, re-serialised (stable for JSON numbers). */
function contentText(j: { config: unknown; preprocessor?: unknown; training?: unknown }): string {
  return JSON.stringify([j.config, j.preprocessor ?? null, j.training ?? null]);
}

/** A file of a checkpoint as its pieces in order (see safetensorsParts): views of the arrays, not copies. */
export type FileParts = readonly Uint8Array[];

function weightsParts(model: Esmm): FileParts {
  const m = new Map<string, NamedArray>(model.namedParameters().map(([n, p]) => [n, { data: p.data, shape: p.shape }]));
  return safetensorsParts(m, { format: "pt", producer: "esmm-ts" });
}

/** The model's parameters as safetensors bytes, under their names (the PyTorch twin reads the same file). */
export function encodeWeights(model: Esmm): Uint8Array {
  return concatBytes(weightsParts(model));
}

/** Throws naming the first parameter that holds a NaN or an infinity. */
export function assertFiniteParameters(model: Esmm, what = "model"): void {
  for (const [name, p] of model.namedParameters()) {
    const bad = firstNonFinite(p.data);
    if (bad) throw new Error(`${what}: parameter "${name}" has ${bad.count} non-finite value(s) (first at index ${bad.index}); refusing to use or save diverged weights`);
  }
}

/** The parameter count the weights file's header describes, held against the config's (nothing allocated yet). */
export function checkWeightsHeader(cfg: EsmmConfig, bytes: Uint8Array, what = WEIGHTS_FILE): void {
  const { entries } = readSafetensorsHeader(bytes, what);
  const have = entries.reduce((s, e) => s + (e.end - e.begin) / 4, 0);
  const want = parameterCount(cfg);
  if (have !== want) throw new Error(`${what}: holds ${have} values in ${entries.length} tensors, the config in model.json describes ${want} parameters`);
}

/** Loads weights by name into a model, checking every name, shape and value. */
export function loadWeights(model: Esmm, bytes: Uint8Array, what = WEIGHTS_FILE): void {
  const { tensors } = decodeSafetensors(bytes, what, { views: true }); // copied into the parameters below
  const params = model.namedParameters();
  for (const name of tensors.keys()) {
    if (!params.some(([n]) => n === name)) throw new Error(`${what}: unexpected tensor "${name}" (not a parameter of this model)`);
  }
  for (const [name, p] of params) {
    const t = tensors.get(name);
    if (!t) throw new Error(`${what}: missing tensor "${name}"`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(`${what}: tensor "${name}" has shape [${t.shape.join(", ")}], the model expects [${p.shape.join(", ")}]`);
    }
    const bad = firstNonFinite(t.data);
    if (bad) throw new Error(`${what}: tensor "${name}" has ${bad.count} non-finite value(s) (first at index ${bad.index}); the checkpoint is corrupt or its training diverged`);
    p.data.set(t.data);
  }
}

function optimizerParts(opt: Adam, shapes: ReadonlyMap<string, readonly number[]>, extra: Record<string, string> = {}): FileParts {
  const st = opt.stateView(); // the moments in place: the file's pieces view them
  const m = new Map<string, NamedArray>();
  const steps: Record<string, number> = {};
  for (const [name, s] of st) {
    const shape = shapes.get(name) ?? [s.m.length];
    m.set(`${name}.m`, { data: s.m, shape });
    m.set(`${name}.v`, { data: s.v, shape });
    steps[name] = s.step;
  }
  return safetensorsParts(m, { ...extra, steps: JSON.stringify(steps) });
}

/** Adam's state (each parameter's moments and step count, shaped as `shapes` says) as safetensors bytes. */
export function encodeOptimizer(opt: Adam, shapes: ReadonlyMap<string, readonly number[]>, extra: Record<string, string> = {}): Uint8Array {
  return concatBytes(optimizerParts(opt, shapes, extra));
}

/** Adam's state and the file's metadata from an optimizer file's bytes; the moments are views of `bytes` where they lie aligned (Adam.loadStateDict copies them). */
export function decodeOptimizer(bytes: Uint8Array, what = OPTIMIZER_FILE): { state: Map<string, AdamParamState>; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes, what, { views: true }); // Adam.loadStateDict copies them
  let steps: Record<string, number>;
  try {
    steps = JSON.parse(metadata.steps ?? "");
  } catch {
    throw new Error(`${what}: metadata "steps" is missing or not JSON`);
  }
  if (!steps || typeof steps !== "object" || Array.isArray(steps)) throw new Error(`${what}: metadata "steps" must map names to step counts`);
  const state = new Map<string, AdamParamState>();
  for (const [name, step] of Object.entries(steps)) {
    const m = tensors.get(`${name}.m`);
    const v = tensors.get(`${name}.v`);
    if (!m || !v) throw new Error(`${what}: missing moments of "${name}"`);
    if (!Number.isInteger(step) || step < 0) throw new Error(`${what}: "${name}" has an invalid step count ${JSON.stringify(step)}`);
    for (const [k, t] of [["m", m], ["v", v]] as const) {
      const bad = firstNonFinite(t.data);
      if (bad) throw new Error(`${what}: tensor "${name}.${k}" has ${bad.count} non-finite value(s) (first at index ${bad.index})`);
    }
    state.set(name, { step, m: m.data, v: v.data });
  }
  return { state, metadata };
}

/** Parses and validates model.json text (every field, and the content checksum where there is one). */
export function parseModelJson(text: string, what = "model.json"): ModelJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${(e as Error).message})`);
  }
  const j = raw as ModelJson;
  if (!j || typeof j !== "object" || j.format !== CHECKPOINT_FORMAT) throw new Error(`${what}: not an esmm-ts checkpoint (format is ${JSON.stringify((j as { format?: unknown } | null)?.format)})`);
  if (!READABLE_VERSIONS.includes(j.formatVersion)) {
    throw new Error(`${what}: format version ${JSON.stringify(j.formatVersion)} is not supported (this esmm-ts reads versions ${READABLE_VERSIONS.join(", ")})`);
  }
  try {
    if (j.training !== undefined) expectObject(j.training, "training");
    // the simulated world of a generated training file, which esmm abtest plays: one world, exactly
    if (j.training?.simulated !== undefined) simulatorOptionsFromJSON(j.training.simulated, "training.simulated");
    if (j.formatVersion >= 2) {
      const sums = expectObject(j.checksums, "checksums");
      for (const [k, v] of Object.entries(sums)) if (!/^[0-9a-f]{8}$/.test(expectString(v, `checksums.${k}`))) throw new FieldError(`checksums.${k}`, "must be 8 hex digits");
      const want = expectString(sums.content, "checksums.content");
      const got = crc32Hex(contentText(j));
      if (got !== want) throw new FieldError("checksums.content", `is ${want}, but config, preprocessor and training sum to ${got}: the file was changed or corrupted`);
      expectString(sums[WEIGHTS_FILE], `checksums["${WEIGHTS_FILE}"]`);
    }
    const c = j.formatVersion < 3 ? legacyConfig(j.config) : j.config;
    j.config = resolveConfig((j.formatVersion < 5 ? sameTowers(c) : c) as EsmmConfigInput);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  return j;
}

/** A config from before format 5: its CVR tower was the size of its CTR tower. */
function sameTowers(c: unknown): unknown {
  const o = expectObject(c, "config");
  const towers = expectObject(o.towers ?? {}, "config.towers");
  const hidden = towers.hidden ?? DEFAULT_TOWERS.hidden;
  return { ...o, towers: { ...towers, hidden, cvr: hidden } };
}

/** A config of format 1 or 2: its `variant` becomes the bottom and objective it meant. */
function legacyConfig(c: unknown): unknown {
  const o = expectObject(c, "config");
  const { variant, ...rest } = o;
  const v = expectOneOf(variant ?? "esmm-mmoe", "config.variant", Object.keys(LEGACY_VARIANTS));
  // they were trained as plain MMoE: every task trains every expert, gates start even
  const experts = { share: "all", gatePrior: 0, ...(expectObject(rest.experts ?? {}, "config.experts") as object) };
  return { ...rest, ...LEGACY_VARIANTS[v], experts };
}

/** Checks one file's bytes against the checksum model.json records for it (version 2 on). */
export function verifyChecksum(json: ModelJson, file: string, bytes: Uint8Array, what = file): void {
  const want = json.checksums?.[file];
  if (want === undefined) {
    if (json.formatVersion >= 2 && file === WEIGHTS_FILE) throw new Error(`${what}: model.json records no checksum for it`);
    if (json.formatVersion >= 2 && file === OPTIMIZER_FILE) throw new Error(`${what}: model.json records no checksum for it (was it copied in from another checkpoint?)`);
    return;
  }
  const got = crc32Hex(bytes);
  if (got !== want) throw new Error(`${what}: CRC-32 is ${got}, model.json records ${want}: the file is corrupt or belongs to another checkpoint`);
}

/**
 * Builds a model (and, when the checkpoint carries it, its preprocessing) from checkpoint bytes: what
 * a browser does with fetched model.json and weights, and what the Node loader does with a directory's
 * files (`what` names them in errors). Checks in the order the module comment gives, so a crafted
 * file fails before it allocates.
 */
export function modelFromCheckpoint(modelJsonText: string, weights: Uint8Array, what = "checkpoint"): { model: Esmm; json: ModelJson; preprocessor: Preprocessor | null } {
  const mj = `${what}/model.json`;
  const json = parseModelJson(modelJsonText, mj);
  const wp = `${what}/${WEIGHTS_FILE}`;
  verifyChecksum(json, WEIGHTS_FILE, weights, wp);
  checkWeightsHeader(json.config, weights, wp);
  let preprocessor: Preprocessor | null = null;
  if (json.preprocessor !== undefined) {
    try {
      // the vocabularies' sizes are held against the tables before any lookup map is built
      preprocessor = Preprocessor.fromJSON(json.preprocessor, json.config.fields);
    } catch (e) {
      throw new Error(`${mj}: ${(e as Error).message}`);
    }
  }
  const model = new Esmm(json.config, { draw: false }); // every weight is loaded next
  loadWeights(model, weights, wp);
  return { model, json, preprocessor };
}

/**
 * Everything of a checkpoint, with each safetensors file as its pieces (views of the model's and the
 * optimizer's arrays, see safetensorsParts): what saving a checkpoint writes, without a copy of the
 * weights and moments. The checksums in model.json are taken now; the pieces must be written before
 * the model or the optimizer changes (saveCheckpoint checks that the optimizer did not step).
 */
export function checkpointParts(model: Esmm, extra: { preprocessor?: unknown; training?: Record<string, unknown>; optimizer?: Adam } = {}): Record<string, string | FileParts> {
  assertFiniteParameters(model);
  const files: Record<string, FileParts> = { [WEIGHTS_FILE]: weightsParts(model) };
  if (extra.optimizer) {
    const shapes = new Map(model.namedParameters().map(([n, p]) => [n, p.shape]));
    files[OPTIMIZER_FILE] = optimizerParts(extra.optimizer, shapes);
  }
  return { "model.json": modelJsonOf(model, { ...extra, files }), ...files };
}

/** Everything of a checkpoint as bytes: model.json (with the checksums of the others) and the files, each a copy. */
export function checkpointFiles(model: Esmm, extra: { preprocessor?: unknown; training?: Record<string, unknown>; optimizer?: Adam } = {}): Record<string, Uint8Array | string> {
  const parts = checkpointParts(model, extra);
  return Object.fromEntries(Object.entries(parts).map(([name, f]) => [name, typeof f === "string" ? f : concatBytes(f)]));
}

/** model.json text; with `files` (bytes, or a file's pieces), their checksums are recorded beside the content's. */
export function modelJsonOf(model: Esmm, extra: { preprocessor?: unknown; training?: Record<string, unknown>; files?: Record<string, Uint8Array | FileParts> } = {}): string {
  const j: ModelJson = { format: CHECKPOINT_FORMAT, formatVersion: CHECKPOINT_VERSION, config: model.config };
  if (extra.preprocessor !== undefined) j.preprocessor = extra.preprocessor;
  if (extra.training) j.training = extra.training;
  // The checksum must cover exactly what a reader will parse and re-serialise (contentText of the
  // parsed file). JSON.stringify gives the same text for a value and for its own parsed output
  // (toJSON applied, undefined dropped, -0 as 0, numbers in their shortest form, key order kept), so
  // the content is serialised once here, not normalised through a parse of the whole file first: a
  // model.json of 96 MB of vocabularies took three serialisations and a parse.
  j.checksums = { content: crc32Hex(contentText(j)) };
  const files = extra.files ?? { [WEIGHTS_FILE]: weightsParts(model) };
  for (const [name, bytes] of Object.entries(files)) j.checksums[name] = crc32Hex(bytes);
  return JSON.stringify(j, null, 2) + "\n";
}
