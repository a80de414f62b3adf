export { encodeSafetensors, decodeSafetensors } from "./safetensors.js";
export type { NamedArray, Safetensors } from "./safetensors.js";
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  encodeWeights,
  loadWeights,
  encodeOptimizer,
  decodeOptimizer,
  parseModelJson,
  modelFromCheckpoint,
  modelJsonOf,
} from "./checkpoint.js";
export type { ModelJson } from "./checkpoint.js";
