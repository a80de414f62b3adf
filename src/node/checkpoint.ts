/** Checkpoint directories on disk: model.json, weights.safetensors, optimizer.safetensors. */
import { existsSync, promises as fsp, statSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  Adam,
  Esmm,
  OPTIMIZER_FILE,
  ScoringModel,
  WEIGHTS_FILE,
  checkpointParts,
  decodeOptimizer,
  modelFromCheckpoint,
  verifyChecksum,
  type ModelJson,
} from "../index.js";
import type { Preprocessor } from "../data/index.js";
import { CHECKPOINT_FILES, OS_METADATA, checkReplaceable, isCheckpointDir, writeDirAtomic, type DirFs } from "./files.js";

/** What `saveCheckpoint` writes beside the weights: the preprocessing, the optimizer's state and the training metadata. */
export interface SaveOptions {
  preprocessor?: Preprocessor;
  optimizer?: Adam;
  training?: Record<string, unknown>;
  /** For tests: the filesystem calls of the swap, to inject failures. */
  fs?: DirFs;
}

/**
 * Whether saving may replace this directory: an esmm-ts checkpoint holding its own files and nothing
 * else. A file of the user's put beside the weights (predictions, notes) would be deleted with the
 * directory, so such a checkpoint is refused, naming the file.
 */
async function replaceableCheckpoint(dir: string): Promise<boolean> {
  if (!(await isCheckpointDir(dir))) return false;
  const foreign = (await fsp.readdir(dir)).filter((n) => !CHECKPOINT_FILES.includes(n) && !OS_METADATA.has(n));
  if (foreign.length > 0) throw new Error(`${dir} is an esmm-ts checkpoint that also holds ${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? `, and ${foreign.length - 3} more` : ""}; saving replaces the directory whole, so refusing (move ${foreign.length > 1 ? "them" : "it"} out, or choose another path)`);
  return true;
}
const CHECKPOINT_DIR = { replaceable: replaceableCheckpoint, what: "an esmm-ts checkpoint" };

/**
 * Writes the whole directory to a temporary sibling and swaps it in (see writeDirAtomic), so a crash
 * at any point leaves a loadable checkpoint. Refuses to replace anything that is not an esmm-ts
 * checkpoint (a file, a directory of other things), and refuses non-finite weights.
 *
 * The weights and Adam's moments are written from their own arrays, not from a copy (at 78.6M
 * parameters the copy was 942 MB and 2 s), and their checksums are taken when it is called: so
 * train the model again only once the promise has resolved. A save that races a training step (the
 * optimizer's step count moved, or a wasm memory grew under the arrays) fails before the swap and
 * keeps the previous checkpoint.
 */
export async function saveCheckpoint(dir: string, model: Esmm, opts: SaveOptions = {}): Promise<void> {
  const files = checkpointParts(model, {
    preprocessor: opts.preprocessor?.toCheckpointJSON(),
    training: opts.training ?? {},
    ...(opts.optimizer ? { optimizer: opts.optimizer } : {}),
  });
  // what a training step changes that can be read cheaply: Adam's step counts, and the pieces'
  // lengths (a wasm memory that grew detaches its views, whose length then reads 0)
  const fingerprint = (): string => {
    const steps = [...(opts.optimizer?.stateView().values() ?? [])].reduce((n, s) => n + s.step, 0);
    return [steps, ...Object.values(files).flatMap((f) => (typeof f === "string" ? [] : f.map((p) => p.byteLength)))].join();
  };
  const atStart = fingerprint();
  const beforeSwap = (): void => {
    if (fingerprint() !== atStart) throw new Error("the model or its optimizer changed while it was being saved (train again only once saveCheckpoint has resolved); the previous checkpoint is kept");
  };
  await writeDirAtomic(dir, files, { ...CHECKPOINT_DIR, beforeSwap, ...(opts.fs ? { fs: opts.fs } : {}) });
}

