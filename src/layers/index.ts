export { Module, prefixed } from "./module.js";
export type { NamedParameters } from "./module.js";
export { Linear } from "./linear.js";
export type { LinearOptions } from "./linear.js";
export { Mlp } from "./mlp.js";
export type { MlpOptions } from "./mlp.js";
export { Gate } from "./gate.js";
export { Embedding, DEFAULT_EMBEDDING_INIT } from "./embedding.js";
export type { EmbeddingInit, EmbeddingOptions } from "./embedding.js";
