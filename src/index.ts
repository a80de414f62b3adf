/**
 * esmm-ts: the public, browser-safe entry point. Node-only helpers (files, the CLI) live in
 * `esmm-ts/node`.
 */
export * from "./tensor/index.js";
export * from "./autograd/index.js";
