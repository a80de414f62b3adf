// The code as a text: the learner's path (what to read to understand a tensor, its kernels and the
// tape, in reading order) apart from the speed code (fast and wasm kernels, per-id first layers,
// arenas, threads). Prints both line counts; exits 1 when the learner's path passes its budget, so
// that speed never creeps into the files a learner reads first. Run by CI (.ci/run).
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUDGET = 1600;

/** Reading order (docs/architecture.md#reading-order). */
export const LEARNERS_PATH = [
  "src/tensor/shape.ts",
  "src/tensor/tensor.ts",
  "src/tensor/kernels/types.ts",
  "src/tensor/kernels/naive.ts",
  "src/autograd/engine.ts",
  "src/autograd/ops/elementwise.ts",
  "src/autograd/ops/reduce.ts",
  "src/autograd/ops/shape.ts",
  "src/autograd/ops/matmul.ts",
  "src/autograd/ops/embedding.ts",
  "src/autograd/ops/mix.ts",
  "src/autograd/ops/loss.ts",
];

export const SPEED_CODE = [
  "src/tensor/kernels/fast.ts",
  "src/tensor/kernels/wasm.ts",
  "src/tensor/wasm/builder.ts",
  "src/tensor/wasm/gemm.ts",
  "src/tensor/arena.ts",
  "src/tensor/gemm-grad.ts",
  "src/tensor/unique.ts",
  "src/autograd/ops/fields.ts",
  "src/esmm/parallel.ts",
  "src/esmm/pool.ts",
  "src/esmm/shard-host.ts",
];

const count = (files) => files.map((f) => [f, readFileSync(join(ROOT, f), "utf8").split("\n").length - 1]);
const show = (title, rows) => {
  const total = rows.reduce((s, [, n]) => s + n, 0);
  console.log(`${title}: ${total} lines`);
  for (const [f, n] of rows) console.log(`  ${String(n).padStart(5)}  ${f}`);
  return total;
};
const learner = show("learner's path", count(LEARNERS_PATH));
show("speed code", count(SPEED_CODE));
if (learner > BUDGET) {
  console.error(`the learner's path is ${learner} lines, over its budget of ${BUDGET}: move speed code out of it (see docs/architecture.md#reading-order)`);
  process.exit(1);
}
