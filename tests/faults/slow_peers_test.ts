/**
 * Slow senders and slow readers cannot hold a running slot (docs/protocol.md#limits-and-bad-input):
 * a request line must be whole within --request-timeout of its first byte,
 * uploads and downloads must keep --min-rate over each such window, and a
 * peer that stops reading loses its connection.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { delay } from "@std/async/delay";
import { filesIn, TestClient, TestServer } from "../helpers.ts";

/** Sends `text` one byte every `gapMs` until `stop()` says so or the connection breaks. */
async function trickle(c: TestClient, text: string, gapMs: number, stop: () => boolean) {
  for (let i = 0; !stop(); i = (i + 1) % text.length) {
    try {
      await c.write(text[i]!);
    } catch {
      return;
    }
    await delay(gapMs);
  }
}

Deno.test("a request line trickled a byte at a time is cut at --request-timeout, though bytes keep coming", async () => {
  await using server = await TestServer.start(["--request-timeout", "1", "--idle-timeout", "60"]);
  using slow = await TestClient.connect(server.port);
  let done = false;
  const sending = trickle(slow, "PINGPINGPING", 100, () => done);
  try {
    assertEquals(
      await deadline(slow.readText(), 10_000),
      "ERR timeout request line not complete within 1 s; closing",
    );
    await slow.closedByServer();
  } finally {
    done = true;
    await sending;
  }
});

Deno.test("slowloris connections cannot hold the running set: a queued bystander gets its turn", async () => {
  await using server = await TestServer.start([
    "--max-running",
    "4",
    "--request-timeout",
    "1",
    "--idle-timeout",
    "60",
  ]);
  const slow = await Promise.all(Array.from({ length: 4 }, () => TestClient.connect(server.port)));
  let done = false;
  const sending = slow.map((c) => trickle(c, "ECHO never ends ", 200, () => done));
  try {
    await server.waitForLog(/client started client=4$/);
    using bystander = await TestClient.connect(server.port);
    // Queued behind four trickling peers, until the request timeout clears them.
    assertEquals(await deadline(bystander.ask("PING"), 10_000), "OK PONG");
  } finally {
    done = true;
    for (const c of slow) c.close();
    await Promise.all(sending);
  }
});

Deno.test("an upload below --min-rate is cut and leaves no temporary file", async () => {
  await using server = await TestServer.start(["--request-timeout", "1", "--min-rate", "1000"]);
  using slow = await TestClient.connect(server.port);
  await slow.send("FILE PUT slow.bin 1000000");
  let done = false;
  const sending = trickle(slow, "x", 50, () => done); // 20 bytes/s
  try {
    assertEquals(
      await deadline(slow.readText(), 10_000),
      "ERR timeout upload slower than 1000 bytes/s over 1 s; closing",
    );
    await slow.closedByServer();
  } finally {
    done = true;
    await sending;
  }
  await server.waitForLog(/client closed client=1 /);
  assertEquals(await filesIn(`${server.dir}/files`), [], "the cut upload is discarded");
});

Deno.test("a download read below --min-rate is cut", async () => {
  await using server = await TestServer.start(["--request-timeout", "1", "--min-rate", "1000000"]);
  using writer = await TestClient.connect(server.port);
  // Larger than what loopback socket buffers hold, so the server has to wait for the reader.
  const size = 48 * 1024 * 1024;
  assertMatch(await writer.put("big.bin", new Uint8Array(size)), /^OK stored/);
  using slow = await TestClient.connect(server.port);
  await slow.send("FILE GET big.bin");
  // Read 1 KiB every 50 ms: about 20 KB/s against a floor of 1 MB/s.
  let done = false;
  const reading = (async () => {
    const buf = new Uint8Array(1024);
    while (!done && await slow.conn.read(buf).catch(() => null) !== null) await delay(50);
  })();
  try {
    // Either the rate floor or a write stuck for the whole window ends it.
    await server.waitForLog(/(download below --min-rate|client stopped reading); closing/, 20_000);
    await server.waitForLog(/client closed client=2 /);
  } finally {
    done = true;
    slow.close();
    await reading;
  }
});

Deno.test("a peer that stops reading its replies loses its connection after --request-timeout", async () => {
  await using server = await TestServer.start(["--request-timeout", "1", "--idle-timeout", "60"]);
  using flooder = await TestClient.connect(server.port);
  // Replies pile up in the kernel until the server's writes stall.
  const line = new TextEncoder().encode("ECHO " + "x".repeat(1000) + "\n".repeat(1));
  const flooding = (async () => {
    for (let i = 0; i < 100_000; i++) {
      try {
        await flooder.write(line);
      } catch {
        return;
      }
    }
  })();
  using bystander = await TestClient.connect(server.port);
  assertEquals(
    await deadline(bystander.ask("PING"), 10_000),
    "OK PONG",
    "others are served meanwhile",
  );
  await deadline(server.waitForLog(/client stopped reading; closing/, 20_000), 25_000);
  flooder.close();
  await flooding;
});

Deno.test("with the rate floor and the request timeout off, silence is still bounded by --idle-timeout", async () => {
  await using server = await TestServer.start([
    "--min-rate",
    "0",
    "--request-timeout",
    "0",
    "--idle-timeout",
    "0.5",
  ]);
  using upload = await TestClient.connect(server.port);
  await upload.write("FILE PUT x 10\nhello");
  assertEquals(
    await deadline(upload.readText(), 10_000),
    "ERR timeout upload silent for 0.5 s; closing",
  );
  using half = await TestClient.connect(server.port);
  await half.write("PI");
  assertEquals(
    await deadline(half.readText(), 10_000),
    "ERR timeout no request for 0.5 s; closing",
  );
});
