/** esmm-ts/node: the Node-only half (files, checkpoints on disk, data readers). */
export * from "./files.js";
export * from "./readers.js";
export * from "./checkpoint.js";
export * from "./static-server.js";
export * from "./parallel.js";
export * from "./score-server.js";
