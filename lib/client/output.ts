/**
 * What the client shows (docs/client.md): a reply's payload on stdout and an ERR on
 * stderr as `error: <code>: <message>`, byte-exact, or one JSON object per
 * reply with `--json` (structured fields where the reply has a known shape,
 * lib/client/reply_shapes.ts); a key listing page by page; a transfer's
 * result line; the passing wait notice; a transfer's progress bar. It
 * writes to the sinks it is given (stdout and stderr in the program),
 * synchronously, so that what goes to stdout and what goes to stderr keep
 * the order in which the replies arrived. A write that fails is one
 * {@linkcode OutputError}, whatever the sink: the entry point decides what
 * a closed pipe means.
 */
import { format as formatBytes } from "@std/fmt/bytes";
import { red, yellow } from "@std/fmt/colors";
import { type SyncByteSink, writeAllSync } from "../io.ts";
import type { ParsedReply } from "../protocol/mod.ts";
import { reasonOf } from "../paths.ts";
import { shapeOf, structuredFields } from "./reply_shapes.ts";
import type { Progress } from "./transfer.ts";

/** Moves to the start of the terminal line and erases it: a notice or a bar is redrawn over. */
const CLEAR_LINE = "\r\x1b[K";
/** The bar is redrawn at most this often: a redraw per chunk would cost more than the chunk. */
const REDRAW_MS = 100;
/** Characters between the brackets of the progress bar. */
const BAR_WIDTH = 24;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Writing stdout or stderr failed. `closed` means the reader went away
 * (`client … | head -1`: a broken pipe), which is not a failure of the
 * command; anything else (a full disk behind `> file`) is.
 */
export class OutputError extends Error {
  override name = "OutputError";
  constructor(readonly closed: boolean, reason: string) {
    super(`cannot write the output: ${reason}`);
  }
}

/** Writes all of `bytes` to `sink`; a failure is an {@linkcode OutputError}. */
export function writeOutput(sink: SyncByteSink, bytes: Uint8Array): void {
  try {
    writeAllSync(sink, bytes);
  } catch (error) {
    const closed = error instanceof Deno.errors.BrokenPipe ||
      error instanceof Deno.errors.ConnectionReset;
    throw new OutputError(closed, closed ? "the reader closed it" : reasonOf(error));
  }
}

/** Options of {@linkcode Printer}. */
export interface PrinterOptions {
  stdout: SyncByteSink;
  stderr: SyncByteSink;
  /** One JSON object per reply on stdout instead of the payload (`--json`). */
  json: boolean;
  /** ERR lines in red and notices in yellow: stderr is a terminal that wants color. */
  color: boolean;
  /**
   * Print `OK` for a reply without text (`KV SET`), as redis-cli does: in
   * the shell silence would read as a hang; a one-shot command prints only
   * the payload, and there is none.
   */
  bareOk?: boolean;
  /** A line to add under an ERR (lib/client/hints.ts); none with --json. */
  hint?: (reply: ParsedReply, request: string | undefined) => string | undefined;
}

/** A verified transfer, as {@linkcode Printer.printTransfer} reports it. */
export interface TransferDone {
  name: string;
  size: number;
  sha256: string;
}

/** Prints replies the way docs/client.md says: payload on stdout, ERR on stderr, or JSON. */
export class Printer {
  readonly #options: PrinterOptions;
  /** A notice is on the screen, with no newline after it: the next output erases it first. */
  #noticeShown = false;
  #noticeText = "";

  constructor(options: PrinterOptions) {
    this.#options = options;
  }

