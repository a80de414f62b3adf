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

/** The files under src and, for each, the files its relative imports resolve to. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files(SRC)) {
    const to = importsOf(file).filter((s) => s.startsWith(".")).map((s) => join(file, "..", s).replace(/\.js$/, ".ts"));
    graph.set(file, to);
  }
  return graph;
}

/** A cycle of imports (its files, the first repeated at the end), or null where there is none. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (f: string): string[] | null => {
    if (state.get(f) === "done") return null;
    if (state.get(f) === "open") return [...path.slice(path.indexOf(f)), f];
    state.set(f, "open");
    path.push(f);
    for (const g of graph.get(f) ?? []) {
      const c = visit(g);
      if (c) return c;
    }
    path.pop();
    state.set(f, "done");
    return null;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return null;
}

describe("import cycles", () => {
  it("finds a cycle where there is one, and none in a chain", () => {
    expect(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]]))).toEqual(["a", "b", "c", "a"]);
    expect(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]]))).toBe(null);
  });

  it("no file under src imports itself through others (a module can be read before the ones it needs)", () => {
    const cycle = findCycle(importGraph());
    expect(cycle?.map((f) => f.slice(SRC.length + 1)) ?? null).toBe(null);
  });
});
