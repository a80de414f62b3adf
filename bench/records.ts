/**
 * What the scoring benchmarks score: a ScoringModel with the simulator's columns and hashed ids
 * (untrained weights: the speed does not depend on them), and records of text and numbers as an app
 * would hold them (ids spread over 1,000 values a column).
 */
import { Esmm, Preprocessor, ScoringModel, type Mapping, type Schema } from "../src/index.js";

export const USER_COLUMNS = ["user_id", "age", "gender", "device", "region", "activity"];
export const APP_COLUMNS = ["app_id", "category", "developer", "price", "rating", "size"];
const CONTEXT_COLUMNS = ["position", "hour", "page"];
const CATEGORICAL = [...USER_COLUMNS, ...APP_COLUMNS, ...CONTEXT_COLUMNS];

/** A fresh scoring model over those columns (the same weights every call: the model's default seed). */
export function hashedScoringModel(): ScoringModel {
  const schema: Schema = {
    click: "click", conversion: "conversion", categorical: CATEGORICAL, multi: [{ name: "recent_cats", pooling: "sum" }],
    dense: ["app_downloads", "user_tenure"], user: "user_id", truePctr: null, truePcvr: null,
  };
  const mappings: Mapping[] = [...CATEGORICAL, "recent_cats"].map(() => ({ kind: "hash", buckets: 4096 }));
  const pre = new Preprocessor(schema, mappings, [0, 0], [1, 1]);
  return new ScoringModel(new Esmm({ preset: "esmm-mmoe", fields: pre.fieldSpecs(), dense: schema.dense, denseMean: [0, 0], denseStd: [1, 1] }), pre);
}

/** Record i: every column the model reads. */
export function appRecord(i: number): Record<string, string | number> {
  const r: Record<string, string | number> = {};
  CATEGORICAL.forEach((c, k) => (r[c] = String((i * 7919 + k * 104_729) % 1000)));
  r.recent_cats = `${i % 24}:2|${(i * 5) % 24}`;
  r.app_downloads = (i % 100) / 10;
  r.user_tenure = i % 365;
  return r;
}
