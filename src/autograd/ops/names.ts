/**
 * Every op the tape can record. Adding a name here without a gradient-check case in
 * test/gradcheck.test.ts is a compile error there (the cases are a `Record<OpName, GradCase>`).
 */
export const OP_NAMES = [
  "add",
  "sub",
  "mul",
  "div",
  "neg",
  "relu",
  "sigmoid",
  "logSigmoid",
  "softplus",
  "exp",
  "log",
  "matmul",
  "linear",
  "linearRelu",
  "softmax",
  "sum",
  "mean",
  "reshape",
  "concat",
  "gather",
  "gatherFields",
  "embeddingBag",
  "fieldsLinear",
  "mixExperts",
  "bceWithLogits",
  "bceWithLogitsProduct",
] as const;

/** The name of an op the tape can record (see `OP_NAMES`). */
export type OpName = (typeof OP_NAMES)[number];
