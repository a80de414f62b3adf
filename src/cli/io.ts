/** How every command talks to the terminal: results on out, messages on err (bin.ts binds them to stdout and stderr). */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether err is a terminal (a live progress line then; a line every few seconds otherwise). */
  isTTY: boolean;
  /** A terminal's live status line, rewritten in place; "" ends it. Only called when isTTY. */
  status?: (line: string) => void;
}

/** What each command module exports: its name and summary (for esmm --help), usage, options and run. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, import("./args.js").OptionSpec>;
  run: (p: import("./args.js").Parsed, io: Io) => Promise<void>;
}
