/**
 * End to end: `--threads 2` (docs/architecture.md#threads,
 * docs/protocol.md#one-manager-however-many-threads). Two listeners share
 * the port; one Manager decides for both: FIFO order and the per-address
 * limit hold across threads; WHO, STATS and ids are server-wide; the KV
 * store is one; echo mode works on every thread. Each test places its
 * clients on the threads it needs (threads_helpers.ts).
 */
import { assertEquals, assertMatch } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { parseStats, TestClient, TestServer } from "./helpers.ts";
import {
  connectOnThread,
  connectPlaced,
  type PlacedClient,
  TWO_THREADS,
} from "./threads_helpers.ts";
import { readProc } from "./procfs.ts";

/** LISTEN sockets on `port` in /proc/net/tcp (local address `0100007F:PORT`, state 0A). */
function listenersOn(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const table = readProc("/proc/net/tcp");
  return table.split("\n").filter((line) => {
    const [, local, , state] = line.trim().split(/\s+/);
    return local === `0100007F:${hexPort}` && state === "0A";
  }).length;
}

/** The reply `client` gets next, or an error naming `what` after 10 s. */
function replyOf(client: TestClient, what: string): Promise<string> {
  return deadline(client.readText(), 10_000).catch((error: unknown) => {
    throw new Error(`${what}: no reply within 10 s (${error})`);
  });
}

Deno.test("--threads 2: two listeners on the port, and each thread accepts connections", async () => {
  await using server = await TestServer.start([...TWO_THREADS]);
  server.assertLogged(/listening on 127\.0\.0\.1:\d+, max 64 running, queue 1024, 2 threads$/);
  if (Deno.build.os === "linux") assertEquals(listenersOn(server.port), 2);
  const zero = await connectOnThread(server, 0);
  const one = await connectOnThread(server, 1);
  using _zero = zero.client;
  using _one = one.client;
  assertEquals(await zero.client.ask("PING"), "OK PONG");
  assertEquals(await one.client.ask("PING"), "OK PONG");
});

Deno.test("--threads 2: WHO lists both threads' connections, ids rise in accept order, STATS adds up", async () => {
  await using server = await TestServer.start([...TWO_THREADS]);
  const placed: PlacedClient[] = [];
  for (const thread of [0, 1, 0, 1]) placed.push(await connectOnThread(server, thread));
  try {
    const ids = placed.map((p) => p.id);
    assertEquals([...ids].sort((a, b) => a - b), ids, "ids rise in accept order");
    const who = (await placed[0]!.client.ask("WHO")).split("\n").slice(1, -1);
    assertEquals(who.map((line) => Number(line.split(" ")[0])), ids);
    for (const line of who) assertMatch(line, /^\d+ 127\.0\.0\.1:\d+ running - \S+Z$/);
    const stats = parseStats(await placed[1]!.client.ask("STATS"));
    assertEquals(stats.threads, 2);
    assertEquals(stats.running, 4);
    // Every connection a thread accepted counts, the ones connectOnThread closed too.
    const accepted = server.log.filter((line) => line.includes("connection opened")).length;
    assertEquals(stats.accepted_total, accepted);
    assertEquals(stats.commands_total, 2, "WHO on one thread, STATS on the other");
  } finally {
    for (const { client } of placed) client.close();
  }
});

Deno.test("--threads 2: 12 clients behind --max-running 2 are served strictly in connect order across threads", async () => {
  await using server = await TestServer.start([...TWO_THREADS, "--max-running", "2"]);
  const running = [await connectOnThread(server, 0), await connectOnThread(server, 1)];
  const queued: PlacedClient[] = [];
  try {
    for (const { client } of running) assertEquals(await client.ask("PING"), "OK PONG");
    for (let i = 0; i < 10; i++) {
      // Alternate threads, so that each slot must cross to the other thread's waiter.
      const next = await connectOnThread(server, i % 2);
      await server.waitForLog(new RegExp(`client queued client=${next.id}$`));
      await next.client.send(`PING ${i}`);
      queued.push(next);
    }
    // Release one slot at a time: the first one running leaves, and each
    // queued client, once answered, leaves in turn. With one slot freed at
    // a time, a reply can only come from the client that got that slot.
    let leaving = running[0]!.client;
    for (const [i, next] of queued.entries()) {
      assertEquals(await leaving.ask("QUIT"), "OK bye");
      assertEquals(
        await replyOf(next.client, `queued client ${i} (thread ${next.thread})`),
        `OK ${i}`,
      );
      leaving = next.client;
    }
    assertEquals(await running[1]!.client.ask("PING"), "OK PONG");
  } finally {
    for (const { client } of [...running, ...queued]) client.close();
  }
});

Deno.test("--threads 2: --max-per-ip counts the address's connections on every thread", async () => {
  await using server = await TestServer.start([
    ...TWO_THREADS,
    "--max-per-ip",
    "1",
    "--insecure",
  ]);
  const first = await connectOnThread(server, 0);
  using _first = first.client;
  assertEquals(await first.client.ask("PING"), "OK PONG");
  // Connect until a newcomer lands on the other thread: it is refused there too.
  let refusedOnOther = false;
  for (let attempt = 0; attempt < 64 && !refusedOnOther; attempt++) {
    const next = await connectPlaced(server);
    using _next = next.client;
    assertEquals(
      await replyOf(next.client, `connection ${next.id}`),
      "ERR busy too many connections from your address",
    );
    refusedOnOther = next.thread === 1;
  }
  assertEquals(refusedOnOther, true, "a connection on thread 1 was refused");
  // Another address is someone else, on any thread.
  using other = await TestClient.connectFrom(server.port, "127.0.0.2");
  assertEquals(await other.ask("PING"), "OK PONG");
});

Deno.test("--threads 2: KV INCR from 40 connections on both threads is exact", async () => {
  await using server = await TestServer.start([...TWO_THREADS]);
  const clients: PlacedClient[] = [];
  for (let i = 0; i < 40; i++) clients.push(await connectPlaced(server));
  try {
    for (const thread of [0, 1]) {
      if (!clients.some((c) => c.thread === thread)) {
        clients.push(await connectOnThread(server, thread));
      }
    }
    const each = 25;
    await Promise.all(clients.map(async ({ client }) => {
      for (let i = 0; i < each; i++) await client.ask("KV INCR hits");
    }));
    assertEquals(await clients[0]!.client.ask("KV GET hits"), `OK ${clients.length * each}`);
  } finally {
    for (const { client } of clients) client.close();
  }
});

Deno.test("--threads 2 --echo: every thread echoes bytes back exactly", async () => {
  await using server = await TestServer.start([...TWO_THREADS, "--echo"]);
  for (const thread of [0, 1]) {
    const { client } = await connectOnThread(server, thread);
    using _client = client;
    const bytes = `thread ${thread}: \x00\xff raw\r\n`;
    await client.write(bytes);
    const got = new Uint8Array(new TextEncoder().encode(bytes).length);
    let filled = 0;
    while (filled < got.length) {
      const n = await client.conn.read(got.subarray(filled));
      if (n === null) throw new Error(`thread ${thread}: closed after ${filled} bytes`);
      filled += n;
    }
    assertEquals(new TextDecoder().decode(got), bytes);
  }
});
