/**
 * File plumbing for Node: streaming lines with a length cap, and writes that never leave a
 * half-written file or directory behind and never replace what is not ours.
 */
import { createReadStream, promises as fsp, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { pipeline, type Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createGunzip, createGzip } from "node:zlib";
import { once } from "node:events";
import { hostname } from "node:os";
import { DataError } from "../data/index.js";
import { CHECKPOINT_FORMAT, OPTIMIZER_FILE, WEIGHTS_FILE } from "../io/checkpoint.js";

/** Lines longer than this many characters stop a read (a file with no newline would otherwise fill memory). */
export const DEFAULT_MAX_LINE = 16 * 1024 * 1024;

/** The path that means standard input (`--data -`). */
export const STDIN = "-";
/** What errors call standard input in place of a file name ("standard input:4: ..."). */
export const STDIN_NAME = "standard input";

/** Whether a file starts with gzip's magic bytes (1f 8b): read as gzip whatever its name. */
async function isGzip(path: string): Promise<boolean> {
  const fh = await fsp.open(path, "r");
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Lines of a text file (or of standard input, for the path "-") with 1-based line numbers, streamed (files larger than memory are fine).
 * A gzip file (told by its first two bytes, not its name) is decompressed as it streams; data that
 * is corrupt or cut short is a DataError at the line it reached, never a quietly shorter file.
 * A line of more than `maxLine` characters raises a DataError naming the file and line; so does a
 * path that is not a readable regular file (a directory, a FIFO would block the read forever).
 * "\n" ends a line; a trailing "\r" is kept (the CSV parser strips it).
 */
export async function* readLines(pathIn: string, opts: { maxLine?: number } = {}): AsyncGenerator<{ line: string; lineNo: number }> {
  const maxLine = opts.maxLine ?? DEFAULT_MAX_LINE;
  const fromStdin = pathIn === STDIN;
  const path = fromStdin ? STDIN_NAME : pathIn;
  if (!fromStdin) {
    let st;
    try {
      st = await fsp.stat(path);
    } catch (e) {
      throw new DataError(path, 0, null, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    // Character devices are allowed (/dev/stdin); what cannot be read to an end is not.
    if (!st.isFile() && !st.isCharacterDevice()) throw new DataError(path, 0, null, st.isDirectory() ? "is a directory, not a file" : "is not a regular file");
  }
  const gzip = !fromStdin && (await isGzip(path).catch(() => false));
  const file: Readable = fromStdin ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
  // pipeline passes the file's errors on to the decompressor, which the loop below reads
  const stream: Readable = gzip ? pipeline(file, createGunzip({ chunkSize: 1 << 20 }), () => undefined) : file;
  const decoder = new StringDecoder("utf8");
  let lineNo = 0;
  let pending = ""; // the start of a line not yet ended
  const tooLong = (): DataError => new DataError(path, lineNo + 1, null, `line is longer than ${maxLine} characters (a binary file, or a missing line break?)`);
  try {
    for await (const chunk of stream) {
      const text = decoder.write(chunk as Buffer);
      let from = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
        if (pending.length + nl - from > maxLine) throw tooLong();
        const line = pending + text.slice(from, nl);
        pending = "";
        from = nl + 1;
        yield { line, lineNo: ++lineNo };
      }
      if (pending.length + text.length - from > maxLine) throw tooLong();
      pending += text.slice(from);
    }
    pending += decoder.end();
    if (pending.length > maxLine) throw tooLong();
    if (pending !== "") yield { line: pending, lineNo: ++lineNo };
  } catch (e) {
    if (e instanceof DataError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (gzip && code?.startsWith("Z_")) throw new DataError(path, lineNo + 1, null, `gzip data is corrupt or cut short (${(e as Error).message})`);
    throw new DataError(path, lineNo + 1, null, `cannot read (${code ?? (e as Error).message})`);
  } finally {
    stream.destroy();
    if (gzip) file.destroy();
  }
}

let tempCounter = 0;
function tempName(path: string, kind: "tmp" | "trash"): string {
  return join(dirname(path), `.${basename(path)}.${kind}-${process.pid}-${Date.now()}-${tempCounter++}`);
}

/**
 * Temporary files being written right now (by writeFileAtomic and openAtomicWriter), so that a process
 * stopped by a signal can remove them (removeTemporaryFiles): the target was never touched, and no
 * hidden half-written file stays beside it.
 */
const writing = new Set<string>();

/** The locks this process holds (lockForWriting): released by a signal handler too. */
const locks = new Set<string>();

/** Removes every temporary file still being written, and this process's locks (synchronously: for a signal handler, see bin.ts). */
export function removeTemporaryFiles(): void {
  for (const tmp of writing) rmSync(tmp, { force: true });
  writing.clear();
  for (const lock of locks) rmSync(lock, { force: true });
  locks.clear();
}

/**
 * Holds `<dir>.lock` (a sibling: the directory itself is replaced whole on every save) for as long as
 * one process writes `dir`, so that a second `esmm train` into the same directory fails at once,
 * naming the first, instead of both saving in turn: each would report success, and the directory
 * would hold whichever saved last. The lock records this process's pid and host; one left by a
 * process of this host that no longer runs (killed, or the machine restarted) is taken over. Returns
 * the release, which removes the lock if it is still this process's.
 */
export async function lockForWriting(dirIn: string): Promise<() => Promise<void>> {
  const dir = resolve(dirIn);
  const lock = `${dir}.lock`;
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  // the parents the directory needs, as saving makes them; those made here go again if the run saves nothing
  const made: string[] = [];
  for (let d = dirname(dir); (await lstatOrNull(d)) === null; d = dirname(d)) made.unshift(d);
  await fsp.mkdir(dirname(dir), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.writeFile(lock, mine, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`cannot lock ${dirIn} for writing (${lock}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let held: { pid?: unknown; host?: unknown; started?: unknown } = {};
    let text = "";
    try {
      text = await fsp.readFile(lock, "utf8");
      held = JSON.parse(text) as typeof held;
    } catch {
      // unreadable or half-written: judged by its pid below, which it lacks, so it is held
    }
    const stale = held.host === hostname() && typeof held.pid === "number" && !pidAlive(held.pid);
    if (!stale || attempt > 0) {
      const who = typeof held.pid === "number" ? `process ${held.pid}${held.host === hostname() ? "" : ` on ${String(held.host)}`}, since ${String(held.started)}` : "another process";
      throw new Error(`${dirIn} is being written by ${who} (${lock}); wait for it to finish, or remove ${lock} if no esmm process writes there`);
    }
    // its process is gone: take it over, unless another run took it over first (then its lock stands)
    if ((await fsp.readFile(lock, "utf8").catch(() => "")) === text) await fsp.rm(lock, { force: true });
  }
  locks.add(lock);
  return async () => {
    locks.delete(lock);
    try {
      if ((await fsp.readFile(lock, "utf8")) === mine) await fsp.rm(lock, { force: true });
    } catch {
      // already gone
    }
    if ((await lstatOrNull(dir)) !== null) return;
    for (const d of made.reverse()) await fsp.rmdir(d).catch(() => undefined); // deepest first; one that holds something stays
  };
}


/** Whether a directory holds a model.json carrying this project's checkpoint format marker. */
export async function isCheckpointDir(dir: string): Promise<boolean> {
  try {
    const text = await fsp.readFile(join(dir, "model.json"), "utf8");
    return (JSON.parse(text) as { format?: unknown })?.format === CHECKPOINT_FORMAT;
  } catch {
    return false;
  }
}

/** Files a file manager leaves in any folder it shows (nobody's data): a directory of these alone counts as empty, and a checkpoint may hold them. */
export const OS_METADATA: ReadonlySet<string> = new Set([".DS_Store", "Thumbs.db", "desktop.ini"]);

/** The files a checkpoint directory holds (src/io/checkpoint.ts writes them; nothing else belongs there). */
export const CHECKPOINT_FILES: readonly string[] = ["model.json", WEIGHTS_FILE, OPTIMIZER_FILE];

/**
 * Refuses to write a file into a checkpoint directory: it would replace one of the checkpoint's
 * files (`predict --out model/weights.safetensors` destroyed the weights), or sit where saving the
 * model again, which replaces the directory whole, would delete it. The writers below check it; a
 * long job calls it first, so that it fails before its work rather than after.
 */
export async function refuseInsideCheckpoint(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  if (await isCheckpointDir(dir)) throw new Error(`cannot write ${path}: ${dirname(path)} is an esmm-ts checkpoint directory, which saving the model replaces whole; write it outside the checkpoint`);
}

/** Writes to a temporary file beside `path`, then renames it over `path` (atomic on one filesystem); never into a checkpoint directory. */
export async function writeFileAtomic(path: string, data: FileData): Promise<void> {
  await refuseInsideCheckpoint(path);
  const tmp = tempName(path, "tmp");
  writing.add(tmp);
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    writing.delete(tmp);
  }
}

/** A file's contents as the writers take them: text, bytes, or the pieces of the file in order (written one after another, never joined in memory). */
export type FileData = Uint8Array | string | readonly Uint8Array[];

/**
 * The filesystem calls the directory writer makes, as one object so that a test can make any of them
 * fail (a crash at that point) and check what is left on disk.
 */
export interface DirFs {
  /** Creates a directory (its parent exists). */
  mkdir(path: string): Promise<void>;
  /** Writes a file (text, bytes, or its pieces in order) and flushes it to disk. */
  writeFile(path: string, data: FileData): Promise<void>;
  /** Renames atomically within one filesystem. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file or a directory tree. */
  rm(path: string): Promise<void>;
}

const realDirFs: DirFs = {
  mkdir: async (p) => {
    await fsp.mkdir(p);
  },
  writeFile: async (p, data) => {
    // flushed before the swap, so a renamed-in directory never holds a short file
    const fh = await fsp.open(p, "w");
    try {
      if (typeof data === "string" || data instanceof Uint8Array) await fh.writeFile(data);
      else for (const part of data) await fh.writeFile(part); // each from where the last ended
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  rename: (a, b) => fsp.rename(a, b),
  rm: (p) => fsp.rm(p, { recursive: true, force: true }),
};

/** Options of `writeDirAtomic`: which existing directories it may replace, and the filesystem calls (injectable, to test a crash at each step). */
export interface DirWriteOptions {
  /**
   * Whether an existing, non-empty directory is one this writer may replace (e.g. "holds a
   * model.json with our format marker"). Anything else, and anything that is not a directory, is
   * refused with an error that names it. Default: nothing non-empty is replaceable.
   */
  replaceable?: (dir: string) => Promise<boolean>;
  /** What `replaceable` recognises, for the error message ("an esmm-ts checkpoint"). */
  what?: string;
  /**
   * Called once every file is written and flushed, before anything is swapped: throwing here
   * abandons the write (the temporary directory is removed, `dir` is left as it was).
   */
  beforeSwap?: () => void;
  /** For tests: the filesystem calls, to inject failures. */
  fs?: DirFs;
}

async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** Whether a process of this host with that pid is running (signal 0 checks without sending anything; EPERM: it runs, as another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Writes a set of files as one directory, so that a crash at ANY point (however many times in a
 * row) leaves a complete directory at `dir` or, failing that, at `<dir>.old`, which the checkpoint
 * loader falls back to. The steps, and what a crash after each leaves:
 *
 *   0. refuse unless `dir` and `<dir>.old` are absent, empty, or `replaceable`; clean up temporaries
 *      that killed runs left beside `dir`
 *   1. write every file into a fresh temporary sibling `.<name>.tmp-*`      dir intact
 *   2. if dir exists: retire `<dir>.old` (rename to `.<name>.trash-*`)       dir intact
 *   3.                rename dir -> <dir>.old                               <dir>.old intact
 *   4. rename tmp -> dir                                                     dir (new) intact
 *   5. retire <dir>.old                                                      dir (new) intact
 *
 * Retiring is a rename first, so a half-deleted tree never sits at a name the loader reads. When a
 * previous run crashed between 3 and 4 (dir absent, <dir>.old complete), step 2-3 are skipped and
 * <dir>.old is only retired once the new dir is in place. Trailing slashes are normalised away.
 */
export async function writeDirAtomic(dirIn: string, files: Record<string, FileData>, opts: DirWriteOptions = {}): Promise<void> {
  const fs = opts.fs ?? realDirFs;
  const dir = resolve(dirIn);
  const old = `${dir}.old`;
  await fsp.mkdir(dirname(dir), { recursive: true });
  await checkReplaceable(dirIn, opts);
  await cleanLeftovers(dir, fs);

  const tmp = tempName(dir, "tmp");
  await fs.mkdir(tmp);
  try {
    for (const [name, data] of Object.entries(files)) await fs.writeFile(join(tmp, name), data);
    opts.beforeSwap?.();
  } catch (e) {
    await fs.rm(tmp).catch(() => undefined);
    throw new Error(`cannot write ${dirIn}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const retire = async (p: string): Promise<void> => {
    if (!(await lstatOrNull(p))) return;
    const trash = tempName(dir, "trash");
    await fs.rename(p, trash);
    await fs.rm(trash);
  };
  if (await lstatOrNull(dir)) {
    await retire(old);
    await fs.rename(dir, old);
  }
  await fs.rename(tmp, dir);
  await retire(old);
}

/**
 * Throws unless `dir` and `<dir>.old` are each absent, an empty directory, or a directory that
 * `opts.replaceable` recognises: what writeDirAtomic checks before it touches anything, and what a
 * long job can check before it starts, so that it fails at once rather than after its work.
 */
export async function checkReplaceable(dirIn: string, opts: Pick<DirWriteOptions, "replaceable" | "what"> = {}): Promise<void> {
  const what = opts.what ?? "a directory this program wrote";
  const dir = resolve(dirIn);
  for (const p of [dir, `${dir}.old`]) {
    const st = await lstatOrNull(p);
    if (!st) continue;
    const shown = p === dir ? dirIn : `${dirIn.replace(/[/\\]+$/, "")}.old`;
    if (st.isSymbolicLink()) throw new Error(`${shown} is a symbolic link; refusing to replace it (give the real directory)`);
    if (!st.isDirectory()) throw new Error(`${shown} exists and is not a directory; refusing to replace it`);
    const empty = (await fsp.readdir(p)).every((n) => OS_METADATA.has(n));
    if (!empty && !(opts.replaceable && (await opts.replaceable(p)))) {
      throw new Error(`${shown} exists and is not ${what}; refusing to replace or remove it (choose another path, or move it away)`);
    }
  }
}

/** Removes `.<name>.tmp-*` / `.<name>.trash-*` siblings left by runs that are no longer alive (or by this one). */
async function cleanLeftovers(dir: string, fs: DirFs): Promise<void> {
  const prefix = `.${basename(dir)}.`;
  let names: string[];
  try {
    names = await fsp.readdir(dirname(dir));
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^(?:tmp|trash)-(\d+)-\d+-\d+$/.exec(n.startsWith(prefix) ? n.slice(prefix.length) : "");
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !pidAlive(pid)) await fs.rm(join(dirname(dir), n));
  }
}

/** Whether two paths name one existing file (the same device and inode: links and other spellings too). */
export async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([fsp.stat(a), fsp.stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false; // one of them does not exist (yet)
  }
}

/** A file being written through a temporary sibling (see openAtomicWriter). */
export interface AtomicWriter {
  /** Appends text (buffered). */
  write: (s: string) => Promise<void>;
  /** Flushes, syncs and renames the temporary file into place. */
  close: () => Promise<void>;
  /** Removes the temporary file; the target is left as it was. */
  abort: () => Promise<void>;
}

/** Writes a text stream to a temporary file and renames it into place when `close()` succeeds; never into a checkpoint directory. */
export async function openAtomicWriter(path: string): Promise<AtomicWriter> {
  // a directory cannot be replaced by a file: say so before anything is written, not at the rename
  if ((await fsp.stat(path).catch(() => null))?.isDirectory()) throw new Error(`cannot write ${path}: it is a directory`);
  await refuseInsideCheckpoint(path);
  const tmp = tempName(path, "tmp");
  let fh: Awaited<ReturnType<typeof fsp.open>>;
  writing.add(tmp);
  try {
    fh = await fsp.open(tmp, "w");
  } catch (e) {
    writing.delete(tmp);
    throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // A path ending in .gz is written gzipped (one member, streamed): the compressed chunks go to the
  // file one after another, each write awaited before the next, as FileHandle.write requires.
  const gz = path.endsWith(".gz") ? createGzip() : null;
  /**
   * Writes all of `data` to the temporary file. A write may take fewer bytes than it was given (a
   * disk filling up), so the rest is written again until it is all taken; a failure (a full disk)
   * names the file being written. Taking the short count for the whole had left a quietly truncated
   * file in place.
   */
  const put = async (data: string | Buffer): Promise<void> => {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    try {
      for (let at = 0; at < bytes.length; ) {
        const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
        if (bytesWritten <= 0) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
        at += bytesWritten;
      }
    } catch (e) {
      throw new Error(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  let written: Promise<unknown> = Promise.resolve();
  gz?.on("data", (c: Buffer) => {
    written = written.then(() => put(c));
    written.catch(() => undefined); // a failed write (a full disk) is thrown by close, not left unhandled meanwhile
  });
  let buf = "";
  const flush = async (): Promise<void> => {
    if (!buf) return;
    const s = buf;
    buf = "";
    if (!gz) await put(s);
    else if (!gz.write(s)) await once(gz, "drain");
  };
  return {
    write: async (s: string) => {
      buf += s;
      if (buf.length > 1 << 20) await flush();
    },
    close: async () => {
      await flush();
      if (gz) {
        const ended = once(gz, "end");
        gz.end();
        await ended;
      }
      await written;
      await fh.close();
      await fsp.rename(tmp, path);
      writing.delete(tmp);
    },
    abort: async () => {
      gz?.destroy();
      await written.catch(() => undefined);
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      writing.delete(tmp);
    },
  };
}
