/** STATS: the server's counters as `key value` lines (docs/protocol.md#commands). */
import { dataLines } from "../protocol/mod.ts";
import { type Command, expectArgs } from "./command.ts";
import { declared } from "./catalog.ts";

/** `STATS`: counters and gauges, integers only. */
export const STATS: Command = {
  ...declared("STATS"),
  usage: ["STATS"],
  summary: "server counters as key value lines",
  run(request, { services }) {
    expectArgs(request.args(), { min: 0 }, "STATS takes no arguments");
    return dataLines([...services.counters()].map(([key, value]) => `${key} ${value}`));
  },
};
