export { Tensor, tensor, zeros, ones, full, randUniform, randNormal, denseGrad, installBackwardEngine } from "./tensor.js";
export type { GraphNode, RowSparse, TensorOptions } from "./tensor.js";
export { Rng } from "./rng.js";
export { Arena, allocF32 } from "./arena.js";
export * from "./init.js";
export * from "./shape.js";
export { kernels, useKernels, naiveKernels, fastKernels, sigmoidScalar } from "./kernels/index.js";
export type { Kernels, GemmOpts, AdamHyper } from "./kernels/index.js";
export { firstNonFinite, assertFinite } from "./finite.js";
