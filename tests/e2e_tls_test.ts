/**
 * End to end: the TLS port (docs/security.md) — clients that trust the certificate
 * speak the protocol over it; plain, silent and distrustful ones fail the
 * handshake before the Manager, cost no queue place and are counted; a bad
 * certificate stops the server with one line. Certificates come from
 * tests/tls_fixtures.ts (a throwaway CA made with openssl).
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  eventually,
  parseStats,
  randomBytes,
  runServerToExit,
  sha256,
  TestClient,
  TestServer,
} from "./helpers.ts";
import { makeTlsFixture, type TlsFixture, tlsServerArgs } from "./tls_fixtures.ts";
import { readProc } from "./procfs.ts";

/** STATS over TLS. */
async function statsOver(port: number, fixture: TlsFixture) {
  using client = await TestClient.connectTls(port, fixture.caCertPem);
  return parseStats(await client.ask("STATS"));
}

Deno.test("TLS port: a client that trusts the CA speaks the protocol, by name or by address", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start(tlsServerArgs(fixture));
  server.assertLogged(
    /listening on 127\.0\.0\.1:\d+, max 64 running, queue 1024, TLS(, \d+ threads)?$/,
  );
  server.assertLogged(/INFO {2}TLS certificate subject="CN=localhost" expires=\d{4}-/);
  for (const name of ["localhost", "127.0.0.1"]) {
    using client = await TestClient.connectTls(server.port, fixture.caCertPem, name);
    assertEquals(await client.ask("PING"), "OK PONG");
    assertEquals(await client.ask("ECHO over TLS"), "OK over TLS");
    assertEquals(await client.ask("QUIT"), "OK bye");
    await client.closedByServer();
  }
  assertEquals((await statsOver(server.port, fixture)).tls_failures_total, 0);
});

Deno.test("a plain client against the TLS port gets a TLS alert and the close, never a reply or a queue place", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "-v",
    "--max-running",
    "1",
    "--queue-limit",
    "0",
  ]);
  using running = await TestClient.connectTls(server.port, fixture.caCertPem);
  assertEquals(await running.ask("PING"), "OK PONG");
  // The slot is taken and the queue holds nobody: a plain client that got as far
  // as the Manager would be told ERR busy. It never gets that far.
  using plain = await TestClient.connect(server.port);
  await plain.send("PING");
  const received: number[] = [];
  const buffer = new Uint8Array(1024);
  try {
    for (let n = await plain.conn.read(buffer); n !== null; n = await plain.conn.read(buffer)) {
      received.push(...buffer.subarray(0, n));
    }
  } catch {
    // a reset after the alert is a close too
  }
  assertEquals(received[0], 0x15, "a TLS alert record, not a protocol line");
  assert(!new TextDecoder().decode(new Uint8Array(received)).includes("ERR"));
  const stats = parseStats(await running.ask("STATS"));
  assertEquals([stats.tls_failures_total, stats.accepted_total, stats.rejected_total], [1, 1, 0]);
  await server.waitForLog(/DEBUG TLS handshake failed address=127\.0\.0\.1:\d+ error=/);
});

Deno.test("a silent connection on the TLS port costs no queue place and is dropped after --request-timeout", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "-v",
    // Short enough to watch the silent peer go, long enough that the real
    // client's handshake below never misses it on a busy machine.
    "--request-timeout",
    "1",
    "--max-running",
    "1",
    "--queue-limit",
    "0",
  ]);
  // It holds no handshake slot, no queue place and no running slot, and it sees the
  // close (waves of them under a low descriptor limit: tests/faults/tls_peers_test.ts).
  using silent = await TestClient.connect(server.port);
  await server.waitForLog(/DEBUG TLS handshake timed out address=127\.0\.0\.1:\d+/);
  await silent.closedByServer();
  // The one slot was free all along: a real client gets it, not ERR busy.
  using client = await TestClient.connectTls(server.port, fixture.caCertPem);
  assertEquals(await client.ask("PING"), "OK PONG");
  const stats = parseStats(await client.ask("STATS"));
  assertEquals([stats.tls_failures_total, stats.accepted_total, stats.running], [1, 1, 1]);
  // Without -v the failure leaves no trace in the log beyond the counter.
  server.assertLogged(/(INFO|WARN).*handshake/, false);
});

