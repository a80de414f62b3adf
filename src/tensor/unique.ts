/**
 * Numbering ids by first appearance in O(n), without sorting or hashing: a lookup table `slot` of one
 * entry per possible id (length V, all -1 between uses) holds each id's number while a pass runs, and
 * is reset, id by id, when the pass ends. Used to find a batch's distinct ids per field (the per-id
 * first layers) and to coalesce a sparse gradient's repeated rows.
 */
export class FirstAppearance {
  private slot = new Int32Array(0);
  private ids = new Int32Array(16);
  /** Distinct ids so far in this pass. */
  count = 0;

  /** Starts a pass over ids in [0, V). */
  begin(V: number): void {
    if (this.slot.length < V) this.slot = new Int32Array(V).fill(-1);
    this.count = 0;
  }

  /** The number of `id` in this pass: 0 for the first distinct id seen, 1 for the next, ... */
  index(id: number): number {
    let s = this.slot[id]!;
    if (s < 0) {
      s = this.count++;
      this.slot[id] = s;
      if (s >= this.ids.length) {
        const grown = new Int32Array(this.ids.length * 2);
        grown.set(this.ids);
        this.ids = grown;
      }
      this.ids[s] = id;
    }
    return s;
  }

  /** Ends the pass: the distinct ids in order of first appearance (a copy); the table is all -1 again. */
  end(): Int32Array {
    const out = this.ids.slice(0, this.count);
    for (let s = 0; s < this.count; s++) this.slot[out[s]!] = -1;
    this.count = 0;
    return out;
  }
}
