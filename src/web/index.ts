/** esmm-ts/web: the browser-only half (Web Workers for data-parallel training and scoring). */
export * from "./parallel.js";
