// Makes `npm start` and `npm test` work on a fresh clone: installs the locked dev dependencies when
// they are missing, and with --build compiles src/ to dist/. Plain Node, no dependencies.
//
// The build is skipped when dist/ is newer than every input (src/, the tsconfigs, package.json):
// tsc takes about 4 s even when nothing changed, a tenth of the demo's run. A successful build
// writes dist/.built, dated when it started; a file edited (or checked out) after it triggers the next build.
import { execSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const run = (cmd) => execSync(cmd, { stdio: "inherit" });
if (!existsSync("node_modules/typescript") || !existsSync("node_modules/vitest")) {
  console.error("esmm-ts: installing dev dependencies (npm ci) ...");
  run(existsSync("package-lock.json") ? "npm ci --no-audit --no-fund" : "npm install --no-audit --no-fund");
}

/** The latest modification time (ms) of a file or of any file under a directory. */
function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let t = s.mtimeMs; // a deleted or renamed file changes its directory's time
  for (const e of readdirSync(path)) t = Math.max(t, newest(join(path, e)));
  return t;
}

const STAMP = "dist/.built";

/**
 * tsc writes dist/cli/bin.js without the executable bit. npm sets it when it links the package's
 * bin (the first `npx esmm` does), but not again when dist/ is deleted and built anew, and then
 * `npx esmm` fails with "Permission denied". So every build sets it.
 */
function markExecutable() {
  if (existsSync("dist/cli/bin.js")) chmodSync("dist/cli/bin.js", 0o755);
}
if (process.argv.includes("--chmod")) markExecutable();
function upToDate() {
  if (!existsSync(STAMP) || !existsSync("dist/cli/bin.js")) return false;
  const inputs = ["src", "tsconfig.json", "tsconfig.build.json", "package.json"].filter((p) => existsSync(p));
  return Math.max(...inputs.map(newest)) < statSync(STAMP).mtimeMs;
}

if (process.argv.includes("--build") && !upToDate()) {
  const started = new Date(); // a file saved while tsc runs is newer than the stamp: built again next time
  run("npx tsc -p tsconfig.build.json");
  markExecutable();
  writeFileSync(STAMP, `built from the sources as of ${started.toISOString()}\n`);
  utimesSync(STAMP, started, started);
}
