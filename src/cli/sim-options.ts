/**
 * The simulator's options, shared by `esmm generate`, `esmm compare`, `esmm abtest` and `esmm demo`: one
 * spec, one parser, so the commands cannot drift apart in names, defaults or checks. The rates shape
 * the impressions; `--users` and `--apps` size the world, and so how often each id is seen in a file
 * of a given length (a world of 200,000 users seen in 100,000 impressions is as sparse as a real log).
 */
import { int, num, type OptionSpec, type Parsed } from "./args.js";

export function simulatorRateOptions(): Record<string, OptionSpec> {
  return {
    ctr: { type: "string", help: "target click rate of the simulator (default 0.05)" },
    cvr: { type: "string", help: "target conversion rate after a click (default 0.12)" },
    bias: { type: "string", help: "strength of the selection-bias drivers (default 1; 0 turns them off)" },
    users: { type: "string", help: "number of users in the simulated world (default 20000)" },
    apps: { type: "string", help: "number of apps in the simulated world (default 4000)" },
  };
}

/** The rates and the world's size, as AppStoreSimulator takes them. */
export function simulatorRates(p: Parsed): { ctr: number; cvr: number; bias: number; users: number; apps: number } {
  return {
    ctr: num(p, "ctr", 0.05, (x) => x > 0 && x < 1, "in (0, 1)"),
    cvr: num(p, "cvr", 0.12, (x) => x > 0 && x < 1, "in (0, 1)"),
    bias: num(p, "bias", 1, (x) => x >= 0, ">= 0"),
    users: int(p, "users", 20_000, 1),
    apps: int(p, "apps", 4_000, 1),
  };
}
