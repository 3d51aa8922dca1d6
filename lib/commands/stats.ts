/** STATS: the server's counters as `key value` lines (SPEC §4). */
import { dataLines } from "../protocol.ts";
import { type Command, expectArgs } from "./mod.ts";

/** `STATS`: counters and gauges, integers only. */
export const STATS: Command = {
  name: "STATS",
  usage: ["STATS"],
  summary: "server counters as key value lines",
  run(request, { server }) {
    expectArgs(request.args(), { min: 0 }, "STATS takes no arguments");
    const s = server.stats;
    const pairs: Array<[string, number]> = [
      ["uptime_s", s.uptimeSeconds],
      ["max_running", server.maxRunning],
      ["running", server.running()],
      ["queued", server.queued()],
      ["accepted_total", s.accepted_total],
      ["served_total", s.served_total],
      ["rejected_total", s.rejected_total],
      ["timeouts_total", s.timeouts_total],
      ["commands_total", s.commands_total],
      ["bytes_in", s.bytes_in],
      ["bytes_out", s.bytes_out],
    ];
    for (const source of server.statsSources) pairs.push(...source());
    return dataLines(pairs.map(([key, value]) => `${key} ${value}`));
  },
};
