export { AppStoreSimulator, SINGLE_FIELDS, MULTI_FIELDS, DENSE_FEATURES, denseStats } from "./simulator.js";
export type { SimulatorOptions, SimRow } from "./simulator.js";
