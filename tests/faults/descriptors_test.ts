/**
 * Running out of descriptors (docs/protocol.md#limits-and-bad-input): the server fits its queue to its
 * limit, and when descriptors still run out, accepting pauses and resumes,
 * and nothing crashes — the metrics endpoint and the worker threads
 * included. The limit of the server process is lowered with `prlimit`
 * instead of opening tens of thousands of sockets.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { eventually, metricsBase, TestClient, TestServer } from "../helpers.ts";

/** A gauge or counter from /metrics, or undefined if the scrape fails or takes over 3 s. */
async function metric(server: TestServer, name: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${metricsBase(server)}/metrics`, {
      signal: AbortSignal.timeout(3000),
    });
    const text = await response.text();
    const match = new RegExp(`^switchboard_${name} (\\d+)$`, "m").exec(text);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** The first reply line of a connection within `ms`, or "" if none came. */
async function firstLine(conn: Deno.TcpConn, ms: number): Promise<string> {
  const buf = new Uint8Array(256);
  try {
    const n = await deadline(conn.read(buf), ms);
    return n === null ? "(closed)" : new TextDecoder().decode(buf.subarray(0, n)).split("\n")[0]!;
  } catch {
    return "";
  }
}

Deno.test("under a low descriptor limit every client is served, queued or told ERR busy: none hangs", async () => {
  await using server = await TestServer.start(["--metrics-port", "0"], {
    wrap: ["prlimit", "--nofile=256:256"],
  });
  const warning = server.log.find((l) => l.includes("descriptor limit")) ?? "";
  assertMatch(
    warning,
    /descriptor limit leaves \d+ free, below the \d+ that --max-running 64 and --queue-limit 1024/,
  );
  const queueLimit = Number(/lowered to (\d+)/.exec(warning)?.[1]);
  const clients: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 400; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await conn.write(new TextEncoder().encode("PING\n"));
      clients.push(conn);
    }
    const replies = await Promise.all(clients.map((c) => firstLine(c, 5000)));
    const served = replies.filter((r) => r === "OK PONG").length;
    const refused = replies.filter((r) => r.startsWith("ERR busy server full")).length;
    assertEquals(served, 64, "the running set is full");
    // The rest wait in the queue, and the server knows each of them.
    let queued: number | undefined;
    await eventually(
      async () => (queued = await metric(server, "queued")) !== undefined,
      "a scrape",
    );
    assertEquals(queued, Math.min(queueLimit, 400 - 64));
    assertEquals(served + refused + queued!, 400, "nobody is left unaccepted in the backlog");
  } finally {
    for (const conn of clients) conn.close();
  }
});

Deno.test("out of descriptors: accepting pauses and resumes, metrics and COUNT workers survive", async () => {
  await using server = await TestServer.start(
    ["--metrics-port", "0", "--max-running", "400", "--queue-limit", "0", "--workers", "1"],
    { wrap: ["prlimit", "--nofile=128:128"] },
  );
  using early = await TestClient.connect(server.port);
  assertEquals(await early.ask("PING"), "OK PONG");
  const flood: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    await server.waitForLog(/accepting clients paused: out of descriptors/);
    // A scrape now cannot be accepted either; it must not take the process down.
    assertEquals(await metric(server, "running"), undefined);
    // The worker threads started with the server, so a COUNT needs no new thread now.
    assertEquals(await early.ask("COUNT 0 3 0"), "OK 3");
  } finally {
    for (const conn of flood) conn.close();
  }
  await server.waitForLog(/accepting clients again/);
  using late = await TestClient.connect(server.port);
  assertEquals(await deadline(late.ask("PING"), 10_000), "OK PONG");
  let running: number | undefined;
  await eventually(
    async () => (running = await metric(server, "running")) !== undefined,
    "a scrape",
  );
  assert(running !== undefined && running >= 2, `running ${running}`);
  assertEquals(await early.ask("PING"), "OK PONG", "the server process is still up");
});

Deno.test("out of descriptors, FILE GET of a file that exists is ERR unavailable, not not-found; it is served once descriptors are back", async () => {
  await using server = await TestServer.start(
    ["--max-running", "400", "--queue-limit", "0"],
    { wrap: ["prlimit", "--nofile=128:128"] },
  );
  using c = await TestClient.connect(server.port);
  assertMatch(await c.put("kept.txt", "still here"), /^OK stored kept.txt 10 /);
  const flood: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    await server.waitForLog(/accepting clients paused: out of descriptors/);
    assertMatch(await c.ask("FILE GET kept.txt"), /^ERR unavailable /);
    assertMatch(await c.ask("FILE LIST"), /^ERR unavailable /);
    assertMatch(await c.ask("FILE GET missing.txt"), /^ERR not-found /, "a missing file still is");
  } finally {
    for (const conn of flood) conn.close();
  }
  await eventually(
    async () => await c.ask("FILE GET kept.txt") === "DATA 10\nstill here",
    "FILE GET to succeed again",
  );
  assertEquals(await c.ask("PING"), "OK PONG");
});
