/**
 * What the client says while a reply is late, in words that are true
 * whatever the cause. The protocol does not tell a client that it is queued
 * (a queued connection gets no reply until its handler starts), so after a
 * second without a reply the client cannot know whether the Manager queued
 * it or the request is slow. It does know one thing for sure: once any
 * reply has arrived on a connection, that connection is running, because
 * docs/protocol.md#admission-the-queue-and-its-limits answers a queued connection only with a refusal (`ERR busy`,
 * `ERR timeout`, `ERR shutdown`) that closes it, and a handler that started
 * never goes back to the queue. So the notice says "may have queued" before
 * the first reply, and "running, not queued" after one.
 *
 * The seconds it counts are those since the last byte arrived, not since
 * the request was sent: a listing that pages for a minute is not late, and
 * a notice that counted its whole time would say "no reply" under keys
 * that just arrived.
 */
/** Where the notice is drawn: one line that can be replaced (the Printer's notice line). */
export interface NoticeLine {
  /** Shows `text` in place of the notice shown before (the same text again draws nothing). */
  notice(text: string): void;
  /** Erases the notice, if one is shown. */
  clearNotice(): void;
}

/** What the notice needs to know of the connection (lib/client/connection.ts). */
export interface ReplyActivity {
  /** A reply has arrived on this connection: it is running, not queued. */
  readonly answered: boolean;
  /** `performance.now()` when the last byte arrived; -Infinity if none has. */
  readonly lastByteAt: number;
}

/** A reply slower than this gets a notice: a running server answers most requests within milliseconds. */
export const WAIT_NOTICE_MS = 1000;
/** How often the time since the last byte is looked at: the notice is at most this late. */
const NOTICE_CHECK_MS = 200;

/**
 * What is awaited: a request's reply, or the reply to an upload whose
 * payload has been sent (the server is still reading or writing it, or has
 * not started: a queued connection's bytes wait in the network buffers).
 */
export type Awaited = "reply" | "stored";

/** Why no reply has come yet; `answered`: a reply has arrived on this connection before. */
export function waitingReason(answered: boolean, awaited: Awaited = "reply"): string {
  const slow = awaited === "reply"
    ? "the request is slow"
    : "the server is still receiving and storing the file";
  return answered
    ? `this connection is running (not queued), so ${
      awaited === "reply" ? "the request itself is slow" : slow
    }`
    : `the server may have queued this connection until a slot frees, or ${slow}`;
}

/** The notice shown after `quietMs` without a byte from the server. */
export function waitingNotice(quietMs: number, answered: boolean, awaited?: Awaited): string {
  return `no reply for ${Math.floor(quietMs / 1000)} s: ${waitingReason(answered, awaited)}`;
}

/** Options of {@linkcode withWaitNotice}. */
export interface WaitNoticeOptions {
  printer: NoticeLine;
  /** The connection the reply comes on. */
  activity: ReplyActivity;
  /** What is awaited (default: a request's reply). */
  awaited?: Awaited;
}

/**
 * `pending`, with {@linkcode waitingNotice} on the printer's notice line
 * while nothing has arrived for {@linkcode WAIT_NOTICE_MS} (counted from
 * the later of the start and the last byte received), its seconds counting
 * up; erased when bytes arrive again and once `pending` settles.
 */
export async function withWaitNotice<T>(
  pending: Promise<T>,
  options: WaitNoticeOptions,
): Promise<T> {
  const { printer, activity, awaited } = options;
  const started = performance.now();
  let shown = false;
  const check = () => {
    const quiet = performance.now() - Math.max(started, activity.lastByteAt);
    try {
      if (quiet >= WAIT_NOTICE_MS) {
        printer.notice(waitingNotice(quiet, activity.answered, awaited));
        shown = true;
      } else if (shown) {
        printer.clearNotice();
        shown = false;
      }
    } catch {
      // A notice that cannot be drawn (stderr gone) is not worth failing the request for;
      // the next output to that stream reports the failure.
    }
  };
  const timer = setInterval(check, NOTICE_CHECK_MS);
  try {
    return await pending;
  } finally {
    clearInterval(timer);
    if (shown) printer.clearNotice();
  }
}
