/**
 * The server's logger (docs/observability.md): text or JSON lines on a sink (stderr in the
 * server), written through the print lock so lines never interleave. Logging
 * never blocks a request: lines are queued and written by one drain task; a
 * sink that stops reading (a full pipe) costs a bounded queue, then drops.
 */
import { escapeControl, quoteText, UNSAFE_TO_SHOW } from "../escape.ts";
import { printLock } from "../lock.ts";
import { type ByteSink, writeAll } from "../io.ts";

/** `quiet` prints nothing, `info` the events of docs/observability.md, `debug` every request too. */
export type LogLevel = "quiet" | "info" | "debug";
/** `text` for people, `json` (one object per line) for log collectors. */
export type LogFormat = "text" | "json";
/**
 * A field value that is always written in quotes, even when it has nothing
 * to escape: a name a client chose (AUTH, HELLO, FILE), so that a name such
 * as `ada role=write` or one that is empty reads as one value, the same in
 * every line. JSON writes it as a plain string.
 */
export class Quoted {
  constructor(readonly text: string) {}
  toJSON(): string {
    return this.text;
  }
}

/** `text` as a {@linkcode Quoted} log field. */
export function quoted(text: string): Quoted {
  return new Quoted(text);
}

/** Extra key/value pairs of a log line. */
export type LogFields = Record<string, string | number | boolean | Quoted | null | undefined>;

/** Lines queued while the sink is slow; past this, lines are dropped and counted. */
export const MAX_QUEUED_LINES = 10_000;
/**
 * Longest field value written, in characters; longer text (a 65 KB command
 * word quoted with -v) is cut and ends in `…`. Quoting whole words wrote a
 * 1 GB log in 8 s; cut, a line stays under a few KiB even with every
 * character escaped, and the queue under {@linkcode MAX_QUEUED_LINES} of them.
 */
export const MAX_FIELD_CHARS = 512;
/**
 * Most characters joined into one write. Joining the whole queue instead,
 * 10,000 lines of 65 KB pass V8's longest string (2^29 characters): the
 * join throws, and the queue would be dropped without a count.
 */
export const MAX_BATCH_CHARS = 64 * 1024;

const encoder = new TextEncoder();

/** Text that is written without quotes: no space, quote, `=` or backslash (nor what escape.ts escapes). */
const BARE_VALUE = /^[^\s"=\\]+$/;

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /** Default `info`. */
  level?: LogLevel;
  /** Default `text`. */
  format?: LogFormat;
  /** Default: a sink that discards everything (lib never picks stderr itself). */
  sink?: ByteSink;
}

