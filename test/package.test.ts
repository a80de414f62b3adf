/**
 * The package as an app developer gets it: `npm pack`, installed into a fresh project (no network:
 * esmm-ts has no dependencies), then a strict TypeScript ESM consumer compiled and run, a CommonJS
 * consumer, the LICENSE, and source maps that resolve to shipped sources.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "esmm-pkg-"));
const app = join(work, "app");
const installed = join(app, "node_modules", "esmm-ts");

beforeAll(() => {
  // dist/ was built by test/global-setup.ts
  const name = execFileSync("npm", ["pack", "--pack-destination", work, "--silent"], { cwd: ROOT, encoding: "utf8" }).trim().split("\n").at(-1)!;
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", join(work, name), "--no-audit", "--no-fund", "--offline", "--ignore-scripts", "--silent"], { cwd: app, stdio: "pipe" });
}, 120_000);

describe("the packed package", () => {
  it("ships its LICENSE, and source maps whose sources are in the package", () => {
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toMatch(/^MIT License/);
    for (const f of readdirSync(join(installed, "dist")).filter((x) => x.endsWith(".js.map"))) {
      const map = JSON.parse(readFileSync(join(installed, "dist", f), "utf8")) as { sources: string[] };
      for (const s of map.sources) expect(existsSync(join(installed, "dist", s)), `${f} -> ${s}`).toBe(true);
    }
  });

  it("a strict TypeScript ESM app compiles against its types and trains a model", () => {
    writeFileSync(
      join(app, "main.ts"),
      `import { AppStoreSimulator, Esmm, evaluate, toOnnx, train, type EsmmMetrics } from "esmm-ts";
import { saveCheckpoint, loadCheckpoint } from "esmm-ts/node";
import { join } from "node:path";
import { tmpdir } from "node:os";
const sim = new AppStoreSimulator({ users: 200, apps: 80 });
const data = sim.dataset(3000, 0);
const model = new Esmm({ preset: "esmm", fields: sim.fieldSpecs(), dim: 4, experts: { hidden: [8] } });
await train(model, data, { epochs: 1, batchSize: 256 });
const m: EsmmMetrics = evaluate(model, sim.dataset(1000, 1));
const dir = join(tmpdir(), "esmm-pkg-ck-" + process.pid);
await saveCheckpoint(dir, model);
const back = await loadCheckpoint(dir);
const onnx: Uint8Array = toOnnx(back.model);
console.log(typeof m.ctrAuc === "number" && back.model.parameterCount() === model.parameterCount() && onnx[0] === 0x08 ? "ok" : "wrong");
`,
    );
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmitOnError: true, skipLibCheck: false, types: ["node"], typeRoots: [join(ROOT, "node_modules", "@types")] }, files: ["main.ts"] }));
    const tsc = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", app], { encoding: "utf8" });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    expect(execFileSync(process.execPath, [join(app, "main.js")], { encoding: "utf8" }).trim()).toBe("ok");
  }, 60_000);

  it("from CommonJS: import() works; require() works where Node loads ES modules synchronously (20.19, 22.12 on), else Node's clear ES-module error", () => {
    writeFileSync(
      join(app, "main.cjs"),
      `let how;
try { require("esmm-ts"); how = "required"; } catch (e) { how = e.code; }
import("esmm-ts").then((m) => console.log(how, typeof m.Esmm));
`,
    );
    const out = execFileSync(process.execPath, [join(app, "main.cjs")], { encoding: "utf8" }).trim();
    const requireEsm = (process.features as { require_module?: boolean }).require_module === true;
    expect(out).toBe(`${requireEsm ? "required" : "ERR_REQUIRE_ESM"} function`);
  });
});

describe("the build", () => {
  it("leaves dist/cli/bin.js executable (tsc writes it without the bit, and npx esmm then failed with Permission denied once dist/ had been rebuilt)", () => {
    const bin = join(ROOT, "dist", "cli", "bin.js");
    chmodSync(bin, 0o644); // as a fresh tsc output is
    execFileSync(process.execPath, [join(ROOT, "scripts", "ensure.mjs"), "--chmod"], { cwd: ROOT });
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.build).toContain("ensure.mjs --chmod");
  });
});
