// Makes `npm start` and `npm test` work on a fresh clone: installs the locked dev dependencies when
// they are missing, and with --build compiles src/ to dist/. Plain Node, no dependencies.
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";

const run = (cmd) => execSync(cmd, { stdio: "inherit" });
if (!existsSync("node_modules/typescript") || !existsSync("node_modules/vitest")) {
  console.error("esmm-ts: installing dev dependencies (npm ci) ...");
  run(existsSync("package-lock.json") ? "npm ci --no-audit --no-fund" : "npm install --no-audit --no-fund");
}
if (process.argv.includes("--build")) run("npx tsc -p tsconfig.build.json");
