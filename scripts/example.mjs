// `npm run example -- NAME`: runs examples/NAME.ts (compiled to build/examples by the script's tsc)
// and prints what its main() returns, one line each. Without a name it lists the examples.
import { existsSync, readdirSync } from "node:fs";
import { pathToFileURL } from "node:url";

const name = process.argv[2];
const dir = new URL("../build/examples/", import.meta.url);
const names = readdirSync(dir).filter((f) => f.endsWith(".js")).map((f) => f.slice(0, -3));
if (!name || !names.includes(name)) {
  console.error(`usage: npm run example -- NAME   (examples: ${names.join(", ")})`);
  process.exit(name ? 2 : 0);
}
const file = new URL(`${name}.js`, dir);
if (!existsSync(file)) throw new Error(`no ${file}`);
const mod = await import(pathToFileURL(file.pathname).href);
for (const line of await mod.main()) console.log(line);
