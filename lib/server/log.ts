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
const MAX_QUEUED_LINES = 10_000;

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
      const json = JSON.stringify({ ts, level, msg: message, ...fields });
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
          line += ` ${key}=${quoteText(value.text)}`;
          continue;
        }
        const text = String(value);
        // Numbers and booleans never need quotes; strings do when empty or holding anything but plain characters.
        line += typeof value !== "string" || isBare(text)
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
        await printLock.run(() => writeAll(sink, encoder.encode(lines.join(""))));
      }
    } catch {
      // stderr is gone (closed pipe): logging must never take the server down.
      this.#queue = [];
    } finally {
      this.#draining = null;
    }
  }
}

/** True if `text` can be written unquoted: not empty, nothing to quote or escape. */
function isBare(text: string): boolean {
  return BARE_VALUE.test(text) && text.search(UNSAFE_TO_SHOW) === -1;
}
