/**
 * End to end: the client's output when nobody reads it or it cannot be
 * written (`| head -1`, `> /dev/full`), and the wait notice while replies
 * are late: timed from the last byte, erased before output, for transfers
 * as for requests.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { tempDir, TestServer } from "./helpers.ts";
import {
  clientCommandLine,
  clientRunArgs,
  fakeServer,
  holdSlot,
  readRequest,
  reply,
  runClient,
} from "./client_helpers.ts";
import { Terminal } from "./terminal.ts";
import { ADA, writeUsers } from "./users_fixtures.ts";

const encoder = new TextEncoder();

/** Runs the client with its stdout a pipe whose reader has already gone (`| head -0`). */
async function withClosedStdout(
  args: readonly string[],
  stdin?: Uint8Array,
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: clientRunArgs(args),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    // The client may end before reading all of stdin: a write it refuses is no failure here.
    await writer.write(stdin).catch(() => {});
    await writer.close().catch(() => {});
  }
  const stderr = await new Response(child.stderr).text();
  return { code: (await child.status).code, stderr };
}

Deno.test("client whose stdout reader has gone ends quietly with exit 0, in every mode", async () => {
  await using server = await TestServer.start();
  await using local = await tempDir();
  const port = ["--port", String(server.port)];
  // Well over a pipe's 64 KB, so the writes cannot all vanish into its buffer.
  await Deno.writeFile(`${local.path}/big.bin`, new Uint8Array(300_000).fill(0x61));
  assertEquals((await runClient([...port, "put", `${local.path}/big.bin`])).code, 0);
  assertEquals(await withClosedStdout([...port, "raw", "FILE", "GET", "big.bin"]), {
    code: 0,
    stderr: "",
  });
  const lines = encoder.encode(`ECHO ${"a".repeat(100)}\n`.repeat(5_000));
  assertEquals(await withClosedStdout(port, lines), { code: 0, stderr: "" });
  assertEquals(await withClosedStdout([...port, "--json", "stats"]), { code: 0, stderr: "" });
});

Deno.test("client whose stdout cannot be written says so in one line and exits 2", async () => {
  await using server = await TestServer.start();
  const command = [Deno.execPath(), ...clientRunArgs(["--port", String(server.port), "ping"])];
  const out = await new Deno.Command("sh", {
    args: ["-c", 'exec "$@" > /dev/full', "sh", ...command],
    stderr: "piped",
  }).output();
  assertEquals(
    { code: out.code, stderr: new TextDecoder().decode(out.stderr) },
    { code: 2, stderr: "error: cannot write the output: no space left on device\n" },
  );
});

/** The notice for a reply that is late on a connection that has had replies. */
const RUNNING_NOTICE =
  "no reply for 1 s: this connection is running (not queued), so the request itself is slow";

Deno.test("client wait notice counts from the last page, and is erased before the next one", async () => {
  // Pages of 10,000 keys (a full page: the listing goes on) 600 ms apart, then a 1.5 s gap.
  const gapsMs = [0, 600, 600, 1500];
  const key = (i: number) => `k${String(i).padStart(5, "0")}`;
  using server = fakeServer(async (conn) => {
    const buffered = { text: "" };
    let page = 0;
    for (
      let line = await readRequest(conn, buffered);
      line !== null;
      line = await readRequest(conn, buffered)
    ) {
      if (line.startsWith("KV KEYS")) {
        await reply(conn, "ERR too-large more than 10000 keys match\n");
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, gapsMs[page]));
      const count = page < gapsMs.length - 1 ? 10_000 : 5;
      const body = Array.from({ length: count }, (_, i) => key(page * 10_000 + i) + "\n").join("");
      page++;
      await reply(conn, `DATA ${encoder.encode(body).length}\n${body}\n`);
    }
  });
  await using term = new Terminal(clientCommandLine(["--port", String(server.port), "kv", "keys"]));
  await term.waitFor(`${key(30_004)}\r\n`);
  assertEquals(await term.exit(), 0);
  const text = term.text;
  // Shown only in the 1.5 s gap: pages 600 ms apart never looked late, however long in all.
  assertEquals(text.split("no reply for").length, 2, text.slice(0, 2000));
  assert(text.indexOf(RUNNING_NOTICE) > text.indexOf(key(29_999)), "after the third page");
  // Erased (CR, then the erase sequence) before the next key: never glued to it.
  assertMatch(term.screen, new RegExp(`${RUNNING_NOTICE.replace(/[()]/g, "\\$&")}\\r\\x1b\\[K`));
  assertMatch(text, new RegExp(`\\r${key(30_000)}\\r\\n`));
});

Deno.test("client get says it is waiting while the server has it queued", async () => {
  await using server = await TestServer.start(["--max-running", "1"]);
  await using local = await tempDir();
  const port = ["--port", String(server.port)];
  await Deno.writeTextFile(`${local.path}/notes.txt`, "notes");
  assertEquals((await runClient([...port, "put", `${local.path}/notes.txt`])).code, 0);

  using getSlot = await holdSlot(server.port);
  await using getting = new Terminal(
    clientCommandLine([...port, "get", "notes.txt", `${local.path}/g1.txt`]),
  );
  await getting.waitFor(
    "no reply for 1 s: the server may have queued this connection until a slot frees, " +
      "or the request is slow",
  );
  getSlot.release();
  await getting.waitFor("saved notes.txt 5");
  assertEquals(await getting.exit(), 0);
  assertEquals(await Deno.readTextFile(`${local.path}/g1.txt`), "notes");
});

Deno.test("client --user says it is waiting while the server has it queued before its AUTH is answered", async () => {
  await using local = await tempDir();
  await writeUsers(`${local.path}/users`, [ADA]);
  await using server = await TestServer.start([
    "--users",
    `${local.path}/users`,
    "--max-running",
    "1",
  ]);
  using slot = await holdSlot(server.port);
  await using pinging = new Terminal(
    clientCommandLine(["--port", String(server.port), "--user", "ada", "ping"]),
    { env: { SWITCHBOARD_PASSWORD: ADA.password } },
  );
  await pinging.waitFor(
    "no reply for 1 s: the server may have queued this connection until a slot frees, " +
      "or the request is slow",
  );
  slot.release();
  await pinging.waitFor("PONG");
  assertEquals(await pinging.exit(), 0);
});

Deno.test("client put says it is waiting while the server has not stored the file yet", async () => {
  await using local = await tempDir();
  await Deno.writeTextFile(`${local.path}/notes.txt`, "notes");
  const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode("notes")));
  const hex = Array.from(sha256, (b) => b.toString(16).padStart(2, "0")).join("");
  // A stand-in that takes 1.5 s to store the file: a real server stores five bytes at once,
  // too soon for the waiting notice this test is about.
  using server = fakeServer(async (conn) => {
    await readRequest(conn, { text: "" });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await reply(conn, `OK stored n2.txt 5 ${hex}\n`);
  });
  await using putting = new Terminal(
    clientCommandLine(["--port", String(server.port), "put", `${local.path}/notes.txt`, "n2.txt"]),
  );
  // The payload is sent (the bar ends at 100%, on its own line); no reply has come yet.
  await putting.waitFor(
    /100%[^\n]*\r\nno reply for 1 s: the server may have queued this connection until a slot frees, or the server is still receiving and storing the file/,
  );
  await putting.waitFor(`stored n2.txt 5 ${hex}`);
  assertEquals(await putting.exit(), 0);
});
