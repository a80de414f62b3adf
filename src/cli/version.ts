/** The package's version, read from its package.json (two levels above this file in src/ and in dist/). */
import { readFileSync } from "node:fs";

export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
})();
