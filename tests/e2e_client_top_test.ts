/**
 * End to end: `switchboard-client top` (docs/client.md#top) under a real
 * pseudo-terminal, and its line-per-sample and JSON forms off one.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { clientCommandLine, runClient } from "./client_helpers.ts";
import { tempDir, TestClient, TestServer } from "./helpers.ts";
import { Terminal } from "./terminal.ts";
import { ADA, writeUsers } from "./users_fixtures.ts";

Deno.test("client top: shows the counts and the named client on a terminal, q leaves with the terminal restored", async () => {
  await using server = await TestServer.start(["--max-running", "3"]);
  using ada = await TestClient.connect(server.port);
  assertEquals(await ada.ask("HELLO Ada 1 ada"), "OK hello Ada");
  // `stty -a` after top prints the terminal's modes: raw mode must be off again.
  const top = clientCommandLine(["--port", String(server.port), "top", "--interval", "0.2"]);
  await using terminal = new Terminal(`sh -c ${JSON.stringify(`${top}; stty -a`)}`, {
    env: { TERM: "xterm" },
  });
  // Ada and top itself run; the third slot is free.
  await terminal.waitFor("running 2 of 3  [##-]");
  await terminal.waitFor(/\s1\s+127\.0\.0\.1:\d+\s+running\s+Ada\s/);
  await terminal.waitFor(/commands_total\s+\d+\s+\d+/);
  await terminal.keys("q");
  assertEquals(await terminal.exit(), 0);
  const screen = terminal.screen;
  const left = screen.lastIndexOf("\x1b[?25h\x1b[?1049l");
  assert(
    left > screen.lastIndexOf("running 2 of 3"),
    "the cursor is shown and the screen restored",
  );
  const modes = screen.slice(left);
  assertMatch(modes, /(^|\s)icanon(\s|$)/m, "canonical mode is back on");
  assertMatch(modes, /(^|\s)echo(\s|$)/m, "echo is back on");
});

Deno.test("client top: Ctrl-C leaves too", async () => {
  await using server = await TestServer.start();
  await using terminal = new Terminal(clientCommandLine(["--port", String(server.port), "top"]), {
    env: { TERM: "xterm" },
  });
  await terminal.waitFor("running 1 of 64");
  await terminal.keys("\x03");
  assertEquals(await terminal.exit(), 0);
  assert(terminal.screen.endsWith("\x1b[?25h\x1b[?1049l"), "the terminal is restored at the end");
});

Deno.test("client top off a terminal: a header and one line per sample; --json: one object per sample", async () => {
  await using server = await TestServer.start(["--max-running", "2"]);
  using ada = await TestClient.connect(server.port);
  assertEquals(await ada.ask("HELLO Ada 1 ada"), "OK hello Ada");
  // A piped top runs until its reader leaves: `head` stands for that reader.
  const lines = await pipedTop(server.port, [], 3);
  assertMatch(lines[0]!, /^time\s+running\s+queued\s+cmd\/s/);
  assertMatch(lines[1]!, /^\d\d:\d\d:\d\d\s+2\/2\s+0\s+-/);
  assertMatch(lines[2]!, /^\d\d:\d\d:\d\d\s+2\/2\s+0\s+\d+/);
  const json = (await pipedTop(server.port, ["--json"], 2)).map((line) => JSON.parse(line));
  assertEquals(json[0].stats.max_running, 2);
  assertEquals(json[0].rates, {});
  assertEquals(typeof json[1].rates.commands_total, "number");
  const names = json[1].connections.map((c: { name: string | null }) => c.name);
  assertEquals(names, ["Ada", null], "Ada, then top itself");
});

Deno.test("client top: --interval is checked, and belongs to top only", async () => {
  const bad = await runClient(["top", "--interval", "0"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--interval must be a number of seconds from 0.1 to 3600");
  const elsewhere = await runClient(["ping", "--interval", "1"]);
  assertEquals(elsewhere.code, 2);
  assertStringIncludes(elsewhere.stderr, "--interval is for top only, not ping");
});

Deno.test("client top signs in with --user like every command; without it, the server's ERR ends it", async () => {
  await using dir = await tempDir();
  await writeUsers(`${dir.path}/users`, [ADA]);
  await using server = await TestServer.start(["--users", `${dir.path}/users`]);
  const env = { SWITCHBOARD_PASSWORD: ADA.password };
  const [line] = await pipedTop(server.port, ["--json", "--user", "ada"], 1, env);
  assertEquals(JSON.parse(line!).stats.running, 1, "top itself, signed in");
  const refused = await runClient(["--port", String(server.port), "top"]);
  assertEquals(refused.code, 1);
  assertStringIncludes(refused.stderr, "error: noauth: authentication required");
});

/** The first `count` lines of a piped `top --interval 0.2 ...args`, which then exits 0. */
async function pipedTop(
  port: number,
  args: string[],
  count: number,
  env: Record<string, string> = {},
): Promise<string[]> {
  const command = clientCommandLine(["--port", String(port), "top", "--interval", "0.2", ...args]);
  const result = await new Deno.Command("sh", {
    args: ["-c", `${command} | head -n ${count}`],
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const out = new TextDecoder().decode(result.stdout).split("\n");
  assertEquals(new TextDecoder().decode(result.stderr), "", "nothing on stderr");
  return out.slice(0, count);
}

Deno.test("client top on a full server waits in the queue past --timeout, then shows the server once a slot frees", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  using holder = await TestClient.connect(server.port);
  assertEquals(await holder.ask("PING"), "OK PONG");
  await topWaitsInQueue(server.port, holder, [], {});
});

Deno.test("client top --user on a full server waits in the queue past --timeout for its AUTH's reply too", async () => {
  await using dir = await tempDir();
  await writeUsers(`${dir.path}/users`, [ADA]);
  await using server = await TestServer.start([
    "--users",
    `${dir.path}/users`,
    "--max-running",
    "1",
  ]);
  using holder = await TestClient.connect(server.port);
  assertMatch(await holder.ask(`AUTH ada "${ADA.password}"`), /^OK/);
  await topWaitsInQueue(server.port, holder, ["--user", "ada"], {
    SWITCHBOARD_PASSWORD: ADA.password,
  });
});

/**
 * top with --timeout 1 while `holder` holds the only slot: three times its
 * timeout later it must still be waiting, not gone with an error, and it
 * shows the server once the holder leaves (docs/client.md#top).
 */
async function topWaitsInQueue(
  port: number,
  holder: TestClient,
  args: string[],
  env: Record<string, string>,
): Promise<void> {
  const top = clientCommandLine([
    "--port",
    String(port),
    "--timeout",
    "1",
    ...args,
    "top",
    "--interval",
    "0.2",
  ]);
  await using terminal = new Terminal(top, { env: { TERM: "xterm", ...env } });
  // Its screen says so; with --user, the notice of the AUTH it waits on says so before it.
  await terminal.waitFor(
    args.includes("--user") ? "may have queued this connection" : "no reply yet",
  );
  const gaveUp = await terminal.waitFor("error:", 3_000).then(() => true, () => false);
  assertEquals(gaveUp, false, `top gave up while queued:\n${terminal.text}`);
  holder.close();
  await terminal.waitFor("running 1 of 1");
  await terminal.keys("q");
  assertEquals(await terminal.exit(), 0);
}
