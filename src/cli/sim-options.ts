/**
 * The simulator's rate options, shared by `esmm generate` and `esmm demo`: one spec, one parser, so the
 * two commands cannot drift apart in names, defaults or checks.
 */
import { num, type OptionSpec, type Parsed } from "./args.js";

export function simulatorRateOptions(): Record<string, OptionSpec> {
  return {
    ctr: { type: "string", help: "target click rate of the simulator (default 0.05)" },
    cvr: { type: "string", help: "target conversion rate after a click (default 0.12)" },
    bias: { type: "string", help: "strength of the selection-bias drivers (default 1; 0 turns them off)" },
  };
}

export function simulatorRates(p: Parsed): { ctr: number; cvr: number; bias: number } {
  return {
    ctr: num(p, "ctr", 0.05, (x) => x > 0 && x < 1, "in (0, 1)"),
    cvr: num(p, "cvr", 0.12, (x) => x > 0 && x < 1, "in (0, 1)"),
    bias: num(p, "bias", 1, (x) => x >= 0, ">= 0"),
  };
}
