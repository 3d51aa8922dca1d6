/** End to end: `--metrics-port`, Prometheus text and /healthz (docs/observability.md). */
import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { repoPath, run, SERVER_PERMISSIONS, TestClient, TestServer } from "./helpers.ts";

/** One parsed scrape: samples by `name{labels}`, and the declared type of each family. */
interface Scrape {
  samples: Map<string, number>;
  types: Map<string, string>;
}

const SAMPLE = /^([a-z_][a-z0-9_]*)(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$/;
const LABELS = /^\{([a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*)\}$/;

/** `value`, or a failed test saying `what` is missing (std's assert has no types to narrow with). */
function must<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(what);
  return value;
}

/** Parses the text format line by line, failing on any line that is not HELP, TYPE or a sample. */
function parseScrape(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helped = new Set<string>();
  assert(text.endsWith("\n"), "the body ends with a newline");
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-z_]+) \S.*$/.exec(line);
    if (help) {
      helped.add(help[1]!);
      continue;
    }
    const type = /^# TYPE ([a-z_]+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      assert(!types.has(type[1]!), `${type[1]} has two TYPE lines`);
      assert(helped.has(type[1]!), `${type[1]} has TYPE but no HELP before it`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = must(SAMPLE.exec(line), `not a valid exposition line: ${JSON.stringify(line)}`);
    const [, name, labels = ""] = sample;
    if (labels) assertMatch(labels, LABELS);
    const family = name!.replace(/_(bucket|sum|count)$/, "");
    assert(
      types.has(name!) || types.get(family) === "histogram",
      `${name} has no TYPE line before it`,
    );
    assert(name!.startsWith("switchboard_"), `${name} lacks the switchboard_ prefix`);
    samples.set(name! + labels, Number(sample[3]));
  }
  return { samples, types };
}

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseScrape(await response.text());
}

function value(scrape: Scrape, key: string): number {
  return must(scrape.samples.get(key), `no sample ${key}`);
}

async function startWithMetrics(args: string[] = []) {
  const server = await TestServer.start(["--metrics-port", "0", ...args]);
  const line = must(
    server.log.find((l) => l.includes("metrics on ")),
    "the metrics address is logged before the listening line",
  );
  const base = must(/metrics on (http:\/\/\S+)\/metrics/.exec(line)?.[1], "metrics URL");
  return { server, base };
}

Deno.test("metrics: every line parses, with the documented names and types", async () => {
  const { server, base } = await startWithMetrics();
  await using _ = server;
  const first = await scrape(`${base}/metrics`);
  const expected: Record<string, string> = {
    switchboard_running: "gauge",
    switchboard_queued: "gauge",
    switchboard_max_running: "gauge",
    switchboard_accepted_total: "counter",
    switchboard_served_total: "counter",
    switchboard_rejected_total: "counter",
    switchboard_timeouts_total: "counter",
    switchboard_commands_total: "counter",
    switchboard_bytes_in_total: "counter",
    switchboard_bytes_out_total: "counter",
    switchboard_jobs_total: "counter",
    switchboard_hashes_total: "counter",
    switchboard_denied_total: "counter",
    switchboard_auth_failures_total: "counter",
    switchboard_tls_failures_total: "counter",
    switchboard_proxy_errors_total: "counter",
    switchboard_request_duration_seconds: "histogram",
  };
  for (const [name, type] of Object.entries(expected)) {
    assertEquals(first.types.get(name), type, name);
  }
  assertEquals(value(first, "switchboard_max_running"), 64);
  assertEquals(value(first, "switchboard_commands_total"), 0);
});

Deno.test("metrics listen on 127.0.0.1 when the server is exposed with --host 0.0.0.0", async () => {
  const { server, base } = await startWithMetrics(["--host", "0.0.0.0", "--insecure"]);
  await using _ = server;
  assertMatch(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(base).port);
  // Nothing answers on the other loopback addresses: the endpoint is bound to 127.0.0.1 only.
  await assertRejects(() => Deno.connect({ hostname: "127.0.0.2", port }));
  assertEquals(value(await scrape(`${base}/metrics`), "switchboard_denied_total"), 0);
});

