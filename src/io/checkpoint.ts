/**
 * A model checkpoint as bytes (browser-safe; src/node/checkpoint.ts puts them in a directory):
 *   model.json              format, version, config, preprocessing, training metadata
 *   weights.safetensors     named parameters, float32
 *   optimizer.safetensors   Adam's m and v per parameter ("<name>.m", "<name>.v"), steps in metadata
 */
import { Adam, type AdamParamState } from "../optim/index.js";
import { Esmm, resolveConfig, type EsmmConfig } from "../esmm/index.js";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "./safetensors.js";

export const CHECKPOINT_FORMAT = "esmm-ts-checkpoint";
export const CHECKPOINT_VERSION = 1;

export interface ModelJson {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: number;
  config: EsmmConfig;
  /** Fitted preprocessing (schema, vocabularies or hashing, dense statistics); opaque to the model. */
  preprocessor?: unknown;
  /** Whatever the trainer records: epochs done, rows, metrics, seed, options. */
  training?: Record<string, unknown>;
}

export function encodeWeights(model: Esmm): Uint8Array {
  const m = new Map<string, NamedArray>(model.namedParameters().map(([n, p]) => [n, { data: p.data, shape: p.shape }]));
  return encodeSafetensors(m, { format: "pt", producer: "esmm-ts" });
}

/** Loads weights by name into a model, checking every name and shape. */
export function loadWeights(model: Esmm, bytes: Uint8Array, what = "weights.safetensors"): void {
  const { tensors } = decodeSafetensors(bytes, what);
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
    p.data.set(t.data);
  }
}

export function encodeOptimizer(opt: Adam, shapes: ReadonlyMap<string, readonly number[]>, extra: Record<string, string> = {}): Uint8Array {
  const st = opt.stateDict();
  const m = new Map<string, NamedArray>();
  const steps: Record<string, number> = {};
  for (const [name, s] of st) {
    const shape = shapes.get(name) ?? [s.m.length];
    m.set(`${name}.m`, { data: s.m, shape });
    m.set(`${name}.v`, { data: s.v, shape });
    steps[name] = s.step;
  }
  return encodeSafetensors(m, { ...extra, steps: JSON.stringify(steps) });
}

export function decodeOptimizer(bytes: Uint8Array, what = "optimizer.safetensors"): { state: Map<string, AdamParamState>; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes, what);
  let steps: Record<string, number>;
  try {
    steps = JSON.parse(metadata.steps ?? "");
  } catch {
    throw new Error(`${what}: metadata "steps" is missing or not JSON`);
  }
  const state = new Map<string, AdamParamState>();
  for (const [name, step] of Object.entries(steps)) {
    const m = tensors.get(`${name}.m`);
    const v = tensors.get(`${name}.v`);
    if (!m || !v) throw new Error(`${what}: missing moments of "${name}"`);
    state.set(name, { step, m: m.data, v: v.data });
  }
  return { state, metadata };
}

/** Parses and validates model.json text. */
export function parseModelJson(text: string, what = "model.json"): ModelJson {
  let j: ModelJson;
  try {
    j = JSON.parse(text) as ModelJson;
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${(e as Error).message})`);
  }
  if (!j || typeof j !== "object" || j.format !== CHECKPOINT_FORMAT) throw new Error(`${what}: not an esmm-ts checkpoint (format is ${JSON.stringify(j?.format)})`);
  if (j.formatVersion !== CHECKPOINT_VERSION) {
    throw new Error(`${what}: format version ${JSON.stringify(j.formatVersion)} is not supported (this esmm-ts reads version ${CHECKPOINT_VERSION})`);
  }
  try {
    j.config = resolveConfig(j.config);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  return j;
}

/** Builds a model from checkpoint bytes: what a browser does with fetched model.json and weights. */
export function modelFromCheckpoint(modelJsonText: string, weights: Uint8Array): { model: Esmm; json: ModelJson } {
  const json = parseModelJson(modelJsonText);
  const model = new Esmm(json.config);
  loadWeights(model, weights);
  return { model, json };
}

export function modelJsonOf(model: Esmm, extra: { preprocessor?: unknown; training?: Record<string, unknown> } = {}): string {
  const j: ModelJson = { format: CHECKPOINT_FORMAT, formatVersion: CHECKPOINT_VERSION, config: model.config };
  if (extra.preprocessor !== undefined) j.preprocessor = extra.preprocessor;
  if (extra.training) j.training = extra.training;
  return JSON.stringify(j, null, 2) + "\n";
}
