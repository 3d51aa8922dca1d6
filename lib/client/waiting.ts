/**
 * What the client says while a reply is late, in words that are true
 * whatever the cause. The protocol does not tell a client that it is queued
 * (a queued connection gets no reply until its handler starts), so after a
 * second without a reply the client cannot know whether the Manager queued
 * it or the request is slow. It does know one thing for sure: once any
 * reply has arrived on a connection, that connection is running, because
 * SPEC §3 answers a queued connection only with a refusal (`ERR busy`,
 * `ERR timeout`, `ERR shutdown`) that closes it, and a handler that started
 * never goes back to the queue. So the notice says "may have queued" before
 * the first reply, and "running, not queued" after one.
 */
/** Where the notice is drawn: one line that can be replaced (the Printer's notice line). */
export interface NoticeLine {
  notice(text: string): void;
  clearNotice(): void;
}

/** A reply slower than this gets a notice: a running server answers most requests within milliseconds. */
export const WAIT_NOTICE_MS = 1000;
/** How often the notice's count of seconds is redrawn. */
const NOTICE_REDRAW_MS = 1000;

/** Why no reply has come yet; `answered`: a reply has arrived on this connection before. */
export function waitingReason(answered: boolean): string {
  return answered
    ? "this connection is running (not queued), so the request itself is slow"
    : "the server may have queued this connection until a slot frees, or the request is slow";
}

/** The notice shown after `elapsedMs` without a reply. */
export function waitingNotice(elapsedMs: number, answered: boolean): string {
  return `no reply for ${Math.floor(elapsedMs / 1000)} s: ${waitingReason(answered)}`;
}

/** Options of {@linkcode withWaitNotice}. */
export interface WaitNoticeOptions {
  printer: NoticeLine;
  /** Whether a reply had arrived on the connection before this request was sent. */
  answered: boolean;
}

/**
 * `pending`, with {@linkcode waitingNotice} on the printer's notice line
 * from {@linkcode WAIT_NOTICE_MS} on, its seconds counting up, erased once
 * `pending` settles.
 */
export async function withWaitNotice<T>(
  pending: Promise<T>,
  options: WaitNoticeOptions,
): Promise<T> {
  const { printer, answered } = options;
  const started = performance.now();
  let shown = false;
  let redraw: ReturnType<typeof setInterval> | undefined;
  const show = () => {
    if (shown) printer.clearNotice();
    printer.notice(waitingNotice(performance.now() - started, answered));
    shown = true;
  };
  const timer = setTimeout(() => {
    show();
    redraw = setInterval(show, NOTICE_REDRAW_MS);
  }, WAIT_NOTICE_MS);
  try {
    return await pending;
  } finally {
    clearTimeout(timer);
    clearInterval(redraw);
    if (shown) printer.clearNotice();
  }
}
