/**
 * The docs cannot rot: every code block marked runnable in docs/*.md and README.md is run, in page
 * order, in a fresh working directory per page (scratch/doc-run/<page>/): ```ts run blocks as modules
 * (what they print must equal the ```text block that follows, line for line), ```sh run blocks line
 * by line as shell commands, `npx esmm` being the built CLI (each must exit 0). A snippet imports from
 * "esmm-ts" and "esmm-ts/node" as a user's code would; here those are the source tree.
 */
import { execSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const OUT = join(ROOT, "scratch", "doc-snippets");

interface Snippet {
  file: string;
  line: number;
  lang: "ts" | "sh";
  code: string;
  expected: string[] | null;
}

/** The runnable blocks of a Markdown text, each with the output block right after it (if any). */
export function snippetsOf(file: string, text: string): Snippet[] {
  const out: Snippet[] = [];
  const re = /```([^\n]*)\n([\s\S]*?)```/g;
  const blocks: Array<{ info: string; body: string; start: number; end: number }> = [];
  for (let m = re.exec(text); m; m = re.exec(text)) blocks.push({ info: m[1]!.trim(), body: m[2]!, start: m.index, end: m.index + m[0].length });
  blocks.forEach((b, i) => {
    if (b.info !== "ts run" && b.info !== "sh run") return;
    const next = blocks[i + 1];
    const adjacent = next && next.info === "text" && /^\s*(It prints:?|Output:?|prints:?)?\s*$/i.test(text.slice(b.end, next.start).replace(/\n/g, " "));
    out.push({ file, line: text.slice(0, b.start).split("\n").length, lang: b.info === "sh run" ? "sh" : "ts", code: b.body, expected: adjacent ? next.body.replace(/\n$/, "").split("\n") : null });
  });
  return out;
}

const files = [...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f)), "README.md"];
const snippets = files.flatMap((f) => snippetsOf(f, readFileSync(join(ROOT, f), "utf8")));

describe("runnable snippets in the docs", () => {
  it("finds them", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(5);
    // a block marked runnable with no output after it is allowed, but every page's first one prints
    expect(snippets.filter((s) => s.expected !== null).length).toBeGreaterThanOrEqual(4);
  });

  const cwdOf = (file: string): string => join(ROOT, "scratch", "doc-run", file.replace(/[^a-z0-9]+/gi, "-"));
  const fresh = new Set<string>();
  it.each(snippets.map((s) => [`${s.file}:${s.line}`, s] as const))("%s runs and prints what the page says", async (_where, s) => {
    const cwd = cwdOf(s.file);
    if (!fresh.has(cwd)) {
      rmSync(cwd, { recursive: true, force: true });
      mkdirSync(cwd, { recursive: true });
      fresh.add(cwd);
    }
    if (s.lang === "sh") {
      const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(ROOT, "dist", "cli", "bin.js"))}`;
      for (const line of s.code.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()).filter((l) => l !== "")) {
        execSync(line.replace(/^npx esmm\b/, cli), { cwd, stdio: "pipe" });
      }
      return;
    }
    mkdirSync(OUT, { recursive: true });
    const path = join(OUT, `${s.file.replace(/[^a-z0-9]+/gi, "-")}-${s.line}.ts`);
    const src = (f: string): string => JSON.stringify(join(ROOT, "src", f).replaceAll("\\", "/"));
    writeFileSync(path, s.code.replaceAll(`from "esmm-ts/node"`, `from ${src("node/index.ts")}`).replaceAll(`from "esmm-ts"`, `from ${src("index.ts")}`));
    const printed: string[] = [];
    const log = console.log;
    const here = process.cwd();
    console.log = (...a: unknown[]) => void printed.push(a.map(String).join(" "));
    process.chdir(cwd);
    try {
      await import(pathToFileURL(path).href);
    } finally {
      process.chdir(here);
      console.log = log;
      rmSync(path, { force: true });
    }
    if (s.expected) expect(printed).toEqual(s.expected);
  });
});
