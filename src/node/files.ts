/** File plumbing for Node: streaming lines, and writes that never leave a half-written file. */
import { createReadStream, promises as fsp } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";

/** Lines of a text file with 1-based line numbers, streamed (files larger than memory are fine). */
export async function* readLines(path: string): AsyncGenerator<{ line: string; lineNo: number }> {
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      yield { line, lineNo };
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
}

/** Writes to a temporary file beside `path`, then renames it over `path` (atomic on one filesystem). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Writes a set of files as one directory, atomically as far as a filesystem allows: everything goes
 * into a temporary sibling directory, which then replaces `dir` by two renames (old aside, new in).
 * A crash before the swap leaves the old directory intact; between the two renames the old one is
 * kept as `<dir>.old` (the loader looks there).
 */
export async function writeDirAtomic(dir: string, files: Record<string, Uint8Array | string>): Promise<void> {
  const tmp = tempName(dir);
  const old = `${dir}.old`;
  await fsp.mkdir(dirname(dir), { recursive: true });
  try {
    await fsp.mkdir(tmp);
    for (const [name, data] of Object.entries(files)) await fsp.writeFile(join(tmp, name), data);
    await fsp.rm(old, { recursive: true, force: true });
    let hadOld = false;
    try {
      await fsp.rename(dir, old);
      hadOld = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    await fsp.rename(tmp, dir);
    if (hadOld) await fsp.rm(old, { recursive: true, force: true });
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes a text stream to a temporary file and renames it into place when `close()` succeeds. */
export async function openAtomicWriter(path: string): Promise<{ write: (s: string) => Promise<void>; close: () => Promise<void>; abort: () => Promise<void> }> {
  const tmp = tempName(path);
  let fh: Awaited<ReturnType<typeof fsp.open>>;
  try {
    fh = await fsp.open(tmp, "w");
  } catch (e) {
    throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let buf = "";
  const flush = async (): Promise<void> => {
    if (buf) {
      await fh.write(buf);
      buf = "";
    }
  };
  return {
    write: async (s: string) => {
      buf += s;
      if (buf.length > 1 << 20) await flush();
    },
    close: async () => {
      await flush();
      await fh.close();
      await fsp.rename(tmp, path);
    },
    abort: async () => {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
    },
  };
}
