/**
 * End to end: `--proxy-protocol` (docs/server.md#behind-a-load-balancer) against a
 * real server, with test clients playing the balancer. A client bound to
 * 127.0.0.2 is the balancer's address; what its PROXY header names is the
 * client the server must see everywhere: WHO, the logs, the address lists,
 * protected mode, --max-per-ip.
 */
import { assertEquals, assertMatch, assertRejects } from "@std/assert";
import { delay } from "@std/async/delay";
import { concat, eventually, parseStats, tempDir, TestClient, TestServer } from "./helpers.ts";
import { proxyV1, proxyV2 } from "./proxy_headers.ts";
import { ADA, authLine, writeUsers } from "./users_fixtures.ts";
import { makeTlsFixture, tlsServerArgs } from "./tls_fixtures.ts";

const BALANCER = "127.0.0.2";
const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const client = (hostname: string, port = 40000) => ({ hostname, port });

/** STATS asked directly from 127.0.0.1, a source the server does not expect headers from. */
async function stats(server: TestServer) {
  using direct = await TestClient.connect(server.port);
  return parseStats(await direct.ask("STATS"));
}

/** The WHO line of the asking connection (WHO lists it; ours is the one with `name`). */
async function whoLine(via: TestClient, name: string): Promise<string> {
  assertEquals(await via.ask(`HELLO ${name} 1 gh`), `OK hello ${name}`);
  const who = await via.ask("WHO");
  const line = who.split("\n").find((l) => l.includes(` ${name} `));
  if (line === undefined) throw new Error(`no WHO line for ${name} in:\n${who}`);
  return line;
}

Deno.test("a v2 header names the client for WHO and the log; bytes sent with it are served", async () => {
  await using server = await TestServer.start(["--proxy-protocol", BALANCER, "--insecure"]);
  using balancer = await TestClient.connectFrom(server.port, BALANCER);
  // Header and the first request in one write, as HAProxy may send them.
  await balancer.write(concat(proxyV2(client("203.0.113.7", 51000)), bytes("PING first\n")));
  assertEquals(await balancer.readText(), "OK first");
  assertMatch(await whoLine(balancer, "ada"), /^\d+ 203\.0\.113\.7:51000 running ada /);
  await server.waitForLog(
    /connection opened client=\d+ address=203\.0\.113\.7:51000 via=127\.0\.0\.2:\d+$/,
  );
  assertEquals((await stats(server)).proxy_errors_total, 0);
});

Deno.test("a v1 header (nginx) and an IPv6 client name the client too", async () => {
  await using server = await TestServer.start(["--proxy-protocol", BALANCER, "--insecure"]);
  using v1 = await TestClient.connectFrom(server.port, BALANCER);
  await v1.write(proxyV1(client("198.51.100.4", 7000), client("127.0.0.1", server.port)));
  assertMatch(await whoLine(v1, "nginx"), /^\d+ 198\.51\.100\.4:7000 running nginx /);
  using v6 = await TestClient.connectFrom(server.port, BALANCER);
  await v6.write(proxyV2(client("2001:db8::9", 7001), client("::1", server.port)));
  assertMatch(await whoLine(v6, "six"), /^\d+ \[2001:db8::9\]:7001 running six /);
});

Deno.test("a v2 LOCAL header (a health check) keeps the connection's own address", async () => {
  await using server = await TestServer.start(["--proxy-protocol", BALANCER, "--insecure"]);
  using check = await TestClient.connectFrom(server.port, BALANCER);
  await check.write(proxyV2(undefined));
  assertMatch(await whoLine(check, "haproxy"), /^\d+ 127\.0\.0\.2:\d+ running haproxy /);
});

