/**
 * The accept loop (docs/protocol.md#admission-the-queue-and-its-limits), shared by the protocol port and the metrics
 * port. What matters is how it treats errors:
 *
 * - An error that belongs to one connection — the peer reset or vanished
 *   between the kernel's accept queue and our `accept()` (Deno reports a
 *   reset one as `NotConnected`, os error 107) — is skipped at once and
 *   silently. Linux accept(2) says to retry such errors like EAGAIN, and
 *   Go's poller and libuv do just that. Backing off on them let 200
 *   resetting connections deafen the server for minutes.
 * - Running out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM)
 *   is the one case that deserves a pause: retrying at once would spin.
 *   Accepting backs off (doubling up to a second), logs one warning per
 *   episode and one line when it recovers, and resumes by itself.
 * - Any other error is treated like exhaustion (pause, retry): no accept
 *   error ever stops or crashes the server. Only closing the listener ends
 *   the loop.
 */
import { delay } from "@std/async/delay";
import type { Logger } from "../log.ts";
import { isPerConnectionError } from "../peer_errors.ts";

/** First pause after running out of descriptors; doubles up to the max. */
const BACKOFF_MIN_MS = 5;
/** Longest pause between accept retries: the server keeps trying, it never spins or dies. */
const BACKOFF_MAX_MS = 1000;

/** errno names that mean "this process or the system is out of something": pause. */
const EXHAUSTION = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/** Options of {@linkcode acceptLoop}. */
export interface AcceptOptions {
  logger: Logger;
  /** Names the listener in log lines ("clients", "metrics"). */
  what: string;
  /** True once the listener was closed on purpose: the error that follows ends the loop. */
  closed: () => boolean;
}

/**
 * Accepts until the listener is closed, handing each connection to
 * `onConnection` (which must not throw). Resolves when the listener closes.
 */
export async function acceptLoop<C extends Deno.Conn>(
  listener: { accept(): Promise<C> },
  onConnection: (conn: C) => void,
  options: AcceptOptions,
): Promise<void> {
  let backoff = 0;
  for (;;) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (options.closed() || error instanceof Deno.errors.BadResource) return;
      if (isPerConnectionError(error)) {
        if (options.logger.debugEnabled) {
          options.logger.debug("accept skipped a connection", { error: String(error) });
        }
        continue;
      }
      const exhausted = EXHAUSTION.has((error as { code?: string }).code ?? "");
      if (backoff === 0) {
        options.logger.warn(
          exhausted
            ? `accepting ${options.what} paused: out of descriptors or memory; retrying`
            : `accepting ${options.what} failed; retrying`,
          { error: String(error) },
        );
      }
      backoff = backoff === 0 ? BACKOFF_MIN_MS : Math.min(backoff * 2, BACKOFF_MAX_MS);
      await delay(backoff);
      continue;
    }
    if (backoff !== 0) {
      options.logger.info(`accepting ${options.what} again`);
      backoff = 0;
    }
    onConnection(conn);
  }
}
