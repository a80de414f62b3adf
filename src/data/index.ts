export { AppStoreSimulator, SINGLE_FIELDS, MULTI_FIELDS, DENSE_FEATURES, denseStats } from "./simulator.js";
export type { SimulatorOptions, SimRow } from "./simulator.js";
export { DataError, FieldMap, VocabBuilder, Preprocessor, BatchBuilder, fnv1a, safeName } from "./schema.js";
export type { Schema, RawRow, Mapping, MultiColumn } from "./schema.js";
export { CsvRowParser, splitCsvLine, csvCell, parseBag } from "./csv.js";
export type { CsvOptions } from "./csv.js";
export { aliccpSchema, parseFeatureList, parseCommonLine, parseSkeletonLine, ALICCP_SINGLE, ALICCP_MULTI } from "./aliccp.js";
export type { FeatureMap } from "./aliccp.js";
