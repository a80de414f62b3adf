/**
 * Token -> dense id (0, 1, 2, ... in the order tokens are added), for vocabularies of millions of
 * tokens. Browser-safe.
 *
 * Why not just a Map<string, number>: recommender logs name users, items and shops by integer ids,
 * and a field can hold a million of them. With that many keys, one `Map.get` of a freshly read token
 * costs several cache misses (the hash bucket, the entry, the stored key's string to compare
 * against): Node 20 took about 560 ns a lookup at 1M distinct keys against about 30 ns at 100, and
 * reading a training file is one lookup per token. So a token that is a canonical decimal integer
 * below 10^9 ("0", "7", "123456"; not "007", "-1", "+3" or "1e3", which are other strings) is kept
 * by its value in an open-addressing table of two Int32Arrays: one probe into a flat array, with no
 * string object to follow. Every other token goes to a Map. Which side a token takes is decided by
 * its text alone, so "7" and "07" stay two tokens, as they are two strings.
 */
export class TokenIndex {
  /** Integer tokens: value + 1 per slot (0 = empty), and the id stored beside it. */
  private keys = new Int32Array(16);
  private vals = new Int32Array(16);
  private shift = 28; // 32 - log2(capacity)
  private ints = 0;
  private readonly others = new Map<string, number>();
  /** Tokens added so far; the next one added gets this id. */
  size = 0;
  /** With `{ keepTokens: true }`: each token by its id. */
  readonly tokens: string[] | null;
  private readonly copy: (t: string) => string;

  /**
   * `keepTokens` lists the tokens by id. `ownStrings: true` says the tokens given are strings of their
   * own (a saved vocabulary's, parsed from JSON), so a new one is kept as it is; by default a new long
   * token is copied first (see `detached`), since a token cut from a line would keep the line alive.
   */
  constructor(opts: { keepTokens?: boolean; ownStrings?: boolean } = {}) {
    this.tokens = opts.keepTokens ? [] : null;
    this.copy = opts.ownStrings ? (t) => t : detached;
  }

  /** The token's id, or -1 if it was never added. */
  get(token: string): number {
    const v = intKey(token);
    if (v < 0) return this.others.get(token) ?? -1;
    const keys = this.keys;
    const mask = keys.length - 1;
    for (let s = slotOf(v, this.shift); ; s = (s + 1) & mask) {
      const k = keys[s]!;
      if (k === v + 1) return this.vals[s]!;
      if (k === 0) return -1;
    }
  }

  /** The token's id, adding it (as id `size`) if it is new. */
  add(token: string): number {
    const v = intKey(token);
    if (v < 0) {
      const i = this.others.get(token);
      if (i !== undefined) return i;
      const own = this.copy(token);
      this.others.set(own, this.size);
      this.tokens?.push(own);
      return this.size++;
    }
    if (2 * (this.ints + 1) > this.keys.length) this.grow();
    const keys = this.keys;
    const mask = keys.length - 1;
    for (let s = slotOf(v, this.shift); ; s = (s + 1) & mask) {
      const k = keys[s]!;
      if (k === v + 1) return this.vals[s]!;
      if (k === 0) {
        keys[s] = v + 1;
        this.vals[s] = this.size;
        this.ints++;
        this.tokens?.push(token); // nine characters at most: a string of its own already
        return this.size++;
      }
    }
  }

  /** Doubles the integer table (kept at most half full, so that probes stay short) and puts every entry back. */
  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.keys = new Int32Array(oldKeys.length * 2);
    this.vals = new Int32Array(oldKeys.length * 2);
    this.shift--;
    const mask = this.keys.length - 1;
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k === 0) continue;
      let s = slotOf(k - 1, this.shift);
      while (this.keys[s] !== 0) s = (s + 1) & mask;
      this.keys[s] = k;
      this.vals[s] = oldVals[i]!;
    }
  }
}

/**
 * A copy of a token that holds only its own characters. V8 makes a longer piece of a string (13
 * characters or more, such as a hashed id cut from a CSV line) a view into the whole string, so a
 * vocabulary that kept the piece kept the line: 300,000 rows of 32-character ids on 437-character lines
 * held 118 MB more heap than the same ids on short lines. A JSON round trip copies the characters
 * into a string of their own, exactly (lone surrogates included), so the line can go; it runs once per
 * new token, not per lookup.
 */
function detached(t: string): string {
  return t.length < 13 ? t : (JSON.parse(JSON.stringify(t)) as string);
}

/** Fibonacci hashing: the top bits of value * 2^32 / golden ratio spread consecutive ids over the table. */
function slotOf(v: number, shift: number): number {
  return Math.imul(v + 1, 0x9e3779b1) >>> shift;
}

/** A token's value if it is a canonical decimal integer below 10^9 (no sign, no leading zero but "0" itself), else -1. */
function intKey(t: string): number {
  const n = t.length;
  if (n === 0 || n > 9) return -1;
  let d = t.charCodeAt(0) - 48;
  if (d < 0 || d > 9 || (d === 0 && n > 1)) return -1;
  let v = d;
  for (let i = 1; i < n; i++) {
    d = t.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
