/**
 * `switchboard-client top [--interval S]` (docs/client.md#top): the live page's
 * view in a terminal, from STATS and WHO over the protocol, so it works
 * wherever the client does (TLS, `--user`) and the metrics port need not be
 * reachable. Like `top`: on a terminal it takes the screen (the alternate
 * one, cursor hidden) and redraws it in place each interval until `q` or
 * Ctrl-C, then gives the terminal back as it found it; with `--json`, one
 * object a line; otherwise one line per sample.
 *
 * top is a client like any other: it takes a running slot while it
 * watches, and on a full server it waits in the queue until one frees.
 */
import type { ParsedReply } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { writeOutput } from "./output.ts";
import { structuredFields } from "./reply_shapes.ts";
import type { WhoEntry } from "./reply_shapes.ts";
import {
  jsonLine,
  lineHeader,
  ratesOf,
  sampleLine,
  screenLines,
  type TopSample,
} from "./top_view.ts";

/** Seconds between samples unless `--interval` says otherwise. */
export const DEFAULT_INTERVAL_S = 1;
/** Shortest `--interval`: each sample is two requests that take a running slot's time. */
export const MIN_INTERVAL_S = 0.1;

/** Take the alternate screen and hide the cursor; and the way back. */
const ENTER_SCREEN = "\x1b[?1049h\x1b[?25l";
const LEAVE_SCREEN = "\x1b[?25h\x1b[?1049l";
/** Cursor home; end of line and end of screen erased after each frame, so nothing flickers. */
const HOME = "\x1b[H";
const ERASE_LINE = "\x1b[K";
const ERASE_BELOW = "\x1b[J";
/** Keys that leave: q, Q, Ctrl-C (raw mode delivers it as a byte, not a signal), Ctrl-D. */
const QUIT_KEYS = new Set([0x71, 0x51, 0x03, 0x04]);

/** Signals that end top the way `q` does, terminal restored (Windows has only SIGINT of these). */
const QUIT_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

const encoder = new TextEncoder();

/** The terminal top draws on: Deno.stdout and Deno.stdin in the client. */
export interface TopTerminal {
  output: { writeSync(bytes: Uint8Array): number; isTerminal(): boolean };
  /** Keys: stdin when it is a terminal (raw mode while top runs). */
  input:
    | {
      setRaw(raw: boolean): void;
      isTerminal(): boolean;
      read(p: Uint8Array): Promise<number | null>;
    }
    | undefined;
  /** Columns and rows of the output terminal. */
  size(): { columns: number; rows: number };
}

/** Options of {@linkcode runTop}. */
export interface TopOptions {
  /** Milliseconds between samples. */
  intervalMs: number;
  json: boolean;
  terminal: TopTerminal;
}

/** Thrown when the server answers STATS or WHO with ERR (no AUTH, a denied role). */
export class TopRefusedError extends Error {
  override name = "TopRefusedError";
  constructor(readonly reply: ParsedReply & { kind: "err" }) {
    super(`${reply.code}: ${reply.message}`);
  }
}

/**
 * Samples every `intervalMs` until the user quits (true) or the output
 * stops taking lines; throws ConnectError if the server goes away and
 * {@linkcode TopRefusedError} if it answers ERR. The terminal is restored
 * whatever happens.
 */
export async function runTop(connection: Connection, options: TopOptions): Promise<void> {
  const { output, input } = options.terminal;
  const screen = !options.json && output.isTerminal();
  // An OutputError (the reader of a pipe left) ends top like any command's output.
  const write = (text: string) => writeOutput(output, encoder.encode(text));
  let quit!: () => void;
  const quitting = new Promise<"quit">((resolve) => quit = () => resolve("quit"));
  const onSignal = () => quit();
  for (const signal of QUIT_SIGNALS) Deno.addSignalListener(signal, onSignal);
  const keys = input?.isTerminal() ? input : undefined;
  keys?.setRaw(true);
  if (screen) {
    const waiting = `${connection.where}: no reply yet; the server may have queued this ` +
      "connection until a slot frees (top is a client too). q quits.";
    write(ENTER_SCREEN + HOME + waiting + ERASE_BELOW);
  }
  const reading = keys === undefined ? undefined : readKeys(keys, quit);
  try {
    let previous: TopSample | undefined;
    if (!screen && !options.json) write(lineHeader() + "\n");
    for (;;) {
      const started = performance.now();
      const sample = await Promise.race([takeSample(connection), quitting]);
      if (sample === "quit") return;
      const rates = ratesOf(sample, previous);
      previous = sample;
      if (options.json) write(jsonLine(sample, rates) + "\n");
      else if (!screen) write(sampleLine(sample, rates) + "\n");
      else {
        const shape = { ...options.terminal.size(), where: connection.where };
        const lines = screenLines(sample, rates, shape);
        write(HOME + lines.map((line) => line + ERASE_LINE).join("\r\n") + ERASE_BELOW);
      }
      const rest = Math.max(0, options.intervalMs - (performance.now() - started));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = await Promise.race([
        new Promise<"next">((resolve) => timer = setTimeout(() => resolve("next"), rest)),
        quitting,
      ]);
      clearTimeout(timer);
      if (waited === "quit") return;
    }
  } finally {
    for (const signal of QUIT_SIGNALS) Deno.removeSignalListener(signal, onSignal);
    if (keys !== undefined) {
      try {
        keys.setRaw(false);
      } catch {
        // The terminal is gone.
      }
    }
    if (screen) {
      try {
        write(LEAVE_SCREEN);
      } catch {
        // The terminal is gone: nothing is left to restore.
      }
    }
    // The pending key read ends with the process; it holds nothing that needs closing.
    void reading;
  }
}

/** Calls `quit` on a quit key; ignores every other key. */
async function readKeys(
  keys: { read(p: Uint8Array): Promise<number | null> },
  quit: () => void,
): Promise<void> {
  const buffer = new Uint8Array(64);
  try {
    for (;;) {
      const n = await keys.read(buffer);
      if (n === null) return quit();
      if (buffer.subarray(0, n).some((byte) => QUIT_KEYS.has(byte))) return quit();
    }
  } catch {
    quit();
  }
}

/** STATS and WHO, sent together, and their replies parsed. */
async function takeSample(connection: Connection): Promise<TopSample> {
  await connection.write(encoder.encode("STATS\nWHO\n"));
  const stats = await connection.read();
  const who = await connection.read();
  const at = Date.now();
  return {
    at,
    stats: fieldsOf(stats, "stats") as Record<string, number>,
    connections: (fieldsOf(who, "who") as { connections: WhoEntry[] }).connections,
  };
}

function fieldsOf(reply: ParsedReply, shape: "stats" | "who"): Record<string, unknown> {
  if (reply.kind === "err") throw new TopRefusedError(reply);
  const fields = reply.kind === "data"
    ? structuredFields(shape, new TextDecoder().decode(reply.body))
    : undefined;
  if (fields === undefined) {
    throw new TopRefusedError({
      kind: "err",
      code: "bad-request",
      message: `unexpected reply to ${shape.toUpperCase()}`,
    });
  }
  return fields;
}
