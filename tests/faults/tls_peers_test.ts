/**
 * Hostile peers on the TLS port (docs/security.md#running-it-on-a-network), with real sockets:
 * peers that connect and send nothing, or half a ClientHello, are
 * disconnected at the handshake deadline — each sees the close — and the
 * server's descriptors come back, under a low descriptor limit and past
 * it; a real TLS client is served after every wave; the handshake cap
 * really closes the handshakes it drops. Descriptors are counted in
 * /proc/PID/fd of the server process (`prlimit` execs the server, so the
 * PID is the server's).
 */
import { openDescriptors } from "../procfs.ts";
import { assert, assertEquals } from "@std/assert";
import { deadline } from "@std/async/deadline";
import { eventually, parseStats, randomBytes, TestClient, TestServer } from "../helpers.ts";
import {
  HALF_CLIENT_HELLO,
  makeTlsFixture,
  type TlsFixture,
  tlsServerArgs,
} from "../tls_fixtures.ts";
import { MAX_HANDSHAKES } from "../../lib/server/door/tls_port.ts";
import { NATIVE_SOCKET_DESCRIPTORS } from "../../lib/server/door/native_socket.ts";

assertEquals(HALF_CLIENT_HELLO.length, 60);

/** A peer that connected: `closed` resolves when it sees the server's close (end of input or a reset). */
interface Peer {
  conn: Deno.TcpConn;
  closed: Promise<void>;
  sawClose: boolean;
}

/** Opens `count` connections, each sending `first` (or nothing), and watches for the close. */
async function wave(port: number, count: number, first?: Uint8Array): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (let i = 0; i < count; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (first !== undefined) await conn.write(first);
    const peer: Peer = { conn, closed: Promise.resolve(), sawClose: false };
    peer.closed = (async () => {
      const buffer = new Uint8Array(1024);
      try {
        while (await conn.read(buffer) !== null) { /* a TLS alert, if any */ }
      } catch {
        // A reset is a close too.
      }
      peer.sawClose = true;
    })();
    peers.push(peer);
  }
  return peers;
}

function closeAll(peers: Peer[]): void {
  for (const { conn } of peers) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** A real TLS client gets PING answered. */
async function servedOverTls(server: TestServer, fixture: TlsFixture): Promise<void> {
  using client = await TestClient.connectTls(server.port, fixture.caCertPem);
  assertEquals(await client.ask("PING"), "OK PONG");
}

Deno.test("silent and half-hello TLS peers under a low descriptor limit are closed at the deadline and their descriptors freed", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start(
    [...tlsServerArgs(fixture), "--request-timeout", "1"],
    { wrap: ["prlimit", "--nofile=512:512"] },
  );
  const pid = server.process.pid;
  await servedOverTls(server, fixture);
  // What the server holds with no client: the count every wave must come back to.
  let baseline = 0;
  await eventually(() => (baseline = openDescriptors(pid)) > 0, "a descriptor count");
  const waves: Array<[string, number, Uint8Array | undefined]> = [
    ["silent", 300, undefined],
    ["half a ClientHello", 300, HALF_CLIENT_HELLO],
    // More than the limit: accepting runs out of descriptors and must resume by itself.
    ["silent, past the descriptor limit", 700, undefined],
  ];
  let failures = 0;
  for (const [what, count, first] of waves) {
    const peers = await wave(server.port, count, first);
    try {
      // Deadline 1 s; the margin is for a busy machine, not for Deno's old "never".
      await deadline(Promise.all(peers.map((p) => p.closed)), 20_000).catch(() => {
        const open = peers.filter((p) => !p.sawClose).length;
        throw new Error(`${open} of ${count} ${what} peers never saw the server close`);
      });
      await eventually(
        () => openDescriptors(pid) <= baseline,
        `the descriptors to come back to ${baseline} after ${count} ${what} peers`,
      );
      await servedOverTls(server, fixture);
    } finally {
      closeAll(peers);
    }
    failures += count;
  }
  using client = await TestClient.connectTls(server.port, fixture.caCertPem);
  const stats = parseStats(await client.ask("STATS"));
  assertEquals(stats.tls_failures_total, failures, "every peer is counted as a TLS failure");
  assertEquals(stats.rejected_total, 0, "none of them took a queue place");
});

Deno.test("the handshake cap closes the oldest handshakes it drops: their peers see the close, the newest keep theirs", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    // Far beyond the test: every close seen here is the cap's, not the deadline's.
    "--request-timeout",
    "600",
    // The cap is split between the network threads, each dropping its own oldest:
    // with one thread the oldest of the wave are the ones it must drop.
    "--threads",
    "1",
  ]);
  const pid = server.process.pid;
  await servedOverTls(server, fixture);
  const baseline = openDescriptors(pid);
  const over = 50;
  const peers = await wave(server.port, MAX_HANDSHAKES + over);
  try {
    const oldest = peers.slice(0, over);
    await deadline(Promise.all(oldest.map((p) => p.closed)), 20_000).catch(() => {
      const open = oldest.filter((p) => !p.sawClose).length;
      throw new Error(`${open} of the ${over} oldest peers never saw the close`);
    });
    // Each handshake on a native socket holds two descriptors (native_socket.ts).
    const held = MAX_HANDSHAKES * NATIVE_SOCKET_DESCRIPTORS;
    await eventually(
      () => openDescriptors(pid) <= baseline + held,
      `at most ${MAX_HANDSHAKES} handshakes' ${held} descriptors held`,
    );
    assertEquals(
      peers.slice(over).filter((p) => p.sawClose).length,
      0,
      "the newest handshakes are kept",
    );
    // A real client's handshake drops the oldest silent one and is served.
    await servedOverTls(server, fixture);
    assert(peers[over]!.sawClose || await deadline(peers[over]!.closed, 10_000).then(() => true));
  } finally {
    closeAll(peers);
  }
  // The peers' own close ends the rest: the descriptors come back.
  await eventually(
    () => openDescriptors(pid) <= baseline,
    `the descriptors to come back to ${baseline}`,
  );
});

Deno.test("TLS clients that stop reading mid-download are cut at the write deadline and their descriptors freed", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
    "--request-timeout",
    "1",
  ]);
  const pid = server.process.pid;
  {
    using uploader = await TestClient.connectTls(server.port, fixture.caCertPem);
    const bytes = randomBytes(20_000_000);
    assertEquals((await uploader.put("big.bin", bytes)).split(" ")[0], "OK");
  }
  let baseline = 0;
  await eventually(() => (baseline = openDescriptors(pid)) > 0, "a descriptor count");
  const readers: Deno.TlsConn[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: server.port,
        caCerts: [fixture.caCertPem],
      });
      // Three downloads of 20 MB asked for, none read: far more than the socket buffers hold.
      await conn.write(new TextEncoder().encode("FILE GET big.bin\n".repeat(3)));
      readers.push(conn);
    }
    await eventually(
      () => openDescriptors(pid) <= baseline,
      `the descriptors of 5 stalled downloads to come back to ${baseline}`,
      20_000,
    );
    await servedOverTls(server, fixture);
  } finally {
    for (const conn of readers) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }
});
