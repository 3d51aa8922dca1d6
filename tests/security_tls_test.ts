/** The certificate and key checks, and the openssl-made fixtures that the TLS tests rely on. */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { loadTlsFiles, TlsFilesError } from "../lib/security/tls_files.ts";
import { makeTlsFixture } from "./tls_fixtures.ts";
import { run } from "./helpers.ts";

const encoder = new TextEncoder();

/** Accepts one TLS connection and answers its first bytes with "pong". */
async function pongOnce(listener: Deno.TlsListener): Promise<void> {
  const conn = await listener.accept();
  try {
    await conn.handshake();
    const buffer = new Uint8Array(16);
    if (await conn.read(buffer) !== null) await conn.write(encoder.encode("pong"));
  } catch {
    // A client that refused our certificate ends the handshake; the test asserts on its side.
  } finally {
    conn.close();
  }
}

Deno.test("the fixture's leaf, signed by its CA, is trusted with the CA and refused without", async () => {
  await using tls = await makeTlsFixture();
  using listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.certPem,
    key: tls.keyPem,
  });
  const { port } = listener.addr;

  for (const hostname of ["localhost", "127.0.0.1"]) {
    const served = pongOnce(listener);
    const conn = await Deno.connectTls({ hostname, port, caCerts: [tls.caCertPem] });
    try {
      await conn.write(encoder.encode("ping"));
      const buffer = new Uint8Array(16);
      const n = await conn.read(buffer);
      assertEquals(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "pong", hostname);
    } finally {
      conn.close();
    }
    await served;
  }

  const served = pongOnce(listener);
  await assertRejects(
    async () => {
      const conn = await Deno.connectTls({ hostname: "localhost", port });
      try {
        await conn.handshake();
      } finally {
        conn.close();
      }
    },
    Deno.errors.InvalidData,
    "UnknownIssuer",
  );
  await served;
});

Deno.test("loadTlsFiles returns the PEM texts, the subject and the expiry", async () => {
  await using tls = await makeTlsFixture();
  const files = await loadTlsFiles(tls.certPath, tls.keyPath);
  assertEquals([files.cert, files.key, files.subject], [tls.certPem, tls.keyPem, "CN=localhost"]);
  const hoursLeft = (files.notAfter.getTime() - Date.now()) / 3_600_000;
  assert(hoursLeft > 23 && hoursLeft <= 24, `expires in ${hoursLeft} h`);
});

Deno.test("loadTlsFiles refuses, in one line naming the option and file, what cannot serve", async () => {
  await using tls = await makeTlsFixture();
  const path = (name: string) => `${tls.dir}/${name}`;
  await Deno.writeTextFile(path("empty.pem"), "");
  await Deno.writeTextFile(
    path("garbage.pem"),
    "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
  );
  await Deno.writeTextFile(
    path("bad.key"),
    "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
  );
  const other = await tls.renew();
  // deno-fmt-ignore
  const encrypted = await run("openssl", [
    "pkey", "-in", tls.keyPath, "-aes256", "-passout", "pass:x", "-out", path("encrypted.key"),
  ]);
  assertEquals(encrypted.code, 0, encrypted.stderr);

  const q = JSON.stringify;
  const cases: Array<[string, string, string]> = [
    [path("nope.pem"), tls.keyPath, `--tls-cert ${q(path("nope.pem"))}: no such file`],
    [tls.certPath, path("nope.key"), `--tls-key ${q(path("nope.key"))}: no such file`],
    [
      path("empty.pem"),
      tls.keyPath,
      `--tls-cert ${q(path("empty.pem"))}: no PEM certificate in it`,
    ],
    [
      tls.certPath,
      path("empty.pem"),
      `--tls-key ${q(path("empty.pem"))}: no PEM private key in it`,
    ],
    [tls.keyPath, tls.certPath, `--tls-cert ${q(tls.keyPath)}: no PEM certificate in it`],
    [
      path("garbage.pem"),
      tls.keyPath,
      `--tls-cert ${q(path("garbage.pem"))}: not a valid certificate (`,
    ],
    [tls.certPath, path("bad.key"), `--tls-key ${q(path("bad.key"))}: not a valid private key (`],
    [
      tls.certPath,
      path("encrypted.key"),
      `--tls-key ${q(path("encrypted.key"))}: the key is encrypted`,
    ],
    [
      tls.certPath,
      other.keyPath,
      `--tls-key ${q(other.keyPath)}: is not the key of the certificate in ${tls.certPath}`,
    ],
  ];
  for (const [cert, key, message] of cases) {
    const error = await assertRejects(() => loadTlsFiles(cert, key), TlsFilesError);
    assert(error.message.startsWith(message), `expected ${message}\n     got ${error.message}`);
    assert(!error.message.includes("\n"), `one line: ${error.message}`);
  }
});
