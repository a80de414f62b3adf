/**
 * esmm-ts: the public, browser-safe entry point. Node-only helpers (files, the CLI) live in
 * `esmm-ts/node`.
 */
export * from "./tensor/index.js";
export * from "./autograd/index.js";
export * from "./layers/index.js";
export * from "./optim/index.js";
export * from "./esmm/index.js";
export * from "./data/index.js";
export * from "./io/index.js";