Deno.test("protected mode, --deny and --max-per-ip judge the client the header names", async () => {
  await using server = await TestServer.start([
    "--proxy-protocol",
    BALANCER,
    "--deny",
    "192.0.2.0/24",
    "--max-per-ip",
    "1",
  ]);
  const through = async (source: string, port: number) => {
    const conn = await TestClient.connectFrom(server.port, BALANCER);
    await conn.write(proxyV2(client(source, port)));
    return conn;
  };
  // Protected mode: the balancer is not local, but the client it names is.
  // (::1, so that this test's own STATS connection from 127.0.0.1 is not over the limit.)
  using local = await through("::1", 1000);
  assertEquals(await local.ask("PING"), "OK PONG");
  using remote = await through("203.0.113.8", 1001);
  assertMatch(await remote.ask("PING"), /^ERR denied protected mode/);
  using denied = await through("192.0.2.5", 1002);
  assertEquals(await denied.ask("PING"), "ERR denied your address is not allowed");
  // --max-per-ip 1: a second connection of the same client is refused, though every
  // connection comes from the balancer's one address.
  using again = await through("::1", 1003);
  assertEquals(await again.ask("PING"), "ERR busy too many connections from your address");
  const counted = await stats(server);
  assertEquals([counted.denied_total, counted.rejected_total], [2, 1]);
});

Deno.test("the AUTH throttle counts failures by the client the header names", async () => {
  await using dir = await tempDir();
  await writeUsers(`${dir.path}/users`, [ADA]);
  await using server = await TestServer.start([
    "--proxy-protocol",
    BALANCER,
    "--users",
    `${dir.path}/users`,
  ]);
  using guesser = await TestClient.connectFrom(server.port, BALANCER);
  await guesser.write(proxyV2(client("203.0.113.66", 1)));
  for (let i = 0; i < 5; i++) {
    assertEquals(await guesser.ask(authLine(ADA, "wrong")), "ERR denied wrong name or password");
  }
  assertMatch(await guesser.ask(authLine(ADA)), /^ERR denied too many failed attempts/);
  // Another client behind the same balancer is not throttled for the guesser's failures.
  using ada = await TestClient.connectFrom(server.port, BALANCER);
  await ada.write(proxyV2(client("203.0.113.67", 1)));
  assertEquals(await ada.ask(authLine(ADA)), "OK welcome ada write");
});

Deno.test("a header in one-byte writes is read whole; what follows is served", async () => {
  await using server = await TestServer.start(["--proxy-protocol", BALANCER, "--insecure"]);
  using slow = await TestClient.connectFrom(server.port, BALANCER);
  const header = proxyV2(client("203.0.113.9", 2000), undefined, {
    tlvs: new Uint8Array([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]),
  });
  for (const byte of header) {
    await slow.write(new Uint8Array([byte]));
    await delay(2);
  }
  assertMatch(await whoLine(slow, "slow"), /^\d+ 203\.0\.113\.9:2000 running slow /);
});

Deno.test("missing, malformed and oversized headers close without a reply and count in proxy_errors_total", async () => {
  await using server = await TestServer.start(["--proxy-protocol", BALANCER, "-v"]);
  const attempts: Uint8Array[] = [
    bytes("PING\n"), // a direct client's request: no header
    bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), // LF without CR
    crypto.getRandomValues(new Uint8Array(300)).map((b, i) => i === 0 ? 0x42 : b), // random bytes
    (() => {
      // An IPv6 header whose length field only covers IPv4's addresses.
      const header = proxyV2(client("2001:db8::1", 1), client("::1", 2));
      header[15] = 12;
      return header;
    })(),
    concat(proxyV2(client("203.0.113.1", 1)).subarray(0, 14), new Uint8Array([0xff, 0xff])), // 64 KiB block
  ];
  for (const attempt of attempts) {
    using conn = await TestClient.connectFrom(server.port, BALANCER);
    await conn.write(attempt);
    await conn.closedByServer();
  }
  // A header cut short by the peer's close.
  {
    using cut = await TestClient.connectFrom(server.port, BALANCER);
    await cut.write(proxyV2(client("203.0.113.1", 1)).subarray(0, 20));
    await cut.closeWrite();
    await cut.closedByServer();
  }
  await eventually(
    async () => (await stats(server)).proxy_errors_total === attempts.length + 1,
    "every bad header counted in proxy_errors_total",
  );
  const counted = await stats(server);
  // None of them reached the Manager: only the STATS connections were accepted.
  assertEquals([counted.rejected_total, counted.denied_total], [0, 0]);
  await server.waitForLog(/DEBUG PROXY header malformed address=127\.0\.0\.2:\d+/);
});

