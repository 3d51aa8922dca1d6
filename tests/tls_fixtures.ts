/**
 * TLS test fixtures made at test time with the `openssl` command: a
 * throwaway CA, and a leaf certificate for `localhost` and `127.0.0.1`
 * signed by it, in a temporary folder removed on dispose. A self-signed
 * leaf will not do: Deno (rustls/webpki) refuses a certificate that is its
 * own CA as a server certificate (`CaUsedAsEndEntity`).
 *
 * EC P-256 keys, because generating them takes milliseconds where RSA takes
 * up to seconds on a busy machine. Validity is one day: nothing outlives
 * the test run. The bench's TLS row (scripts/bench/rows/tls.ts) uses the
 * same fixture, so this file imports nothing but Deno.
 */

/** Paths and PEM texts of one CA and its leaf. */
export interface TlsFixture extends AsyncDisposable {
  readonly dir: string;
  readonly caCertPath: string;
  readonly caCertPem: string;
  readonly certPath: string;
  readonly certPem: string;
  readonly keyPath: string;
  readonly keyPem: string;
  /** Makes another key and leaf under the same CA (a renewal, for reload tests). */
  renew(): Promise<{ certPath: string; certPem: string; keyPath: string; keyPem: string }>;
}

const LEAF_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=DNS:localhost,IP:127.0.0.1",
].join("\n") + "\n";

async function openssl(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (code !== 0) {
    const why = new TextDecoder().decode(stderr).trim();
    throw new Error(`openssl ${args[0]} failed (exit ${code}): ${why}`);
  }
}

/** The server options that serve `fixture`'s leaf: `--tls-cert CERT --tls-key KEY`. */
export function tlsServerArgs(fixture: { certPath: string; keyPath: string }): string[] {
  return ["--tls-cert", fixture.certPath, "--tls-key", fixture.keyPath];
}

/** A fresh CA and `localhost`/`127.0.0.1` leaf; `await using` removes them. */
export async function makeTlsFixture(): Promise<TlsFixture> {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-tls-" });
  const path = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  try {
    // deno-fmt-ignore
    await openssl([
      "req", "-x509", ...ec, "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "1",
      "-subj", "/CN=switchboard test CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    await Deno.writeTextFile(path("leaf.ext"), LEAF_EXTENSIONS);
    let leaves = 0;
    const makeLeaf = async () => {
      const name = `leaf${++leaves}`;
      // deno-fmt-ignore
      await openssl([
        "req", ...ec, "-keyout", path(`${name}.key`), "-out", path(`${name}.csr`),
        "-subj", "/CN=localhost",
      ]);
      // deno-fmt-ignore
      await openssl([
        "x509", "-req", "-in", path(`${name}.csr`), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", path("leaf.ext"), "-out", path(`${name}.pem`),
      ]);
      return {
        certPath: path(`${name}.pem`),
        certPem: await Deno.readTextFile(path(`${name}.pem`)),
        keyPath: path(`${name}.key`),
        keyPem: await Deno.readTextFile(path(`${name}.key`)),
      };
    };
    const leaf = await makeLeaf();
    return {
      dir,
      caCertPath: path("ca.pem"),
      caCertPem: await Deno.readTextFile(path("ca.pem")),
      ...leaf,
      renew: makeLeaf,
      [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/**
 * The first 60 bytes of a ClientHello: a handshake record that announces
 * 512 bytes, of which the peer sends the header and part of the random.
 */
export const HALF_CLIENT_HELLO = new Uint8Array([
  0x16,
  0x03,
  0x01,
  0x02,
  0x00, // record: handshake, TLS 1.0, 512 bytes
  0x01,
  0x00,
  0x01,
  0xfc, // ClientHello, 508 bytes
  0x03,
  0x03, // TLS 1.2
  ...new Array(49).fill(0x2a), // part of the random
]);
