/**
 * The core runs in browsers and its imports point one way:
 * tensor <- autograd <- layers <- optim <- esmm. Node-only modules (fs, path, ...) stay out of the core.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..", "src");
/** Rank of each core folder: a file may import only from folders of equal or lower rank. */
const RANK: Record<string, number> = { tensor: 0, autograd: 1, layers: 2, optim: 3, esmm: 4, data: 5, io: 5, web: 6 };
const BROWSER_SAFE = ["tensor", "autograd", "layers", "optim", "esmm", "data", "io", "web"];
const NODE_MODULES = /^(node:|fs$|path$|os$|child_process$|worker_threads$|readline$|process$|stream$|url$|zlib$|crypto$)/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const src = readFileSync(file, "utf8");
  return [...src.matchAll(/^\s*(?:import|export)\b[^;]*?from\s*["']([^"']+)["']/gm)].map((m) => m[1]!);
}

describe("import direction", () => {
  for (const folder of BROWSER_SAFE) {
    it(`src/${folder} imports nothing Node-only and nothing above it`, () => {
      for (const file of files(join(SRC, folder))) {
        for (const spec of importsOf(file)) {
          expect(NODE_MODULES.test(spec), `${file} imports ${spec}`).toBe(false);
          if (spec.startsWith(".")) {
            const target = join(file, "..", spec).slice(SRC.length + 1).split(/[\\/]/)[0]!;
            const rank = RANK[target];
            expect(rank, `${file} imports ${spec} (outside the core)`).not.toBe(undefined);
            expect(rank! <= RANK[folder]!, `${file} imports ${spec}, which is above ${folder}`).toBe(true);
          } else {
            throw new Error(`${file} imports package ${spec}: the core has no dependencies`);
          }
        }
      }
    });
  }
});
