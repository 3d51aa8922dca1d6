/**
 * Opening the protocol port (docs/server.md#server-options): `Deno.listen`
 * with `--backlog` as the kernel's listen queue, on the plain and the TLS
 * port alike (the TLS handshake runs over an accepted TCP connection,
 * tls_port.ts). One function, so that every network thread opens its
 * listener the same way.
 */
/** Where Linux keeps the cap on every listen queue. */
const SOMAXCONN_FILE = "/proc/sys/net/core/somaxconn";

/** Options of {@linkcode listenClients}. */
export interface ClientListenOptions {
  hostname: string;
  port: number;
  /** `--backlog`: connections the kernel keeps waiting for accept. */
  backlog: number;
}

/** Listens on the protocol port; throws Deno's error (address in use, permission). */
export function listenClients(options: ClientListenOptions): Deno.TcpListener {
  return Deno.listen({
    hostname: options.hostname,
    port: options.port,
    tcpBacklog: options.backlog,
  });
}

/**
 * One line for the log when the kernel keeps a shorter listen queue than
 * `backlog` (Linux silently cuts it to `net.core.somaxconn`); undefined
 * when it does not, or where that cap cannot be read.
 */
export function backlogCapNote(backlog: number, somaxconn: number | undefined): string | undefined {
  if (somaxconn === undefined || somaxconn >= backlog) return undefined;
  return `--backlog ${backlog} is capped by the kernel at ${somaxconn} (net.core.somaxconn): ` +
    `a burst of more connections than that may wait a second each; raise it with ` +
    `sysctl -w net.core.somaxconn=${backlog}`;
}

/**
 * Linux's `net.core.somaxconn`; undefined elsewhere or when it cannot be
 * read. Deno 2.9.6 lets only `--allow-all` read /proc, which the server
 * must never need: with its usual permissions the cap goes unlogged
 * (docs/server.md says how to check it).
 */
export function readSomaxconn(): number | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const value = Number(Deno.readTextFileSync(SOMAXCONN_FILE).trim());
    return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}
