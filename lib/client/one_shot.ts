/**
 * One command from the command line (docs/client.md): a request and its reply
 * (`calc add 2 3` prints `5`), a key listing however long (`kv keys`), or a
 * file transfer with its progress bar and its result line (`put`, `get`).
 * Each resolves to true if the server answered ERR; the shell runs its
 * client commands through the same functions.
 */
import type { SyncByteSink } from "../io.ts";
import type { TransferCommand } from "./commands.ts";
import type { Connection } from "./connection.ts";
import { listKeys } from "./keys.ts";
import { localPath, type PathBase } from "../paths.ts";
import { type Printer, progressBar } from "./output.ts";
import { get, put, type TransferResult } from "./transfer.ts";
import { type Awaited, withWaitNotice } from "./waiting.ts";

/** Options of {@linkcode runRequest} and {@linkcode runKeys}. */
export interface RequestOptions {
  printer: Printer;
  /** Show the wait notice when a reply is slow (stderr is a terminal). */
  notice: boolean;
}

/** Sends one request line and prints its reply; resolves to true if the server answered ERR. */
export async function runRequest(
  connection: Connection,
  line: string,
  options: RequestOptions,
): Promise<boolean> {
  await connection.send(line);
  const reading = connection.read();
  const reply = options.notice
    ? await withWaitNotice(reading, { printer: options.printer, activity: connection })
    : await reading;
  return options.printer.print(reply, line);
}

/** `kv keys [prefix]`: every key, paged with KV SCAN past KV KEYS's limit. */
export async function runKeys(
  connection: Connection,
  prefix: string | undefined,
  options: RequestOptions,
): Promise<boolean> {
  const { printer } = options;
  let listing: ReturnType<Printer["keyListing"]> | undefined;
  const listed = listKeys(connection, prefix, (keys) => {
    listing ??= printer.keyListing();
    listing.page(keys);
  });
  const refusal = options.notice
    ? await withWaitNotice(listed, { printer, activity: connection })
    : await listed;
  if (refusal !== undefined) return printer.print(refusal);
  (listing ?? printer.keyListing()).end();
  return false;
}

/** Options of {@linkcode runTransfer}. */
export interface TransferOptions {
  printer: Printer;
  /** `get` replaces an existing local file. */
  force: boolean;
  /** Where the progress bar is drawn (a terminal); undefined draws none, and no wait notice. */
  progressSink: SyncByteSink | undefined;
  /** Where relative local paths start (INIT_CWD) and `~` points. */
  base: PathBase;
}

/**
 * `put <local> [name]` or `get <name> [local]`, verified by sha256; resolves
 * to true if the server answered ERR. A mismatch throws IntegrityError, a
 * local file that cannot be read or written, or that would be replaced,
 * throws LocalFileError.
 */
export async function runTransfer(
  connection: Connection,
  command: TransferCommand,
  options: TransferOptions,
): Promise<boolean> {
  const { kind, name } = command;
  const local = localPath(command.local, options.base);
  const bar = progressBar(`${kind} ${kind === "put" ? command.local : name}`, options.progressSink);
  const { printer, progressSink } = options;
  // The wait notice shares the terminal line with the bar: the bar ends its line first.
  const awaitReply = <T>(reading: Promise<T>, awaited: Awaited) => {
    if (progressSink === undefined) return reading;
    bar.end();
    return withWaitNotice(reading, { printer, activity: connection, awaited });
  };
  let result: TransferResult;
  try {
    result = kind === "put"
      ? await put(connection, local, name, {
        onProgress: bar.update,
        awaitReply: (reading) => awaitReply(reading, "stored"),
      })
      : await get(connection, name, local, {
        force: options.force,
        onProgress: bar.update,
        awaitReply: (reading) => awaitReply(reading, "reply"),
      });
  } finally {
    bar.end();
  }
  if (!result.ok) return options.printer.print(result.reply);
  options.printer.printTransfer(kind, result);
  return false;
}
