/**
 * End to end in a real browser (Debian's chromium, headless): the live page
 * (docs/observability.md#live-view) shows the Manager at work, and says so when the
 * server goes away and comes back.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { type CdpPage as Page, Chromium } from "../scripts/headless_chromium.ts";
import { eventually, TestClient, TestServer } from "./helpers.ts";

/** What the page shows of the running set and the queue. */
interface Drawn {
  slots: { id: string | undefined; text: string }[];
  queue: { id: string | undefined; text: string }[];
  rows: string[];
  /** The command column of each row. */
  commands: string[];
  /** The latency table: command, per second, p50, p90, p99, all requests. */
  latency: string[][];
  status: string;
}

/** Read in the page (a string: it runs in the browser, not here). */
const READ_PAGE = `(() => {
  const items = (selector) => [...document.querySelectorAll(selector)]
    .map((node) => ({ id: node.dataset.id, text: node.textContent }));
  return {
    slots: items("#slots li"),
    queue: items("#queue li"),
    rows: [...document.querySelectorAll("#connections tr")].map((tr) => tr.dataset.id),
    commands: [...document.querySelectorAll("#connections tr td:nth-child(5)")]
      .map((td) => td.textContent),
    latency: [...document.querySelectorAll("#latency tr")]
      .map((tr) => [...tr.children].map((cell) => cell.textContent)),
    status: document.getElementById("status").textContent,
  };
})()`;

function drawn(page: Page): Promise<Drawn> {
  return page.evaluate<Drawn>(READ_PAGE);
}

/** Polls the page until `probe` holds; on the deadline, fails with `what` and what was drawn. */
async function pageShows(
  page: Page,
  what: string,
  probe: (drawn: Drawn) => boolean,
  timeoutMs = 10_000,
): Promise<Drawn> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const now = await drawn(page);
    if (probe(now)) return now;
    if (Date.now() > until) {
      throw new Error(
        `the page did not show ${what} within ${timeoutMs} ms: ${JSON.stringify(now)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function liveUrl(server: TestServer): Promise<string> {
  let url: string | undefined;
  await eventually(() => {
    url = server.log.map((line) => /live page on (http:\/\/\S+\/)/.exec(line)?.[1]).find(Boolean);
    return url !== undefined;
  }, "the live page's address in the log");
  return url!;
}

/** The id WHO gives the connection whose local port is `port`. */
async function idOf(asker: TestClient, port: number): Promise<string> {
  const who = await asker.ask("WHO");
  const line = who.split("\n").find((l) => l.includes(`:${port} `));
  if (line === undefined) throw new Error(`no WHO line for port ${port} in ${who}`);
  return line.split(" ")[0]!;
}

function localPort(client: TestClient): number {
  return ((client.conn as Deno.Conn).localAddr as Deno.NetAddr).port;
}

Deno.test("live page: the running client with its name, the queue in order, the next one starting when a slot frees", async () => {
  await using server = await TestServer.start(["--max-running", "1", "--metrics-port", "0"]);
  await using browser = await Chromium.launch();
  const first = await TestClient.connect(server.port);
  assertEquals(await first.ask("HELLO Ada 1 ada"), "OK hello Ada");
  using second = await TestClient.connect(server.port);
  // The second is queued before the third connects, so that their order is known.
  await eventually(async () => (await first.ask("STATS")).includes("\nqueued 1\n"), "one queued");
  using third = await TestClient.connect(server.port);
  await eventually(async () => (await first.ask("STATS")).includes("\nqueued 2\n"), "two queued");
  const ids = [
    await idOf(first, localPort(first)),
    await idOf(first, localPort(second)),
    await idOf(first, localPort(third)),
  ];

  const page = await browser.newPage();
  await page.goto(await liveUrl(server));
  const before = await pageShows(
    page,
    "Ada running and two queued",
    (d) => d.slots.length === 1 && d.slots[0]!.id === ids[0] && d.queue.length === 2,
  );
  assertMatch(before.slots[0]!.text, /^#\d+ Ada$/);
  assertEquals(before.queue.map((item) => item.id), [ids[1], ids[2]], "the queue in FIFO order");
  assertMatch(before.queue[0]!.text, /waited \d+\.\d s/);
  assertEquals(before.rows, ids, "one row per connection, running first");
  assertMatch(before.status, /^Live/);

  assertEquals(await first.ask("QUIT"), "OK bye");
  first.close();
  // The page samples 5 times a second: the next client is shown running within a second.
  const after = await pageShows(
    page,
    "the second client running, the third alone in the queue",
    (d) => d.slots[0]?.id === ids[1] && d.queue.length === 1,
    1000,
  );
  assertEquals(after.queue[0]!.id, ids[2]);
  assertEquals(after.rows, [ids[1], ids[2]], "the closed connection is gone from the table");
  await page.close();
});

Deno.test("live page: a command in progress is shown with its time, then the connection as idle", async () => {
  await using server = await TestServer.start(["--metrics-port", "0"]);
  await using browser = await Chromium.launch();
  using counter = await TestClient.connect(server.port);
  const page = await browser.newPage();
  await page.goto(await liveUrl(server));
  await counter.send("COUNT 0 20 100");
  await pageShows(
    page,
    "COUNT in progress",
    (d) => /^COUNT for \d+\.\d s$/.test(d.commands[0] ?? ""),
  );
  assertEquals(await counter.readText(), "OK 20");
  const idle = await pageShows(
    page,
    "the connection idle after COUNT",
    (d) => d.commands[0] === "idle, last COUNT",
  );
  // COUNT of 20 jobs of 100 ms on the workers took about a second: within the last 10 s.
  const count = idle.latency.find((row) => row[0] === "COUNT");
  assertEquals(count?.[5], "1", "one COUNT in all");
  assertMatch(count![4]!, /^≤ \d+(\.\d+)? (ms|s)$/, "its p99 over the last 10 s");
  await page.close();
});

Deno.test("live page: says the connection is lost when the server stops, and reconnects to a new one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-live-" });
  const server = await TestServer.start(["--metrics-port", "0"], { dir });
  const url = await liveUrl(server);
  await using browser = await Chromium.launch();
  const page = await browser.newPage();
  await page.goto(url);
  await pageShows(page, "live status", (d) => d.status.startsWith("Live"));
  await server[Symbol.asyncDispose]();
  await pageShows(
    page,
    "the lost connection",
    (d) => /^Connection to the server lost/.test(d.status),
  );
  const port = new URL(url).port;
  await using again = await TestServer.start(["--metrics-port", port], { dir });
  const back = await pageShows(page, "a reconnection", (d) => d.status.startsWith("Reconnected"));
  assertMatch(back.status, /the server restarted at/);
  await page.close();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  void again;
});
