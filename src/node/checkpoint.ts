/** Checkpoint directories on disk: model.json, weights.safetensors, optimizer.safetensors. */
import { existsSync, promises as fsp } from "node:fs";
import { join } from "node:path";
import {
  Adam,
  Esmm,
  decodeOptimizer,
  encodeOptimizer,
  encodeWeights,
  loadWeights,
  modelJsonOf,
  parseModelJson,
  type ModelJson,
} from "../index.js";
import { Preprocessor } from "../data/index.js";
import { writeDirAtomic } from "./files.js";

export interface SaveOptions {
  preprocessor?: Preprocessor;
  optimizer?: Adam;
  training?: Record<string, unknown>;
}

/** Writes the whole directory to a temporary sibling and swaps it in, so a crash leaves the old one intact. */
export async function saveCheckpoint(dir: string, model: Esmm, opts: SaveOptions = {}): Promise<void> {
  const files: Record<string, Uint8Array | string> = {
    "model.json": modelJsonOf(model, { preprocessor: opts.preprocessor?.toJSON(), training: opts.training ?? {} }),
    "weights.safetensors": encodeWeights(model),
  };
  if (opts.optimizer) {
    const shapes = new Map(model.namedParameters().map(([n, p]) => [n, p.shape]));
    files["optimizer.safetensors"] = encodeOptimizer(opts.optimizer, shapes);
  }
  await writeDirAtomic(dir, files);
}

export interface LoadedCheckpoint {
  model: Esmm;
  json: ModelJson;
  preprocessor: Preprocessor | null;
  /** Adam state, when the checkpoint has one. */
  optimizerState: ReturnType<typeof decodeOptimizer>["state"] | null;
}

async function readOr(path: string, what: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function loadCheckpoint(dirIn: string): Promise<LoadedCheckpoint> {
  // An interrupted swap leaves the previous checkpoint at <dir>.old (see writeDirAtomic).
  const dir = !existsSync(dirIn) && existsSync(`${dirIn}.old`) ? `${dirIn}.old` : dirIn;
  if (!existsSync(dir)) throw new Error(`${dirIn}: no such checkpoint directory`);
  const mj = join(dir, "model.json");
  const json = parseModelJson((await readOr(mj, "model.json")).toString("utf8"), mj);
  const model = new Esmm(json.config);
  const wp = join(dir, "weights.safetensors");
  const wb = await readOr(wp, "weights");
  loadWeights(model, new Uint8Array(wb.buffer, wb.byteOffset, wb.byteLength), wp);
  let preprocessor: Preprocessor | null = null;
  if (json.preprocessor !== undefined) {
    try {
      preprocessor = Preprocessor.fromJSON(json.preprocessor);
    } catch (e) {
      throw new Error(`${mj}: ${(e as Error).message}`);
    }
  }
  const op = join(dir, "optimizer.safetensors");
  let optimizerState: LoadedCheckpoint["optimizerState"] = null;
  if (existsSync(op)) {
    const ob = await readOr(op, "optimizer state");
    optimizerState = decodeOptimizer(new Uint8Array(ob.buffer, ob.byteOffset, ob.byteLength), op).state;
  }
  return { model, json, preprocessor, optimizerState };
}
