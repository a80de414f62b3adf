/**
 * Ali-CCP, the ESMM paper's public dataset, in its raw release format (Alibaba, Tianchi dataset 408).
 *
 * sample_skeleton_{train,test}.csv:  sample_id, click, conversion, common_feature_index, feature_num, feature_list
 * common_features_{train,test}.csv:  common_feature_index, feature_num, feature_list
 * feature_list: entries separated by \x01; each entry is  field \x02 id \x03 value.
 * The per-user ("common") features are joined to each impression through common_feature_index.
 *
 * The paper's 23 fields: user profile (single-valued) 101, 121, 122, 124, 125, 126, 127, 128, 129;
 * item 205, 206, 207, 216; context 301; and weighted bags: the user's 14-day behaviour on categories,
 * shops, brands and intention nodes (109_14, 110_14, 127_14, 150_14), the item's intention nodes (210)
 * and the four user x item crosses (508, 509, 702, 853). The entry's value is the bag weight.
 */
import { DataError, parseDecimal, type RawRow, type Schema } from "./schema.js";

/** The single-valued fields of the Ali-CCP raw release, by feature-field id. */
export const ALICCP_SINGLE = ["101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207", "216", "301"] as const;
/** The multi-valued fields of the Ali-CCP raw release, by feature-field id. */
export const ALICCP_MULTI = ["109_14", "110_14", "127_14", "150_14", "210", "508", "509", "702", "853"] as const;

/** The schema of Ali-CCP raw rows: the fields above, and the click and conversion labels. */
export function aliccpSchema(): Schema {
  return {
    click: "click",
    conversion: "conversion",
    categorical: [...ALICCP_SINGLE],
    multi: ALICCP_MULTI.map((name) => ({ name, pooling: "sum" as const })),
    dense: [],
    user: "101",
    truePctr: null,
    truePcvr: null,
  };
}

/** Parsed features of one feature_list: field -> tokens and weights. */
export type FeatureMap = Map<string, { tokens: string[]; weights: number[] }>;

/** Parses `field\x02id\x03value` entries separated by \x01. `declared` is the feature_num column. */
export function parseFeatureList(s: string, declared: number, file: string, line: number, column: string): FeatureMap {
  const out: FeatureMap = new Map();
  const entries = s === "" ? [] : s.split("\x01");
  if (entries.length !== declared) throw new DataError(file, line, column, `feature_num says ${declared} entries, the list has ${entries.length}`);
  for (const e of entries) {
    const a = e.indexOf("\x02");
    const b = e.indexOf("\x03", a + 1);
    if (a <= 0 || b < 0) throw new DataError(file, line, column, `feature entry "${printable(e)}" is not field\\x02id\\x03value`);
    const field = e.slice(0, a);
    const id = e.slice(a + 1, b);
    const w = parseDecimal(e.slice(b + 1));
    if (id === "" || !Number.isFinite(w)) throw new DataError(file, line, column, `feature entry "${printable(e)}" has a bad id or value`);
    let f = out.get(field);
    if (!f) out.set(field, (f = { tokens: [], weights: [] }));
    f.tokens.push(id);
    f.weights.push(w);
  }
  return out;
}

function printable(s: string): string {
  return s.replace(/\x01/g, "\\x01").replace(/\x02/g, "\\x02").replace(/\x03/g, "\\x03").slice(0, 80);
}

function count(s: string, file: string, line: number, column: string): number {
  if (!/^\d+$/.test(s)) throw new DataError(file, line, column, `"${s}" is not a count`); // digits only: not "", "0x1" or "-1"
  return Number(s);
}

/** One common_features line -> [index, features]. */
export function parseCommonLine(line: string, file: string, lineNo: number): [string, FeatureMap] {
  const cells = line.replace(/\r$/, "").split(",");
  if (cells.length !== 3) throw new DataError(file, lineNo, null, `${cells.length} columns, expected 3 (common_feature_index, feature_num, feature_list)`);
  if (cells[0] === "") throw new DataError(file, lineNo, "common_feature_index", "empty index");
  return [cells[0]!, parseFeatureList(cells[2]!, count(cells[1]!, file, lineNo, "feature_num"), file, lineNo, "feature_list")];
}

/**
 * One sample_skeleton line joined with its common features -> RawRow, or null for the rows the paper
 * drops (a conversion without a click): the caller counts those.
 */
export function parseSkeletonLine(line: string, common: ReadonlyMap<string, FeatureMap>, file: string, lineNo: number): RawRow | null {
  const cells = line.replace(/\r$/, "").split(",");
  if (cells.length !== 6) throw new DataError(file, lineNo, null, `${cells.length} columns, expected 6 (sample_id, click, conversion, common_feature_index, feature_num, feature_list)`);
  const label = (i: number, name: string): number => {
    if (cells[i] !== "0" && cells[i] !== "1") throw new DataError(file, lineNo, name, `label "${cells[i]}" is not 0 or 1`);
    return cells[i] === "1" ? 1 : 0;
  };
  const click = label(1, "click");
  const conversion = label(2, "conversion");
  if (conversion === 1 && click === 0) return null;
  const own = parseFeatureList(cells[5]!, count(cells[4]!, file, lineNo, "feature_num"), file, lineNo, "feature_list");
  const shared = common.get(cells[3]!);
  if (!shared) throw new DataError(file, lineNo, "common_feature_index", `index "${cells[3]}" is not in the common features file`);
  const get = (field: string): { tokens: string[]; weights: number[] } | undefined => own.get(field) ?? shared.get(field);
  const singles = ALICCP_SINGLE.map((f) => {
    const v = get(f);
    if (!v) return ""; // absent: the out-of-vocabulary id
    if (v.tokens.length > 1) throw new DataError(file, lineNo, f, `single-valued field has ${v.tokens.length} ids`);
    return v.tokens[0]!;
  });
  const multis = ALICCP_MULTI.map((f) => {
    const v = get(f);
    return v ? { tokens: v.tokens, weights: v.weights } : { tokens: [], weights: null };
  });
  return { singles, multis, dense: [], click, conversion, user: singles[0]!, truePctr: null, truePcvr: null };
}