/** Throws unless saveCheckpoint(dir) would be allowed to write there (see checkReplaceable). */
export async function assertCheckpointWritable(dir: string): Promise<void> {
  await checkReplaceable(dir, CHECKPOINT_DIR);
}

/** What `loadCheckpoint` returns: the model, the parsed model.json, the preprocessing (if saved) and the optimizer state (if saved). */
export interface LoadedCheckpoint {
  model: Esmm;
  json: ModelJson;
  preprocessor: Preprocessor | null;
  /** Adam state, when the checkpoint has one and it was asked for (`{ optimizer: false }` leaves it unread). */
  optimizerState: ReturnType<typeof decodeOptimizer>["state"] | null;
  /** The directory actually read: `dir`, or `<dir>.old` after an interrupted swap. */
  dir: string;
}

async function readOr(path: string, what: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

const bytesOf = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * Loads a checkpoint directory, checking before it allocates (see src/io/checkpoint.ts): model.json
 * field by field and its checksum, the weights' checksum and header against the config, the
 * vocabularies' sizes against the embedding tables; then values (no NaN or infinity anywhere).
 * `{ optimizer: false }` does not read optimizer.safetensors (twice the weights' size: Adam's two
 * moments), which only resuming training needs; scoring, evaluating and exporting pass it.
 */
export async function loadCheckpoint(dirIn: string, opts: { optimizer?: boolean } = {}): Promise<LoadedCheckpoint> {
  const given = resolve(dirIn);
  // An interrupted swap leaves the previous checkpoint at <dir>.old (see writeDirAtomic).
  const dir = !existsSync(given) && existsSync(`${given}.old`) ? `${given}.old` : given;
  if (!existsSync(dir)) throw new Error(`${dirIn}: no such checkpoint directory`);
  // a file, or a directory without model.json: say what it is not, rather than which read failed
  if (!statSync(dir).isDirectory()) throw new Error(`${dirIn}: is a file, not a checkpoint directory`);
  if (!existsSync(join(dir, "model.json"))) throw new Error(`${dirIn}: is not an esmm-ts checkpoint (no model.json in it)`);
  const text = (await readOr(join(dir, "model.json"), "model.json")).toString("utf8");
  const wb = bytesOf(await readOr(join(dir, WEIGHTS_FILE), "weights"));
  const { model, json, preprocessor } = modelFromCheckpoint(text, wb, dir);
  const op = join(dir, OPTIMIZER_FILE);
  let optimizerState: LoadedCheckpoint["optimizerState"] = null;
  if (opts.optimizer !== false && existsSync(op)) {
    const ob = bytesOf(await readOr(op, "optimizer state"));
    verifyChecksum(json, OPTIMIZER_FILE, ob, op);
    optimizerState = decodeOptimizer(ob, op).state;
    const sizes = new Map(model.namedParameters().map(([n, p]) => [n, p.size]));
    for (const [name, s] of optimizerState) {
      if (sizes.get(name) !== s.m.length) throw new Error(`${op}: moments of "${name}" do not match a parameter of this model`);
    }
  }
  return { model, json, preprocessor, optimizerState, dir };
}

/**
 * A checkpoint directory as a ScoringModel: score raw records as the training data had them (see
 * src/io/scoring.ts). The browser's `loadModel(url)` in esmm-ts does the same from fetched bytes.
 */
export async function loadModel(dir: string): Promise<ScoringModel> {
  return scoringModelOf(await loadCheckpoint(dir, { optimizer: false }), dir);
}

/** A loaded checkpoint as a ScoringModel, for a caller that also reads the rest of it (its training metadata). */
export function scoringModelOf(ck: LoadedCheckpoint, dir: string): ScoringModel {
  if (!ck.preprocessor) throw new Error(`${dir}: no preprocessing (vocabularies) is saved with this model, so raw records cannot be scored`);
  return new ScoringModel(ck.model, ck.preprocessor);
}
