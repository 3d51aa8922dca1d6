/**
 * Turning a connection away before the Manager (the address lists,
 * protected mode): one `ERR denied` line, then the close, done so that the
 * line arrives.
 *
 * Why not write and close at once: a client that sent its first request
 * (the bundled client sends AUTH as soon as it connects) has bytes we never
 * read, and closing a socket with unread input sends a reset, which may
 * overtake our line (Windows and some middleboxes drop what the reset
 * follows). So the server half-closes after the line and reads what the
 * client still sends, up to a small bound and a short deadline, before it
 * closes: Apache's "lingering close". Lingering connections are capped, so
 * a flood of refused clients cannot hold more descriptors than that.
 */
import { closeQuietly, writeAll } from "../../io.ts";
import { encodeReply, type LineReply } from "../../protocol/mod.ts";

/**
 * Longest a refused connection is kept: its line written, what it still
 * sends drained. Also the longest a handler waits for its last line to go
 * out (reply_writer.ts `sayLast`).
 */
export const LINGER_MS = 1000;
/** Bytes drained from a refused client at most; past it, the close (and its reset) happens anyway. */
const LINGER_BYTES = 64 * 1024;
/** Refused connections lingering at once; beyond it, a refusal closes right after its line. */
export const MAX_LINGERING = 64;

/** Options of {@linkcode TurnAway}; tests use small values. */
export interface TurnAwayOptions {
  /** Default {@linkcode LINGER_MS}. */
  lingerMs?: number;
  /** Default {@linkcode MAX_LINGERING}. */
  maxLingering?: number;
}

/** Says one line to connections that will not be served, and closes them. */
export class TurnAway {
  #lingering = 0;
  readonly #lingerMs: number;
  readonly #maxLingering: number;

  constructor(options: TurnAwayOptions = {}) {
    this.#lingerMs = options.lingerMs ?? LINGER_MS;
    this.#maxLingering = options.maxLingering ?? MAX_LINGERING;
  }

  /** Connections still lingering now. */
  get lingering(): number {
    return this.#lingering;
  }

  /**
   * Writes `reply` to `conn` and closes it, within the linger time in all.
   * Resolves when `conn` is closed; never rejects (callers need not wait).
   */
  async refuse(conn: RefusedConn, reply: LineReply): Promise<void> {
    // Bounds the whole exchange: a client that does not take our line, or
    // keeps sending, is closed when it fires, which ends any pending read or write.
    const timer = setTimeout(() => closeQuietly(conn), this.#lingerMs);
    let lingering = false;
    try {
      await writeAll(conn, encodeReply(reply));
      if (this.#lingering >= this.#maxLingering) return;
      lingering = true;
      this.#lingering++;
      await conn.closeWrite();
      const scratch = new Uint8Array(4096);
      for (let drained = 0; drained < LINGER_BYTES;) {
        const n = await conn.read(scratch);
        if (n === null) break;
        drained += n;
      }
    } catch {
      // The client is gone, or the deadline closed it: nothing more to say.
    } finally {
      clearTimeout(timer);
      if (lingering) this.#lingering--;
      closeQuietly(conn);
    }
  }
}

/** What a refusal needs of a connection (a Deno.Conn). */
export interface RefusedConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}
