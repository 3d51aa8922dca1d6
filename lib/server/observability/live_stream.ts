/**
 * The live page's event stream, `GET /events` on the metrics port
 * (docs/observability.md#live-view): server-sent events, one `data:` line of
 * JSON per sample. One timer samples the server while anyone watches and
 * sends that one encoding to every viewer; nothing is pushed per request, so
 * the protocol port never waits for a viewer.
 *
 * A viewer that stops reading costs one sample, then its connection: a
 * viewer holds at most one write in flight, a sample due while it is still
 * writing is skipped for it (the next one supersedes it anyway), and one
 * whose write has not finished in {@linkcode STALL_MS} is closed. So the
 * memory a viewer can hold is one sample plus the kernel's socket buffers,
 * whatever it does.
 */
import { closeQuietly, writeAll } from "../../io.ts";
import type { LiveSample } from "./live_sample.ts";

/** Milliseconds between samples: 5 a second, above the 4 the page promises even with a late timer. */
export const SAMPLE_MS = 200;
/**
 * Viewers at once. Each is a connection of the metrics endpoint that
 * stays open; this leaves 16 of its 64 for scrapes and health checks.
 * Beyond it a viewer gets `503` and its page tries again later.
 */
export const MAX_VIEWERS = 48;
/** A viewer whose sample has not been taken in this long has stopped reading: it is closed. */
export const STALL_MS = 5_000;
/** How long the page's EventSource waits before reconnecting (the `retry:` field). */
const RETRY_MS = 1_000;

const encoder = new TextEncoder();

/** The connection a viewer watches on (a Deno.Conn on the metrics port). */
export interface ViewerConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** Options of {@linkcode LiveStream}. */
export interface LiveStreamOptions {
  /** Default {@linkcode SAMPLE_MS}. */
  sampleMs?: number;
  /** Default {@linkcode STALL_MS}. */
  stallMs?: number;
}

interface Viewer {
  conn: ViewerConn;
  /** `performance.now()` when its write in flight began; 0 when none is. */
  writingSince: number;
  leave: () => void;
}

/** The viewers of one metrics endpoint and the timer that feeds them. */
export class LiveStream {
  readonly #sample: () => LiveSample | Promise<LiveSample>;
  /** A tick's sample being gathered (from every network thread, with --threads): the next tick skips. */
  #sampling = false;
  readonly #sampleMs: number;
  readonly #stallMs: number;
  readonly #viewers = new Set<Viewer>();
  /**
   * Viewers admitted whose first sample is being gathered (not yet in
   * #viewers): they count against {@linkcode MAX_VIEWERS} too, or a burst
   * of requests would all pass the check while the first sample is taken.
   */
  #joining = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /**
   * `sample` gathers the server's state (live_sample.ts `sampleServer`); a
   * server of several network threads gathers it from all of them, so it
   * may answer later.
   */
  constructor(
    sample: () => LiveSample | Promise<LiveSample>,
    options: LiveStreamOptions = {},
  ) {
    this.#sample = sample;
    this.#sampleMs = options.sampleMs ?? SAMPLE_MS;
    this.#stallMs = options.stallMs ?? STALL_MS;
  }

  /** Viewers connected now. */
  get viewers(): number {
    return this.#viewers.size;
  }

  /**
   * Streams samples on `conn`, whose request head has been read, until the
   * viewer leaves, stops reading, or the stream closes; never throws.
   */
  async serve(conn: ViewerConn): Promise<void> {
    if (this.#closed) return;
    if (this.#viewers.size + this.#joining >= MAX_VIEWERS) {
      const body = `too many viewers (${MAX_VIEWERS}); the page will try again\n`;
      const head =
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n" +
        `content-length: ${
          encoder.encode(body).length
        }\r\nretry-after: 5\r\nconnection: close\r\n\r\n`;
      await writeAll(conn, encoder.encode(head + body)).catch(() => {});
      return;
    }
    const head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n" +
      "cache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n" +
      `retry: ${RETRY_MS}\n\n`;
    let leave!: () => void;
    const left = new Promise<void>((resolve) => leave = resolve);
    const viewer: Viewer = { conn, writingSince: 0, leave };
    // The head and a first sample at once, so that the page fills without waiting for the timer.
    let first: LiveSample;
    this.#joining++;
    try {
      first = await this.#sample();
    } finally {
      this.#joining--;
    }
    if (this.#closed) return closeQuietly(conn);
    this.#viewers.add(viewer);
    this.#send(viewer, encoder.encode(head + event(first)));
    this.#start();
    this.#watch(viewer);
    await left;
  }

  /** Closes every viewer and stops the timer. */
  close(): void {
    this.#closed = true;
    for (const viewer of this.#viewers) this.#drop(viewer);
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#sampleMs);
  }

  /** One sample, encoded once, to every viewer that has taken the last one. */
  async #tick(): Promise<void> {
    if (this.#viewers.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#sampling) return;
    const now = performance.now();
    const ready: Viewer[] = [];
    for (const viewer of this.#viewers) {
      if (viewer.writingSince === 0) ready.push(viewer);
      else if (now - viewer.writingSince >= this.#stallMs) this.#drop(viewer);
    }
    if (ready.length === 0) return;
    this.#sampling = true;
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(event(await this.#sample()));
    } finally {
      this.#sampling = false;
    }
    for (const viewer of ready) if (this.#viewers.has(viewer)) this.#send(viewer, bytes);
  }

  #send(viewer: Viewer, bytes: Uint8Array): void {
    viewer.writingSince = performance.now();
    writeAll(viewer.conn, bytes).then(
      () => viewer.writingSince = 0,
      () => this.#drop(viewer),
    );
  }

  /**
   * Reads (and ignores) whatever the viewer sends, to see it leave: a
   * browser that closes its tab closes the connection, and the read ends.
   */
  async #watch(viewer: Viewer): Promise<void> {
    const buffer = new Uint8Array(1024);
    try {
      while (await viewer.conn.read(buffer) !== null) {
        // A viewer has nothing to say after its request; bytes it sends anyway are dropped.
      }
    } catch {
      // Reset, or closed by #drop.
    }
    this.#drop(viewer);
  }

  #drop(viewer: Viewer): void {
    if (!this.#viewers.delete(viewer)) return;
    try {
      viewer.conn.close();
    } catch {
      // Already closed.
    }
    viewer.leave();
  }
}

/** One server-sent event: JSON escapes every line break, so the data is one line. */
function event(sample: LiveSample): string {
  return `data: ${JSON.stringify(sample)}\n\n`;
}