Deno.test("a header not whole within --request-timeout closes the connection", async () => {
  await using server = await TestServer.start([
    "--proxy-protocol",
    BALANCER,
    "--request-timeout",
    "1",
    "-v",
  ]);
  using silent = await TestClient.connectFrom(server.port, BALANCER);
  using partial = await TestClient.connectFrom(server.port, BALANCER);
  await partial.write(proxyV2(client("203.0.113.1", 1)).subarray(0, 10));
  await silent.closedByServer(5000);
  await partial.closedByServer(5000);
  assertEquals((await stats(server)).proxy_errors_total, 2);
  await server.waitForLog(/DEBUG PROXY header timed out/);
});

Deno.test("a header from an address not in --proxy-protocol is not trusted: v1 is an unknown command, v2 ends in QUIT", async () => {
  await using server = await TestServer.start(["--proxy-protocol", BALANCER]);
  using v1 = await TestClient.connect(server.port);
  await v1.write(proxyV1(client("203.0.113.7", 1), client("127.0.0.1", server.port)));
  assertMatch(await v1.readText(), /^ERR unknown-command .*PROXY/);
  assertMatch(await whoLine(v1, "direct"), /^\d+ 127\.0\.0\.1:\d+ running direct /);
  using v2 = await TestClient.connect(server.port);
  await v2.write(proxyV2(client("203.0.113.7", 1)));
  // The signature is CRLF CRLF NUL CRLF "QUIT" LF: two empty lines, a NUL line, then QUIT.
  assertMatch(await v2.readText(), /^ERR bad-request .*NUL/);
  assertEquals(await v2.readText(), "OK bye");
  await v2.closedByServer();
  assertEquals((await stats(server)).proxy_errors_total, 0);
});

Deno.test("on a TLS port the PROXY header comes first, then the handshake", async () => {
  await using fixture = await makeTlsFixture();
  // 127.0.0.1 is the balancer here: Deno's TLS client cannot bind another source address.
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "--proxy-protocol",
    "127.0.0.1",
    "--insecure",
  ]);
  const header = proxyV2(client("203.0.113.70", 7070));
  using proxied = await TestClient.connectTlsAfter(server.port, header, fixture.caCertPem);
  assertMatch(await whoLine(proxied, "tls"), /^\d+ 203\.0\.113\.70:7070 running tls /);
  // Without the header, the ClientHello is a malformed header: closed, counted, no handshake.
  await assertRejects(() => TestClient.connectTls(server.port, fixture.caCertPem));
  using again = await TestClient.connectTlsAfter(server.port, header, fixture.caCertPem);
  const stats = parseStats(await again.ask("STATS"));
  assertEquals([stats.proxy_errors_total, stats.tls_failures_total], [1, 0]);
});

/**
 * A one-connection balancer on loopback: it waits for the client's first
 * bytes and sends them to the server in one write with `header`, then
 * relays both ways. Closing the listener ends it.
 */
function coalescingBalancer(serverPort: number, header: Uint8Array): Deno.Listener {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const from of listener) {
      const to = await Deno.connect({ hostname: "127.0.0.1", port: serverPort });
      const first = new Uint8Array(16 * 1024);
      const n = await from.read(first);
      await to.write(concat(header, first.subarray(0, n ?? 0)));
      from.readable.pipeTo(to.writable).catch(() => {});
      to.readable.pipeTo(from.writable).catch(() => {});
    }
  })().catch(() => {});
  return listener;
}

Deno.test("a ClientHello in the same segment as the PROXY header reaches the TLS handshake", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "--proxy-protocol",
    "127.0.0.1",
    "--insecure",
  ]);
  using balancer = coalescingBalancer(server.port, proxyV2(client("203.0.113.71", 7171)));
  using proxied = await TestClient.connectTls(
    (balancer.addr as Deno.NetAddr).port,
    fixture.caCertPem,
  );
  assertMatch(await whoLine(proxied, "hello"), /^\d+ 203\.0\.113\.71:7171 running hello /);
});
