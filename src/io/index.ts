export { encodeSafetensors, safetensorsParts, decodeSafetensors, readSafetensorsHeader } from "./safetensors.js";
export type { NamedArray, Safetensors, SafetensorsEntry } from "./safetensors.js";
export { crc32, crc32Hex } from "./crc32.js";
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  WEIGHTS_FILE,
  OPTIMIZER_FILE,
  assertFiniteParameters,
  checkWeightsHeader,
  checkpointFiles,
  checkpointParts,
  encodeWeights,
  loadWeights,
  encodeOptimizer,
  decodeOptimizer,
  parseModelJson,
  verifyChecksum,
  modelFromCheckpoint,
  modelJsonOf,
} from "./checkpoint.js";
export type { FileParts } from "./checkpoint.js";
export type { ModelJson } from "./checkpoint.js";
export { RANK_BY, ScoringModel, loadModel, modelFromBytes } from "./scoring.js";
export type { FeatureRecord, RankBy, RecordScore } from "./scoring.js";
export { defaultInputs as defaultOnnxInputs, onnxInputsOf, toOnnx, toOnnxParts } from "./onnx.js";
export type { OnnxInput, OnnxOptions } from "./onnx.js";
