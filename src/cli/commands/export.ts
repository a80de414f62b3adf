/** `esmm export`: a checkpoint as an ONNX file, to serve it with onnxruntime where JavaScript does not run (src/io/onnx.ts says what its inputs and outputs are). Returns normally on success and throws on failure (see main.ts). */
import { defaultOnnxInputs, toOnnxParts } from "../../index.js";
import { loadModel, writeFileAtomic } from "../../node/index.js";
import { UsageError, need, needPath, str, type Parsed } from "../args.js";
import { VERSION } from "../version.js";
import type { Command, Io } from "../io.js";

const INPUTS = ["tokens", "ids"] as const;

async function exportCommand(p: Parsed, io: Io): Promise<void> {
  const dir = need(p, "model");
  const out = needPath(p, "out", "an ONNX file is binary and is written to a file");
  const inputs = str(p, "inputs");
  if (inputs !== undefined && !(INPUTS as readonly string[]).includes(inputs)) throw new UsageError(`--inputs must be tokens or ids, got "${inputs}"`);
  const { model, preprocessor: pre } = await loadModel(dir);
  const mode = (inputs as (typeof INPUTS)[number] | undefined) ?? defaultOnnxInputs(pre);
  const parts = toOnnxParts(model, pre, { producerVersion: VERSION, inputs: mode }); // the weights' pieces are views of the model's arrays
  await writeFileAtomic(out, parts);
  const size = parts.reduce((n, b) => n + b.byteLength, 0);
  const s = pre.schema;
  io.err(`wrote ${out} (${(size / 1e6).toFixed(1)} MB, ONNX opset 13): ${model.name}; inputs ${[...s.categorical, ...s.multi.map((m) => `${m.name}[bag]`), ...s.dense].join(", ")}, categorical ones as ${mode}; outputs pctr, pcvr, pctcvr${model.gates ? ", gates_ctr, gates_cvr" : ""}`);
}

export const command: Command = {
  name: "export",
  summary: "a checkpoint as an ONNX file (the vocabularies, the embeddings and the nets in one graph), to score with onnxruntime outside JavaScript",
  usage: "esmm export --model DIR --out FILE.onnx [--inputs tokens|ids]",
  options: {
    model: { type: "string", help: "checkpoint directory (required)" },
    out: { type: "string", help: "the ONNX file to write (required; written whole or not at all)" },
    inputs: { type: "string", help: "categorical inputs as the cells' text, mapped by the vocabularies in the graph (tokens, the default), or as the ids of the checkpoint's preprocessing (ids; the only choice for a hashed checkpoint)" },
  },
  run: exportCommand,
};
