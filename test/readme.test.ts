import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runTiny } from "../examples/tiny.js";

describe("README", () => {
  it("prints what the engine example prints", () => {
    const lines = runTiny();
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
    expect(readme).toContain("```\n" + lines.join("\n") + "\n```");
    // and the example actually learned XOR
    expect(lines.at(-1)).toMatch(/^logits: -\d+\.\d+ \d+\.\d+ \d+\.\d+ -\d+\.\d+$/);
  });
});
