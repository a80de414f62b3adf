/**
 * The public API is made on purpose: docs/api.md (written by `npm run api`) lists every name the
 * entry points export with its type, and this test fails when the code no longer matches it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = join(import.meta.dirname, "..", "scripts", "api.mjs");
const { apiText, API_FILE } = (await import(SCRIPT)) as { apiText: () => string; API_FILE: string };
const text = apiText();

describe("the public API (docs/api.md)", () => {
  it("reads names, kinds and types as the sources declare them", () => {
    // from the sources' declarations (the checker prints a union's members in its own order, and
    // an optional parameter with a default as `opts?`): a function, a class's constructor, a
    // getter, a literal tuple; and what stays out (private members, what Error declares)
    expect(text).toContain("function bceWithLogits(logits: Tensor, targets: Float32Array<ArrayBufferLike> | ArrayLike<number> | Tensor, opts?: BceOptions): Tensor\n");
    expect(text).toContain("class Rng\n  new(seed: number): Rng\n");
    expect(text).toContain("const DENSE_FEATURES: readonly ['app_downloads', 'user_tenure']\n");
    expect(text).toMatch(/\nclass AppStoreSimulator\n(  .*\n)*  get size: \{ users: number; apps: number; \}\n/);
    expect(text).not.toContain("  draft(rng: Rng)");
    expect(text).not.toMatch(/captureStackTrace|prepareStackTrace/);
    expect(text).toMatch(/\n## esmm-ts\/node\n\nFiles, streaming readers, .*; \d+ names\.\n/);
  });

  it("docs/api.md is the code's API (run npm run api after a change you mean, and read its diff)", () => {
    expect(readFileSync(API_FILE, "utf8") === text, "docs/api.md differs from the code's API: run npm run api and look at the diff").toBe(true);
  });
});