Deno.test("metrics: counters and the per-command histogram move with requests", async () => {
  const { server, base } = await startWithMetrics();
  await using _ = server;
  const before = await scrape(`${base}/metrics`);
  {
    using client = await TestClient.connect(server.port);
    for (let i = 0; i < 3; i++) assertEquals(await client.ask("PING"), "OK PONG");
    assertEquals(await client.ask("calc add 2 3"), "OK 5");
    assertMatch(await client.ask("NOPE"), /^ERR unknown-command/);
    assertEquals(await client.ask("QUIT"), "OK bye");
  }
  const after = await scrape(`${base}/metrics`);
  assertEquals(
    value(after, "switchboard_commands_total") - value(before, "switchboard_commands_total"),
    6,
  );
  assert(value(after, "switchboard_bytes_in_total") > value(before, "switchboard_bytes_in_total"));
  assert(
    value(after, "switchboard_bytes_out_total") > value(before, "switchboard_bytes_out_total"),
  );
  assertEquals(value(after, "switchboard_accepted_total"), 1);
  const h = "switchboard_request_duration_seconds";
  assertEquals(value(after, `${h}_count{command="PING"}`), 3);
  assertEquals(value(after, `${h}_count{command="CALC"}`), 1);
  assertEquals(value(after, `${h}_count{command="QUIT"}`), 1);
  // An unknown word is not a label of its own: raw client input never becomes a series.
  assertEquals(value(after, `${h}_count{command="unknown"}`), 1);
  assert(![...after.samples.keys()].some((k) => k.includes("NOPE")));
  // Buckets are cumulative and end at +Inf == count.
  const buckets = [...after.samples.entries()]
    .filter(([k]) => k.startsWith(`${h}_bucket{command="PING",`))
    .map(([, v]) => v);
  assertEquals(buckets.length, 17);
  for (let i = 1; i < buckets.length; i++) assert(buckets[i]! >= buckets[i - 1]!);
  assertEquals(buckets.at(-1), 3);
  assert(value(after, `${h}_sum{command="PING"}`) > 0);
});

Deno.test("metrics: running and queued follow clients as they connect and leave", async () => {
  const { server, base } = await startWithMetrics(["--max-running", "1"]);
  await using _ = server;
  const gauges = async () => {
    const s = await scrape(`${base}/metrics`);
    return [value(s, "switchboard_running"), value(s, "switchboard_queued")];
  };
  assertEquals(await gauges(), [0, 0]);
  const first = await TestClient.connect(server.port);
  assertEquals(await first.ask("PING"), "OK PONG");
  assertEquals(await gauges(), [1, 0]);
  using second = await TestClient.connect(server.port);
  await server.waitForLog(/client queued/);
  assertEquals(await gauges(), [1, 1]);
  first.close();
  assertEquals(await second.ask("PING"), "OK PONG");
  assertEquals(await gauges(), [1, 0]);
});

Deno.test("healthz answers 200 while serving and 503 once shutdown begins", async () => {
  const { server, base } = await startWithMetrics(["--workers", "1"]);
  await using _ = server;
  const ok = await fetch(`${base}/healthz`);
  assertEquals([ok.status, await ok.text()], [200, "ok\n"]);
  const missing = await fetch(`${base}/nothing`);
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  // A long COUNT keeps the drain going while we look.
  using busy = await TestClient.connect(server.port);
  await busy.send("COUNT 0 40 50");
  await server.waitForLog(/client started/);
  server.signal("SIGTERM");
  await server.waitForLog(/shutting down/);
  const draining = await fetch(`${base}/healthz`);
  assertEquals([draining.status, await draining.text()], [503, "shutting down\n"]);
  // Two seconds of work on one worker thread: give it room on a loaded machine.
  assertEquals(await busy.readText({ timeoutMs: 60_000 }), "OK 40");
  assertEquals((await server.exited()).code, 0);
});

Deno.test("healthz answers 200 while every slot and queue place is taken", async () => {
  const { server, base } = await startWithMetrics(["--max-running", "1", "--queue-limit", "1"]);
  await using _ = server;
  using running = await TestClient.connect(server.port);
  assertEquals(await running.ask("PING"), "OK PONG");
  using queued = await TestClient.connect(server.port);
  await queued.send("PING");
  using turnedAway = await TestClient.connect(server.port);
  assertMatch(await turnedAway.ask("PING"), /^ERR busy server full/);
  const health = await fetch(`${base}/healthz`);
  assertEquals([health.status, await health.text()], [200, "ok\n"]);
});

Deno.test("a metrics port already in use is one clear line and exit 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const out = await run(Deno.execPath(), [
      "run",
      "--no-prompt",
      ...SERVER_PERMISSIONS,
      repoPath("server.ts"),
      "--port",
      "0",
      "--data",
      `${dir}/data`,
      "--root",
      `${dir}/files`,
      "--metrics-port",
      String(taken.addr.port),
    ]);
    assertEquals(out.code, 1);
    assertEquals(
      out.stderr.trim(),
      `error: cannot serve metrics on 127.0.0.1:${taken.addr.port}: address already in use`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
