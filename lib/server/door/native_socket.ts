/**
 * The TLS port's fast path (tls_port.ts): a `node:net` socket on Node's
 * native TCP handle, over a second descriptor of an accepted
 * `Deno.TcpConn`'s socket, for `node:tls` to run on. Over a native handle
 * Deno's TLS layer reads and writes the records itself, in Rust; over a JS
 * stream (tls_conn.ts `TcpStream`) every record crosses into JavaScript
 * twice and takes a pump of promises and copies. Measured (S1 over TLS, 50
 * clients, PING, requests per server core, 4 interleaved pairs, load
 * average 2-3): 53,665 over the JS stream, 60,646 here (1.13×).
 *
 * Why a second descriptor: the handle is made with the `tcp_wrap`
 * binding's `openFromRid`, which duplicates the connection's descriptor,
 * and the `Deno.TcpConn` cannot let go of its own without ending the
 * connection (closing it shuts down our sending side: the peer sees FIN).
 * So both stay open for the connection's life, and the connection is
 * closed by closing both: a TLS connection holds two descriptors
 * (docs/security.md#running-it-on-a-network). Closing them is what makes
 * the handshake deadline real, as with the JS stream: no task of Deno's
 * holds the socket (tls_port.ts says why `Deno.listenTls` would).
 *
 * Where the handle cannot be made — a connection after its PROXY header,
 * whose first bytes were read already, or no descriptor left for the
 * duplicate — the TLS port uses the JS stream.
 */
import { Socket } from "node:net";
import process from "node:process";

/** Node's native TCP handle (`tcp_wrap`), as far as the TLS port uses it. */
interface TcpHandle {
  /** Set by `node:tls` when it takes the handle; called with each read (the count in the stream state). */
  onread?: (this: TcpHandle, buffer: unknown) => unknown;
  openFromRid(rid: number): number;
  readStart(): number;
  readStop(): number;
  close(): void;
}

/** The `tcp_wrap` binding: the handle's class and its kinds. */
interface TcpWrapBinding {
  TCP: new (kind: number) => TcpHandle;
  constants: { SOCKET: number };
}

/** The `stream_wrap` binding: where a read's byte count or error is left for `onread`. */
interface StreamWrapBinding {
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
}

/** A native socket over a connection, and the switch of its reads. */
export interface NativeSocket {
  /** The socket for `new TLSSocket(socket, …)`; destroying it closes its descriptor. */
  readonly socket: Socket;
  /**
   * True stops reading from the socket (tls_conn.ts `RecordReads`). The TLS
   * layer's own pause does not reach a native handle in Deno 2.9.6.
   */
  readAheadFull: boolean;
  /**
   * Calls `onEnd` when a read finds the peer's end (or an error), after the
   * TLS layer has seen it. Call it once the TLS socket is made: the TLS
   * layer does not report a peer that hangs up mid-handshake, the deadline
   * would (with the JS stream, tls_port.ts listens to its `end`).
   */
  watchEnd(onEnd: () => void): void;
}

/** Descriptors a connection on a native socket holds: its own and the duplicate. */
export const NATIVE_SOCKET_DESCRIPTORS = 2;

/** Where Deno keeps a connection's resource id (no longer public in Deno 2). */
const RID_DESCRIPTION = "Deno.internal.rid";

/**
 * A native socket over a second descriptor of `conn`'s socket; undefined
 * where it cannot be made (a wrapped connection, or no descriptor left).
 */
export function openNativeSocket(conn: object): NativeSocket | undefined {
  const ridSymbol = Object.getOwnPropertySymbols(conn).find((symbol) =>
    symbol.description === RID_DESCRIPTION
  );
  const rid = ridSymbol === undefined ? undefined : Reflect.get(conn, ridSymbol);
  if (typeof rid !== "number") return undefined;
  const tcpWrap = tcpWrapBinding();
  if (tcpWrap === undefined) return undefined;
  const handle = new tcpWrap.TCP(tcpWrap.constants.SOCKET);
  if (handle.openFromRid(rid) !== 0) {
    handle.close();
    return undefined;
  }
  const socket = new Socket(
    { handle, allowHalfOpen: true, readable: true, writable: true } as ConstructorParameters<
      typeof Socket
    >[0],
  );
  let full = false;
  return {
    socket,
    watchEnd(onEnd) {
      const { streamBaseState, kReadBytesOrError } = binding<StreamWrapBinding>("stream_wrap");
      const onread = handle.onread;
      if (onread === undefined) return;
      handle.onread = function (buffer) {
        const nread = streamBaseState[kReadBytesOrError]!;
        const result = onread.call(this, buffer);
        if (nread < 0) onEnd();
        return result;
      };
    },
    get readAheadFull() {
      return full;
    },
    set readAheadFull(value: boolean) {
      if (value === full) return;
      full = value;
      if (full) handle.readStop();
      else handle.readStart();
    },
  };
}

/**
 * The `tcp_wrap` binding, or undefined where this Deno has none with
 * `openFromRid` (another version): then every TLS connection takes the JS
 * stream, slower but the same to its client.
 */
function tcpWrapBinding(): TcpWrapBinding | undefined {
  try {
    const tcpWrap = binding<Partial<TcpWrapBinding>>("tcp_wrap");
    const works = typeof tcpWrap.TCP === "function" &&
      typeof tcpWrap.TCP.prototype?.openFromRid === "function" &&
      typeof tcpWrap.constants?.SOCKET === "number";
    return works ? tcpWrap as TcpWrapBinding : undefined;
  } catch {
    return undefined;
  }
}

/** One of Node's internal bindings, which Deno 2.9.6 gives through `process.binding`. */
function binding<T>(name: string): T {
  return (process as unknown as { binding(name: string): T }).binding(name);
}
