/**
 * Reading the PROXY protocol header at the door (docs/server.md#behind-a-load-balancer):
 * a connection from a `--proxy-protocol` address must begin with one, and
 * the client it names replaces the connection's own address from then on.
 *
 * Like a TLS handshake (tls_port.ts `Handshakes`), the header is read
 * before the Manager, bounded by `--request-timeout` and capped in number,
 * and a connection that fails costs no queue place: a balancer that
 * misbehaves, or a peer that only pretends to be one, cannot hold slots.
 * The header's bytes are parsed by lib/protocol/proxy_header.ts; what the
 * same reads brought after it is the client's first bytes, and reaches the
 * protocol through {@linkcode PrefixedConn}.
 */
import { parseProxyHeader, PROXY_MAX_HEADER_BYTES, type ProxySource } from "../../protocol/mod.ts";
import { closeQuietly } from "../../io.ts";

/**
 * Headers being read at once. Each holds a descriptor and a buffer of at
 * most 4 KiB. When the cap is reached the oldest is dropped, not the
 * newcomer (as with TLS handshakes): a flood of silent connections from a
 * balancer's address has to outpace real headers, which arrive with the
 * connection's first segment, instead of merely filling the cap once.
 */
export const MAX_PROXY_HEADERS = 1024;
/** First read's size: a version 1 line (107 bytes) or HAProxy's version 2 header with its usual TLVs. */
const FIRST_READ_BYTES = 512;

/** Why a connection brought no usable header. */
export type ProxyFailure =
  /** Not a PROXY header (a direct client, or garbage). */
  | "malformed"
  /** The peer closed or reset before a whole header arrived. */
  | "cut short"
  /** Not whole within --request-timeout. */
  | "timed out"
  /** Dropped for a newer connection when {@linkcode MAX_PROXY_HEADERS} were being read. */
  | "dropped";

/** A connection as the door hands it on: what the handler and the turn-away use of it. */
export type DoorConn = Pick<
  Deno.Conn,
  "read" | "write" | "close" | "closeWrite" | "remoteAddr" | "localAddr"
>;

/** A connection whose header was read: the client it names, and the connection to serve it on. */
export interface Proxied {
  conn: DoorConn;
  /** The client; the connection's own address for a LOCAL or UNKNOWN header. */
  remote: Deno.NetAddr;
}

/** Options of {@linkcode ProxyHeaders}. */
export interface ProxyHeadersOptions {
  /** SPEC `--request-timeout` in ms: a header not whole by then closes the connection; 0 never. */
  timeoutMs: number;
  /** Headers read at once; default {@linkcode MAX_PROXY_HEADERS}. */
  max?: number;
  /** Called once per connection that brought no header (counted and logged by the door). */
  onFailure: (why: ProxyFailure, detail: string, conn: Deno.Conn) => void;
}

/** The headers being read, each with its deadline, at most `max` at once. */
export class ProxyHeaders {
  readonly #options: ProxyHeadersOptions;
  readonly #max: number;
  /** In start order (a Map keeps it), so the oldest is the first key; the value drops it. */
  readonly #pending = new Map<Deno.Conn, () => void>();

  constructor(options: ProxyHeadersOptions) {
    this.#options = options;
    this.#max = options.max ?? MAX_PROXY_HEADERS;
  }

  /** Headers being read now. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Reads `conn`'s header. Resolves to the client and the connection to
   * serve, or to undefined when there was no usable header, and then `conn`
   * is closed without a word. Never rejects.
   */
  async read(conn: Deno.Conn): Promise<Proxied | undefined> {
    if (this.#pending.size >= this.#max) this.#pending.values().next().value?.();
    let why: ProxyFailure = "cut short";
    const stop = (reason: ProxyFailure) => {
      why = reason;
      // Out of the count at once, not when its read settles (a later turn of the
      // event loop): a burst of accepts in one turn must each drop another one.
      this.#pending.delete(conn);
      closeQuietly(conn);
    };
    const timeoutMs = this.#options.timeoutMs;
    const timer = timeoutMs > 0 ? setTimeout(() => stop("timed out"), timeoutMs) : undefined;
    this.#pending.set(conn, () => stop("dropped"));
    try {
      const found = await readHeader(conn);
      if (typeof found === "string") {
        why = "malformed";
        throw new Error(found);
      }
      const own = conn.remoteAddr as Deno.NetAddr;
      const remote = found.source === undefined ? own : { ...own, ...found.source };
      const proxied = found.rest.length === 0 ? conn : new PrefixedConn(conn, found.rest);
      return { conn: proxied, remote };
    } catch (error) {
      closeQuietly(conn);
      this.#options.onFailure(why, error instanceof Error ? error.message : String(error), conn);
      return undefined;
    } finally {
      clearTimeout(timer);
      this.#pending.delete(conn);
    }
  }

  /** Closes every connection whose header is being read (the server is stopping). */
  closeAll(): void {
    for (const drop of [...this.#pending.values()]) drop();
  }
}

/**
 * Reads until the bytes hold a whole header: its source and the bytes read
 * past it, or the reason it is malformed. Throws when the peer closes first
 * (or the connection is closed under the read).
 */
async function readHeader(
  conn: Deno.Conn,
): Promise<{ source: ProxySource | undefined; rest: Uint8Array } | string> {
  let buffer = new Uint8Array(FIRST_READ_BYTES);
  let filled = 0;
  for (;;) {
    if (filled === buffer.length) {
      const grown = new Uint8Array(Math.min(buffer.length * 2, PROXY_MAX_HEADER_BYTES));
      grown.set(buffer);
      buffer = grown;
    }
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) throw new Error(`the peer closed after ${filled} bytes of a PROXY header`);
    filled += n;
    const result = parseProxyHeader(buffer.subarray(0, filled));
    if (result.kind === "malformed") return result.reason;
    if (result.kind === "done") {
      return { source: result.source, rest: buffer.slice(result.consumed, filled) };
    }
  }
}

/**
 * A connection whose first bytes were already read (those after the PROXY
 * header in the same segment): they come first, then the socket's. Only
 * made when there are such bytes, so the common case reads the socket
 * directly.
 */
export class PrefixedConn implements DoorConn {
  readonly #conn: Deno.Conn;
  #prefix: Uint8Array | undefined;

  constructor(conn: Deno.Conn, prefix: Uint8Array) {
    this.#conn = conn;
    this.#prefix = prefix;
  }

  get remoteAddr(): Deno.Addr {
    return this.#conn.remoteAddr;
  }

  get localAddr(): Deno.Addr {
    return this.#conn.localAddr;
  }

  /** The bytes read with the header first (as many as fit), then the socket's. */
  read(p: Uint8Array): Promise<number | null> {
    const prefix = this.#prefix;
    if (prefix === undefined) return this.#conn.read(p);
    const n = Math.min(p.length, prefix.length);
    p.set(prefix.subarray(0, n));
    this.#prefix = n === prefix.length ? undefined : prefix.subarray(n);
    return Promise.resolve(n);
  }

  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#prefix = undefined;
    this.#conn.close();
  }
}