Deno.test("a client that does not trust the certificate fails the handshake, and it is counted", async () => {
  await using fixture = await makeTlsFixture();
  await using other = await makeTlsFixture();
  await using server = await TestServer.start(tlsServerArgs(fixture));
  await assertRejects(() => TestClient.connectTls(server.port, other.caCertPem));
  await eventually(
    async () => (await statsOver(server.port, fixture)).tls_failures_total === 1,
    "the failed handshake to be counted",
  );
});

Deno.test("an unusable --tls-key stops the server with one line naming it, exit 1", async () => {
  await using fixture = await makeTlsFixture();
  await using other = await makeTlsFixture();
  const result = await runServerToExit([
    ...tlsServerArgs({ certPath: fixture.certPath, keyPath: other.keyPath }),
  ]);
  assertEquals(result.code, 1);
  assertEquals(
    result.stderr,
    `error: --tls-key ${
      JSON.stringify(other.keyPath)
    }: is not the key of the certificate in ${fixture.certPath}\n`,
  );
});

Deno.test("a TLS client that leaves without close_notify is an ordinary close: logged as closed, no warning", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start(tlsServerArgs(fixture));
  // A process that exits sends no close_notify: its TLS session ends with the TCP close.
  const script = `
    const conn = await Deno.connectTls({ hostname: "localhost", port: ${server.port}, caCerts: [${
    JSON.stringify(fixture.caCertPem)
  }] });
    await conn.write(new TextEncoder().encode("PING\\n"));
    const reply = new Uint8Array(64);
    const n = await conn.read(reply);
    console.log(new TextDecoder().decode(reply.subarray(0, n ?? 0)).trim());
    Deno.exit(0);`;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assertEquals([code, new TextDecoder().decode(stdout).trim()], [0, "OK PONG"]);
  await server.waitForLog(/INFO {2}client closed client=1 commands=1 /);
  server.assertLogged(/WARN/, false);
});

Deno.test("FILE PUT and GET of 10 MB over TLS arrive byte for byte, the payload pipelined with its line", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start(tlsServerArgs(fixture));
  using client = await TestClient.connectTls(server.port, fixture.caCertPem);
  const bytes = randomBytes(10_000_000);
  assertEquals(
    await client.put("big.bin", bytes),
    `OK stored big.bin ${bytes.length} ${sha256(bytes)}`,
  );
  await client.send("FILE GET big.bin");
  const reply = await client.read({ timeoutMs: 30_000 });
  if (reply.kind !== "data") throw new Error(`expected a DATA reply, got ${reply.kind}`);
  assertEquals([reply.body.length, reply.sha256], [bytes.length, sha256(bytes)]);
  assertEquals(reply.body, bytes);
  assertEquals(await client.ask("PING"), "OK PONG");
});

/** Bytes the kernel holds unread on the server's end of the connection from `clientPort` (/proc/net/tcp). */
function unreadByServer(serverPort: number, clientPort: number): number {
  const hexPort = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readProc("/proc/net/tcp").split("\n").slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hexPort(serverPort)}`) && remote?.endsWith(`:${hexPort(clientPort)}`)) {
      return parseInt(queues!.split(":")[1]!, 16);
    }
  }
  throw new Error(`no connection from port ${clientPort} to port ${serverPort} in /proc/net/tcp`);
}

Deno.test("a TLS client that keeps sending to a queued connection is read no further than the read-ahead: the rest waits in the kernel", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([...tlsServerArgs(fixture), "--max-running", "1"]);
  using running = await TestClient.connectTls(server.port, fixture.caCertPem);
  assertEquals(await running.ask("PING"), "OK PONG");
  const sender = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.port,
    caCerts: [fixture.caCertPem],
  });
  await sender.handshake();
  await server.waitForLog(/INFO {2}client queued client=2/);
  const chunk = new Uint8Array(1 << 20).fill(0x41);
  const sending = (async () => {
    try {
      for (let i = 0; i < 64; i++) await sender.write(chunk);
    } catch {
      // Closed below, while a write waits.
    }
  })();
  try {
    // The TLS port reads at most 16 KiB ahead of a connection's handler (and
    // this one's handler has not started): past that the bytes must stay in
    // the server's socket, where the kernel's window stops the sender.
    const clientPort = (sender.localAddr as Deno.NetAddr).port;
    await eventually(
      () => unreadByServer(server.port, clientPort) >= 64 * 1024,
      "64 KiB left unread in the server's socket",
    );
  } finally {
    sender.close();
    await sending;
  }
});