/** Writes log lines through the print lock. */
export class Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  readonly #sink: ByteSink | undefined;
  #queue: string[] = [];
  #dropped = 0;
  #draining: Promise<void> | null = null;
  #stampedAt = NaN;
  #stamp = "";

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "info";
    this.format = options.format ?? "text";
    this.#sink = options.sink;
  }

  /** True when debug lines are wanted, so callers can skip building them. */
  get debugEnabled(): boolean {
    return this.level === "debug";
  }

  /** An event of docs/observability.md: startup, connections, HELLO identities. */
  info(message: string, fields?: LogFields): void {
    if (this.level !== "quiet") this.#emit("info", message, fields);
  }

  /** A problem the server survived (a handler that threw, an accept error). */
  warn(message: string, fields?: LogFields): void {
    if (this.level !== "quiet") this.#emit("warn", message, fields);
  }

  /** Something the server was asked to do and could not (a reload that failed); it goes on. */
  error(message: string, fields?: LogFields): void {
    if (this.level !== "quiet") this.#emit("error", message, fields);
  }

  /** Every request and job, with `-v`. */
  debug(message: string, fields?: LogFields): void {
    if (this.level === "debug") this.#emit("debug", message, fields);
  }

  /** Resolves once every queued line has been written. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  #emit(level: string, message: string, fields: LogFields | undefined): void {
    if (this.#sink === undefined) return;
    if (this.#queue.length >= MAX_QUEUED_LINES) {
      this.#dropped++;
      return;
    }
    // Lines lost to a failed write came before this one: their count goes first.
    if (this.#draining === null && this.#dropped > 0) this.#queueDroppedCount();
    this.#queue.push(this.#format(level, message, fields));
    this.#draining ??= this.#drain();
  }

  /** ISO 8601 time of now; several lines in the same millisecond share one string. */
  #timestamp(): string {
    const now = Date.now();
    if (now !== this.#stampedAt) {
      this.#stampedAt = now;
      this.#stamp = new Date(now).toISOString();
    }
    return this.#stamp;
  }

  #format(level: string, message: string, fields: LogFields | undefined): string {
    const ts = this.#timestamp();
    // Fields may hold what a client sent (a HELLO name, a file name): no
    // control character reaches the log raw (docs/protocol.md#limits-and-bad-input, log injection).
    if (this.format === "json") {
      // JSON.stringify escapes C0 but leaves DEL, C1, the line separators and the
      // bidirectional controls raw: a viewer would act on them.
      const json = JSON.stringify({ ts, level, msg: message, ...cutFields(fields) });
      return json.replace(
        UNSAFE_TO_SHOW,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
      ) +
        "\n";
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${escapeControl(message)}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        if (value instanceof Quoted) {
          line += ` ${key}=${quoteText(cut(value.text))}`;
          continue;
        }
        const text = typeof value === "string" ? cut(value) : String(value);
        // Numbers and booleans never need quotes; strings do when empty or holding anything but plain characters.
        line += typeof value !== "string" || isBare(text)
          ? ` ${key}=${text}`
          : ` ${key}=${quoteText(text)}`;
      }
    }
    return line + "\n";
  }

  /**
   * Writes the queue in batches of at most {@linkcode MAX_BATCH_CHARS}. Lines
   * dropped while the sink was behind are counted, and the count is written
   * as one warning once the queue has room again. A write that fails counts
   * its batch and the queue as dropped, so the next line that gets through
   * says how many did not.
   */
  async #drain(): Promise<void> {
    const sink = this.#sink!;
    let batch: string[] = [];
    try {
      while (this.#queue.length > 0 || this.#dropped > 0) {
        if (this.#dropped > 0) this.#queueDroppedCount();
        batch = this.#takeBatch();
        const text = batch.join("");
        await printLock.run(() => writeAll(sink, encoder.encode(text)));
        batch = [];
      }
    } catch {
      // stderr is gone or failing (closed pipe): logging must never take the server down.
      this.#dropped += batch.length + this.#queue.length;
      this.#queue = [];
    } finally {
      this.#draining = null;
    }
  }

  /** Queues the warning that counts the lines dropped so far, and starts counting again. */
  #queueDroppedCount(): void {
    const count = this.#dropped;
    this.#dropped = 0;
    this.#queue.push(
      this.#format("warn", `${count} log lines dropped: stderr is not keeping up`, undefined),
    );
  }

  /** Removes from the queue's head the lines of the next write: at least one, at most MAX_BATCH_CHARS. */
  #takeBatch(): string[] {
    let chars = 0;
    let count = 0;
    for (const line of this.#queue) {
      if (count > 0 && chars + line.length > MAX_BATCH_CHARS) break;
      chars += line.length;
      count++;
    }
    return this.#queue.splice(0, count);
  }
}

/** True if `text` can be written unquoted: not empty, nothing to quote or escape. */
function isBare(text: string): boolean {
  return BARE_VALUE.test(text) && text.search(UNSAFE_TO_SHOW) === -1;
}

/** `text` cut to {@linkcode MAX_FIELD_CHARS}, ending in `…` when it was longer. */
function cut(text: string): string {
  return text.length <= MAX_FIELD_CHARS ? text : `${text.slice(0, MAX_FIELD_CHARS)}…`;
}

/** `fields` with every text value cut to {@linkcode MAX_FIELD_CHARS}. */
function cutFields(fields: LogFields | undefined): LogFields | undefined {
  if (fields === undefined) return undefined;
  const bounded: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    bounded[key] = typeof value === "string"
      ? cut(value)
      : value instanceof Quoted
      ? new Quoted(cut(value.text))
      : value;
  }
  return bounded;
}
