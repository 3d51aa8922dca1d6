/**
 * The server's logger (docs/observability.md): text or JSON lines on a sink (stderr in the
 * server), written through the print lock so lines never interleave. Logging
 * never blocks a request: lines are queued and written by one drain task; a
 * sink that stops reading (a full pipe) costs a bounded queue, then drops.
 */
import { escapeControl, quoteText } from "../escape.ts";
import { printLock } from "../lock.ts";
import { type ByteSink, writeAll } from "../io.ts";

/** `quiet` prints nothing, `info` the events of docs/observability.md, `debug` every request too. */
export type LogLevel = "quiet" | "info" | "debug";
/** `text` for people, `json` (one object per line) for log collectors. */
export type LogFormat = "text" | "json";
/** Extra key/value pairs of a log line. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Lines queued while the sink is slow; past this, lines are dropped and counted. */
const MAX_QUEUED_LINES = 10_000;

const encoder = new TextEncoder();

/** A text field value that is written without quotes: no space, quote, `=`, backslash or control. */
// deno-lint-ignore no-control-regex -- control characters must not pass unquoted
const BARE_VALUE = /^[^\s"=\\\u0000-\u001f\u007f-\u009f]+$/;
/** What JSON.stringify leaves raw that a terminal may still act on: DEL and the C1 controls. */
const RAW_IN_JSON = /[\u007f-\u009f]/g;

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /** Default `info`. */
  level?: LogLevel;
  /** Default `text`. */
  format?: LogFormat;
  /** Default: a sink that discards everything (lib never picks stderr itself). */
  sink?: ByteSink;
  /** The lock around each write; default this thread's print lock (lib/lock.ts). */
  lock?: { run<T>(fn: () => Promise<T>): Promise<T> };
}

/** Writes log lines through the print lock. */
export class Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  readonly #sink: ByteSink | undefined;
  readonly #lock: { run<T>(fn: () => Promise<T>): Promise<T> };
  #queue: string[] = [];
  #dropped = 0;
  #draining: Promise<void> | null = null;
  #stampedAt = NaN;
  #stamp = "";

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "info";
    this.format = options.format ?? "text";
    this.#sink = options.sink;
    this.#lock = options.lock ?? printLock;
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
      const json = JSON.stringify({ ts, level, msg: message, ...fields });
      return json.replace(RAW_IN_JSON, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) + "\n";
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${escapeControl(message)}`;
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined) continue;
        const text = String(value);
        // Numbers and booleans never need quotes; strings do when empty or holding anything but plain characters.
        line += typeof value !== "string" || BARE_VALUE.test(text)
          ? ` ${key}=${text}`
          : ` ${key}=${quoteText(text)}`;
      }
    }
    return line + "\n";
  }

  async #drain(): Promise<void> {
    const sink = this.#sink!;
    try {
      while (this.#queue.length > 0 || this.#dropped > 0) {
        const lines = this.#queue;
        this.#queue = [];
        if (this.#dropped > 0) {
          lines.push(
            this.#format(
              "warn",
              `${this.#dropped} log lines dropped: stderr is not keeping up`,
              undefined,
            ),
          );
          this.#dropped = 0;
        }
        await this.#lock.run(() => writeAll(sink, encoder.encode(lines.join(""))));
      }
    } catch {
      // stderr is gone (closed pipe): logging must never take the server down.
      this.#queue = [];
    } finally {
      this.#draining = null;
    }
  }
}
