/**
 * Runs once before the test files: compiles src/ to dist/ as `npm run build` does, because two
 * kinds of test load the compiled package (the browser page imports dist/index.js; worker threads
 * of data-parallel training start dist/node/shard-worker.js), and one build up front keeps parallel
 * test files from rewriting dist/ while another reads it.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

export default function setup(): void {
  const root = join(import.meta.dirname, "..");
  execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
}
