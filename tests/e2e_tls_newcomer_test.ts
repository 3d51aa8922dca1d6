/**
 * TLS as a newcomer meets it (docs/security.md#a-certificate-for-a-private-network):
 * the lines the docs give make a pair that works, from an empty folder to a
 * server with a user and a client that checks the certificate; a plain
 * self-signed certificate gets a warning at start and a client error in
 * plain words; a plain client is told to add --tls only when the server
 * answered in TLS.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { codeBlocks, commandsOf, runShell, runUsersAndTls } from "./doc_commands.ts";
import { tempDir, TestServer } from "./helpers.ts";
import { fakeServer, readRequest, runClient } from "./client_helpers.ts";

const SECTION = "A certificate for a private network";

Deno.test("the docs' openssl lines make a pair that a server and a checking client accept", async () => {
  await using dir = await tempDir();
  const [, use] = codeBlocks("docs/security.md", "sh").filter((b) => b.heading === SECTION);
  await runUsersAndTls(commandsOf(use!.lines), dir.path);
});

Deno.test("a certificate that is its own CA gets a warning at start and a plain-words client error", async () => {
  await using dir = await tempDir();
  const made = await runShell(
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 " +
      "-keyout self.key -out self.pem -subj /CN=localhost " +
      "-addext subjectAltName=DNS:localhost,IP:127.0.0.1",
    { cwd: dir.path },
  );
  assertEquals(made.code, 0, made.stderr);
  const cert = `${dir.path}/self.pem`;
  await using server = await TestServer.start([
    "--tls-cert",
    cert,
    "--tls-key",
    `${dir.path}/self.key`,
  ]);
  server.assertLogged(
    new RegExp(
      `WARN  the TLS certificate ${cert} is a CA certificate \\(as a plain openssl req -x509 ` +
        "makes\\), which clients refuse as a server's own \\(CaUsedAsEndEntity\\): make a CA " +
        "and a server certificate signed by it, " +
        "docs/security.md#a-certificate-for-a-private-network",
    ),
  );
  const result = await runClient([
    "--port",
    String(server.port),
    "--tls",
    "--cacert",
    cert,
    "ping",
  ]);
  assertEquals(result.code, 3);
  assertEquals(
    result.stderr,
    `error: cannot connect to 127.0.0.1:${server.port}: TLS: the server's certificate is a CA ` +
      "certificate, which clients refuse as a server's own (a plain openssl req -x509 makes " +
      "one); give the server a certificate signed by a CA and pass that CA with --cacert " +
      "(docs/security.md#a-certificate-for-a-private-network)\n",
  );
});

Deno.test("a plain client is told to add --tls only when the server answered in TLS", async () => {
  // A TLS port answers a plain line with an alert record, then closes.
  using tlsLike = fakeServer(async (conn) => {
    await readRequest(conn, { text: "" });
    await conn.write(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
  });
  const told = await runClient(["--port", String(tlsLike.port), "ping"]);
  assertEquals(told.code, 3);
  assertStringIncludes(
    told.stderr,
    "closed the connection before replying (it answered in TLS: add --tls)",
  );
  // A server that dies mid-request says nothing like TLS.
  using died = fakeServer(async (conn) => {
    await readRequest(conn, { text: "" });
  });
  const plain = await runClient(["--port", String(died.port), "ping"]);
  assertEquals(
    plain.stderr,
    `error: 127.0.0.1:${died.port} closed the connection before replying\n`,
  );
});
