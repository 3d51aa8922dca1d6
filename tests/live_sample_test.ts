/** The live page's sample (docs/observability.md#live-view) and `client top`'s view of one, as logic. */
import { assertEquals, assertMatch } from "@std/assert";
import {
  bucketBoundMs,
  type LiveConnection,
  MAX_ROWS,
  sampleServer,
} from "../lib/server/observability/live_sample.ts";
import { DURATION_BUCKETS_S, RequestDurations } from "../lib/server/observability/metrics.ts";
import { ratesOf, screenLines, type TopSample, visible } from "../lib/client/top_view.ts";

function connection(id: number, fields: Partial<LiveConnection> = {}): LiveConnection {
  return {
    id,
    address: "127.0.0.1",
    port: 40_000 + id,
    identity: undefined,
    stateSince: performance.now(),
    activity: { current: undefined, currentSince: 0, last: undefined },
    ...fields,
  };
}

Deno.test("live sample: running first then the queue in order, with names, commands and totals", () => {
  const now = performance.now();
  const entries = [
    {
      handler: connection(1, {
        identity: { name: "Ada" },
        activity: { current: "COUNT", currentSince: now - 1500, last: "COUNT" },
      }),
      state: "running" as const,
    },
    { handler: connection(2, { stateSince: now - 3000 }), state: "queued" as const },
    { handler: connection(3), state: "queued" as const },
  ];
  const durations = new RequestDurations();
  durations.observe("PING", 0.0002);
  const sample = sampleServer({
    maxRunning: 1,
    connections: () => entries,
    counters: () => [["commands_total", 7]],
    durations,
  }, 123);
  assertEquals([sample.running, sample.queued, sample.maxRunning, sample.startedAt], [
    1,
    2,
    1,
    123,
  ]);
  assertEquals(sample.connections.map((row) => [row.id, row.state, row.name]), [
    [1, "running", "Ada"],
    [2, "queued", null],
    [3, "queued", null],
  ]);
  assertEquals(sample.connections[0]!.command, "COUNT");
  assertEquals(sample.connections[0]!.commandMs >= 1500, true);
  assertEquals(sample.connections[1]!.stateMs >= 3000, true, "the wait so far");
  assertEquals(sample.connections[2]!.last, null);
  assertEquals(sample.counters, { commands_total: 7 });
  assertEquals(sample.latency.map((row) => [row.command, row.count, row.p50]), [["PING", 1, 0.25]]);
  // The bucket counts, for the page's window: 0.2 ms falls in the second bucket (≤ 0.25 ms).
  assertEquals(sample.latency[0]!.counts.slice(0, 4), [0, 1, 0, 0]);
  assertEquals(sample.latency[0]!.counts.length, sample.bucketsMs.length + 1);
  assertEquals(sample.bucketsMs[1], 0.25);
});

Deno.test("live sample: at most MAX_ROWS rows, while the totals count every connection", () => {
  const entries = Array.from({ length: MAX_ROWS + 10 }, (_, i) => ({
    handler: connection(i),
    state: i < 3 ? "running" as const : "queued" as const,
  }));
  const sample = sampleServer({
    maxRunning: 3,
    connections: () => entries,
    counters: () => [],
    durations: undefined,
  }, 0);
  assertEquals(sample.connections.length, MAX_ROWS);
  assertEquals([sample.running, sample.queued], [3, MAX_ROWS + 7]);
  assertEquals(sample.latency, []);
});

Deno.test("live sample: a percentile is the upper bound of the bucket it falls in, null past 10 s", () => {
  const counts = new Array(DURATION_BUCKETS_S.length + 1).fill(0);
  counts[0] = 90; // ≤ 0.1 ms
  counts[5] = 9; // ≤ 5 ms
  counts[DURATION_BUCKETS_S.length] = 1; // > 10 s
  assertEquals(bucketBoundMs(counts, 100, 0.5), 0.1);
  assertEquals(bucketBoundMs(counts, 100, 0.9), 0.1);
  assertEquals(bucketBoundMs(counts, 100, 0.99), 5);
  assertEquals(bucketBoundMs(counts, 100, 1), null);
});

function topSample(at: number, commands: number): TopSample {
  return {
    at,
    stats: { uptime_s: 5, max_running: 3, running: 2, queued: 1, commands_total: commands },
    connections: [
      {
        id: 1,
        address: "::1",
        port: 5000,
        state: "running",
        name: "Ada\u202eevil",
        connected_since: new Date(at - 2000).toISOString(),
      },
      {
        id: 2,
        address: "127.0.0.1",
        port: 5001,
        state: "queued",
        name: null,
        connected_since: new Date(at).toISOString(),
      },
    ],
  };
}

Deno.test("client top: rates per second of the counters only, none for the first sample", () => {
  const first = topSample(10_000, 100);
  const second = topSample(12_000, 700);
  assertEquals(ratesOf(first, undefined), {});
  assertEquals(ratesOf(second, first), { commands_total: 300 });
});

Deno.test("client top: the screen fits the terminal, with slots, counters and rows", () => {
  const sample = topSample(12_000, 700);
  const lines = screenLines(sample, { commands_total: 300 }, {
    columns: 60,
    rows: 30,
    where: "h:1",
  });
  for (const line of lines) assertEquals(line.length <= 60, true, `too wide: ${line}`);
  assertEquals(lines[2], "running 2 of 3  [##-]");
  assertMatch(lines.find((l) => l.startsWith("commands_total"))!, /700\s+300$/);
  const wide = screenLines(sample, {}, { columns: 100, rows: 30, where: "h:1" });
  assertMatch(
    wide.find((l) => l.includes("[::1]:5000"))!,
    /running\s+Ada\\u\{202e\}evil\s+2\.0 s$/,
  );
  const short = screenLines(sample, {}, { columns: 80, rows: 10, where: "h:1" });
  assertEquals(short.length <= 10, true, "no more lines than the terminal has");
  assertEquals(short.at(-1), "   …and 2 more");
  assertEquals(visible("a\u2028b\u2066c"), "a\\u{2028}b\\u{2066}c");
});
