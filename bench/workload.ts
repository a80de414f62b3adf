/** The reference workload lives with `esmm bench` (src/cli/workload.ts); the benchmarks here share it. */
export * from "../src/cli/workload.js";