  /**
   * Prints a reply to `request` (the line it answers, which decides the
   * JSON shape); returns true if it was an ERR.
   */
  print(reply: ParsedReply, request?: string): boolean {
    const { stdout, json, color } = this.#options;
    if (json) {
      this.#write(stdout, JSON.stringify(toJson(reply, request)) + "\n");
      return reply.kind === "err";
    }
    switch (reply.kind) {
      case "ok":
        if (reply.text !== undefined) this.#write(stdout, reply.text + "\n");
        else if (this.#options.bareOk) this.#write(stdout, "OK\n");
        return false;
      case "data":
        this.#endNotice();
        writeOutput(stdout, reply.body);
        return false;
      case "err": {
        const line = `error: ${reply.code}: ${reply.message}`;
        this.#write(this.#options.stderr, (color ? red(line) : line) + "\n");
        const hint = this.#options.hint?.(reply, request);
        if (hint !== undefined) this.#write(this.#options.stderr, `hint: ${hint}\n`);
        return true;
      }
    }
  }

  /**
   * A key listing that arrives page by page (`kv keys`): one key a line, or
   * with `--json` one `{"ok":true,"keys":[…]}` written as the pages come,
   * so memory stays flat. `end` closes it.
   */
  keyListing(): { page(keys: string[]): void; end(): void } {
    const { stdout, json } = this.#options;
    if (!json) {
      return {
        page: (keys) => this.#write(stdout, keys.map((key) => key + "\n").join("")),
        end: () => {},
      };
    }
    let first = true;
    this.#write(stdout, '{"ok":true,"keys":[');
    return {
      page: (keys) => {
        if (keys.length === 0) return;
        this.#write(stdout, (first ? "" : ",") + keys.map((key) => JSON.stringify(key)).join(","));
        first = false;
      },
      end: () => this.#write(stdout, "]}\n"),
    };
  }

  /** `stored <name> <size> <sha256>` after a put, `saved …` after a get, or the same as JSON. */
  printTransfer(kind: "put" | "get", done: TransferDone): void {
    const line = this.#options.json
      ? JSON.stringify({ ok: true, ...done })
      : `${kind === "put" ? "stored" : "saved"} ${done.name} ${done.size} ${done.sha256}`;
    this.#write(this.#options.stdout, line + "\n");
  }

  /** One line on stdout that is not a reply (the shell's help, `connected to …`). */
  info(text: string): void {
    this.#write(this.#options.stdout, text + "\n");
  }

  /** `error: <message>` on stderr: a problem on the client's side, not a reply. */
  error(message: string): void {
    const line = `error: ${message}`;
    this.#write(this.#options.stderr, (this.#options.color ? red(line) : line) + "\n");
  }

  /**
   * Shows `text` on stderr, with no newline, in place of the notice shown
   * before; it stays until {@linkcode clearNotice} or the next output,
   * which erases it first, so no output is ever glued to a notice.
   */
  notice(text: string): void {
    if (this.#noticeShown && text === this.#noticeText) return;
    this.#endNotice();
    this.#noticeText = text;
    this.#write(this.#options.stderr, this.#options.color ? yellow(text) : text);
    this.#noticeShown = true;
  }

  /** Erases the notice's line, if a notice is shown. */
  clearNotice(): void {
    this.#endNotice();
  }

  #endNotice(): void {
    if (!this.#noticeShown) return;
    this.#noticeShown = false;
    writeOutput(this.#options.stderr, encoder.encode(CLEAR_LINE));
  }

  #write(sink: SyncByteSink, text: string): void {
    this.#endNotice();
    writeOutput(sink, encoder.encode(text));
  }
}

/** The JSON object for `reply`: structured fields when `request` has a known shape. */
function toJson(reply: ParsedReply, request: string | undefined): Record<string, unknown> {
  switch (reply.kind) {
    case "ok":
      return reply.text === undefined ? { ok: true } : { ok: true, text: reply.text };
    case "err":
      return { ok: false, code: reply.code, message: reply.message };
    case "data": {
      const shape = request === undefined ? undefined : shapeOf(request);
      const fields = shape === undefined
        ? undefined
        : structuredFields(shape, decoder.decode(reply.body));
      if (fields !== undefined) return { ok: true, ...fields };
      return {
        ok: true,
        size: reply.body.length,
        ...(reply.sha256 === undefined ? {} : { sha256: reply.sha256 }),
        data: decoder.decode(reply.body),
      };
    }
  }
}

/** A transfer's progress: `update` as bytes move, `end` once it is over. */
export interface ProgressBar {
  update: Progress;
  end(): void;
}

/**
 * A progress bar with rate and time left, drawn on `sink` (a terminal's
 * stderr); undefined draws nothing, since a bar in a log or a pipe is noise.
 */
export function progressBar(label: string, sink: SyncByteSink | undefined): ProgressBar {
  if (sink === undefined) return { update: () => {}, end: () => {} };
  const write = (text: string) => writeOutput(sink, encoder.encode(text));
  const started = performance.now();
  // The first update always draws, however soon after start it comes.
  let drawnAt = -Infinity;
  let drawn = false;
  const update = (done: number, total: number) => {
    const now = performance.now();
    if (now - drawnAt < REDRAW_MS && done < total) return;
    drawnAt = now;
    drawn = true;
    const fraction = total === 0 ? 1 : done / total;
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = (now - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const left = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    const bar = "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled);
    write(
      `${CLEAR_LINE}${label} [${bar}] ${Math.floor(fraction * 100)}% ` +
        `${formatBytes(done)} / ${formatBytes(total)}  ${formatBytes(rate)}/s  ${left}s left`,
    );
  };
  // A transfer refused before its first byte drew nothing, and leaves no empty line;
  // ending twice (before the wait for a put's reply, then after it) ends the line once.
  return {
    update,
    end: () => {
      if (drawn) write("\n");
      drawn = false;
    },
  };
}
