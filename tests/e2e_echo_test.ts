/** End to end: `--echo` raw mode under the same Manager. */
import { assertEquals } from "@std/assert";
import { randomBytes, TestClient, TestServer } from "./helpers.ts";

async function readExactly(client: TestClient, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const r = await client.conn.read(out.subarray(got));
    if (r === null) throw new Error(`EOF after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

Deno.test("echo mode returns every byte exactly, for an active client beside an idle one", async () => {
  await using server = await TestServer.start(["--echo"]);
  using idle = await TestClient.connect(server.port);
  using active = await TestClient.connect(server.port);
  const bytes = randomBytes(300_000);
  const writing = active.write(bytes);
  assertEquals(await readExactly(active, bytes.length), bytes);
  await writing;
  // Protocol words are just bytes here.
  await idle.write("PING\n");
  assertEquals(new TextDecoder().decode(await readExactly(idle, 5)), "PING\n");
});

Deno.test("echo mode queues under the Manager and echoes what was sent while waiting", async () => {
  await using server = await TestServer.start(["--echo", "--max-running", "1"]);
  using first = await TestClient.connect(server.port);
  await first.write("a");
  assertEquals(await readExactly(first, 1), new Uint8Array([0x61]));
  using second = await TestClient.connect(server.port);
  await second.write("sent while queued\n");
  await server.waitForLog(/client queued/);
  first.close();
  assertEquals(new TextDecoder().decode(await readExactly(second, 18)), "sent while queued\n");
});
