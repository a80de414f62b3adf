import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { runTiny } from "../examples/tiny.js";
import { main as esmmExample } from "../examples/esmm.js";

const ROOT = join(import.meta.dirname, "..");
const squash = (t: string): string => t.replace(/\s+/g, " ").trim();

describe("README", () => {
  it("prints what the engine example prints", () => {
    const lines = runTiny();
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    expect(readme).toContain("```\n" + lines.join("\n") + "\n```");
    // and the example actually learned XOR
    expect(lines.at(-1)).toMatch(/^logits: -\d+\.\d+ \d+\.\d+ \d+\.\d+ -\d+\.\d+$/);
  });

  it("npm run example -- tiny prints those lines", () => {
    const out = execFileSync("npm", ["run", "--silent", "example", "--", "tiny"], { cwd: ROOT, encoding: "utf8" });
    expect(out.trimEnd().split("\n")).toEqual(runTiny());
  }, 120_000);

  it("shows examples/esmm.ts's code, which runs and reports progress through onProgress", async () => {
    const src = readFileSync(join(ROOT, "examples", "esmm.ts"), "utf8");
    const code = src.slice(src.indexOf("// README:start") + "// README:start".length, src.indexOf("// README:end")).replaceAll("(rows,", "(100_000,");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(squash(readme)).toContain(squash(code));
    const lines = await esmmExample(6000); // a smaller world than the README's, the same code
    expect(lines.filter((l) => /^epoch [12] step \d+: loss \d\.\d{4} \(ctr \d\.\d{4}, ctcvr \d\.\d{4}\), \d+ rows\/s$/.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatch(/^CTR AUC 0\.\d{4} CVR AUC \(clicked\) 0\.\d{4} CTCVR AUC 0\.\d{4} entire-space CVR AUC 0\.\d{4}$/);
  });
});
