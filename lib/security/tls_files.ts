/**
 * The server's certificate and key (`--tls-cert`, `--tls-key`, docs/security.md):
 * read and checked at startup, and again on SIGHUP, so a wrong path, a file
 * that is not PEM, an encrypted key or a key of another certificate is one
 * clear line before the port opens, not a failed handshake per client later.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { reasonOf } from "../paths.ts";

/** What the TLS port's handshakes need (lib/server/door/tls_port.ts), and what the server may want to log about it. */
export interface TlsFiles {
  /** PEM certificate chain, leaf first. */
  readonly cert: string;
  /** PEM private key of the leaf. */
  readonly key: string;
  /** The leaf's subject, e.g. `CN=example.com`. */
  readonly subject: string;
  /** When the leaf expires; the server warns if that has passed. */
  readonly notAfter: Date;
  /**
   * The leaf says it is a CA (basicConstraints CA:TRUE, what a plain
   * `openssl req -x509` writes): TLS clients refuse it as a server's own
   * certificate, so the server warns.
   */
  readonly isCa: boolean;
}

/** A certificate or key that cannot be used; the message is one line naming the option and file. */
export class TlsFilesError extends Error {
  override name = "TlsFilesError";
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
/** PKCS#8, PKCS#1 (RSA) and SEC1 (EC): the key forms Deno's TLS accepts. */
const PRIVATE_KEY = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

/** Reads and checks the certificate chain at `certPath` and the key at `keyPath`. */
export async function loadTlsFiles(certPath: string, keyPath: string): Promise<TlsFiles> {
  const cert = await readPem("--tls-cert", certPath);
  const key = await readPem("--tls-key", keyPath);
  const fail = (option: string, path: string, reason: string) =>
    new TlsFilesError(`${option} ${JSON.stringify(path)}: ${reason}`);

  if (!CERTIFICATE.test(cert)) throw fail("--tls-cert", certPath, "no PEM certificate in it");
  if (ENCRYPTED_KEY.test(key)) {
    throw fail(
      "--tls-key",
      keyPath,
      "the key is encrypted; give an unencrypted one (openssl pkey -in KEY -out PLAIN)",
    );
  }
  if (!PRIVATE_KEY.test(key)) throw fail("--tls-key", keyPath, "no PEM private key in it");

  let leaf: X509Certificate;
  try {
    // The first certificate of the chain is the server's own.
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw fail("--tls-cert", certPath, `not a valid certificate (${reason(error)})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw fail("--tls-key", keyPath, `not a valid private key (${reason(error)})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw fail("--tls-key", keyPath, `is not the key of the certificate in ${certPath}`);
  }
  return {
    cert,
    key,
    subject: leaf.subject.replace(/\n/g, ", "),
    notAfter: new Date(leaf.validTo),
    isCa: leaf.ca,
  };
}

async function readPem(option: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : reasonOf(error);
    throw new TlsFilesError(`${option} ${JSON.stringify(path)}: ${why}`);
  }
}

function reason(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}
