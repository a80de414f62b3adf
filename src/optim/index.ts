export { Adam } from "./adam.js";
export type { AdamOptions, AdamParamState } from "./adam.js";
