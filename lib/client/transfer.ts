/**
 * Client-side file transfer: `put` streams a local file up with FILE PUT,
 * `get` streams one down with FILE GET into a temporary file and renames it
 * into place. Both hash the bytes as they pass and compare with the server's
 * sha256. Progress is reported through a callback: lib never prints.
 *
 * Everything the local disk refuses is a {@linkcode LocalFileError} naming
 * the path, found before the request where it can be (the file to send is
 * opened, the temporary file to receive into is created, first), and
 * nothing is left behind: a cut-short upload is abandoned by closing the
 * connection (the server then discards it, docs/protocol.md#commands), a failed download
 * removes its temporary file.
 */
import { createHash } from "node:crypto";
import { basename } from "@std/path/basename";
import { dirname } from "@std/path/dirname";
import { join } from "@std/path/join";
import { ConnectError, type Connection } from "./connection.ts";
import { parseDataHeader, type ParsedReply, parseReplyLine, quoteWord } from "../protocol/mod.ts";
import { readAhead, SOLO_CHUNK_BYTES, SyncBehind, WriteBehind } from "../chunks.ts";
import { CutShortError } from "../io.ts";
import { inside, LocalFileError, localFileError } from "./local_files.ts";
import type { LocalPath } from "../paths.ts";

/** The server's sha256 differs from the bytes we sent or received (client exit code 4). */
export class IntegrityError extends Error {
  override name = "IntegrityError";
}

/** Called as bytes move: `done` of `total`. */
export type Progress = (done: number, total: number) => void;

/**
 * Awaits a reply the transfer depends on (a put's verdict, a get's DATA
 * header): the caller may show a wait notice meanwhile.
 */
export type AwaitReply = <T>(reading: Promise<T>) => Promise<T>;

/** Options of {@linkcode put} and {@linkcode get}. */
export interface TransferProgress {
  /** Called as bytes move. */
  onProgress?: Progress;
  /** Wraps the wait for the server's first reply (default: a plain await). */
  awaitReply?: AwaitReply;
}

/** What a transfer did: the server's ERR, or the name, size and verified sha256. */
export type TransferResult =
  | { ok: false; reply: ParsedReply }
  | { ok: true; name: string; size: number; sha256: string };

/**
 * Uploads `local` as `name`. Verifies the sha256 the server reports. A file
 * that ends early (it shrank while being sent) or cannot be read midway
 * closes the connection, so the server discards the partial upload.
 */
export async function put(
  connection: Connection,
  local: LocalPath,
  name: string,
  options: TransferProgress = {},
): Promise<TransferResult> {
  const onProgress = options.onProgress ?? (() => {});
  using file = await openToSend(local);
  const size = (await file.stat()).size;
  await connection.send(`FILE PUT ${quoteWord(name)} ${size}`);
  const hash = createHash("sha256");
  let sent = 0;
  onProgress(0, size);
  try {
    // The next chunk is read from disk while this one is hashed and sent.
    for await (const chunk of readAhead(file, size, SOLO_CHUNK_BYTES)) {
      hash.update(chunk);
      await connection.write(chunk);
      sent += chunk.length;
      onProgress(sent, size);
    }
  } catch (error) {
    if (error instanceof ConnectError) return await replyAfterRefusal(connection, error);
    // The server waits for bytes we cannot send: only closing tells it the upload is void.
    connection.close();
    if (error instanceof CutShortError) {
      throw new LocalFileError(
        `${local.typed}: shrank while being sent (${error.received} of ${size} bytes); ` +
          `nothing was stored`,
      );
    }
    throw localFileError(local.typed, error);
  }
  const reading = connection.read();
  const reply = await (options.awaitReply?.(reading) ?? reading);
  if (reply.kind !== "ok") return { ok: false, reply };
  const sha256 = hash.digest("hex");
  const reported = reply.text?.split(" ").at(-1);
  if (reported !== sha256) {
    throw new IntegrityError(
      `the server stored sha256 ${reported} but ${local.typed} has ${sha256}`,
    );
  }
  return { ok: true, name, size, sha256 };
}

/** Opens a regular file to upload; anything else is a LocalFileError naming it. */
async function openToSend(local: LocalPath): Promise<Deno.FsFile> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(local.resolved);
  } catch (error) {
    throw localFileError(local.typed, error);
  }
  // Checked before opening: opening a directory succeeds on Unix, and only reading it fails.
  if (info.isDirectory) throw new LocalFileError(`${local.typed}: is a directory`);
  // FILE PUT announces the size first, which a pipe or a device does not have.
  if (!info.isFile) throw new LocalFileError(`${local.typed}: is not a regular file`);
  try {
    return await Deno.open(local.resolved, { read: true });
  } catch (error) {
    throw localFileError(local.typed, error);
  }
}

/**
 * A write failed mid-upload: the server may have refused the upload and
 * closed (`ERR too-large` over --max-file-size), in which case its reply
 * is already here and says more than "connection lost".
 */
async function replyAfterRefusal(
  connection: Connection,
  writeError: ConnectError,
): Promise<TransferResult> {
  try {
    const reply = await connection.read();
    if (reply.kind === "err") return { ok: false, reply };
  } catch {
    // No reply came: the write error is the story.
  } finally {
    connection.close();
  }
  throw writeError;
}

/**
 * Downloads `name` into `local` atomically: a temporary file beside it,
 * renamed into place only when the sha256 matches. `local` may be an
 * existing directory, which receives the file under `name` (as `cp` does).
 * Refuses to replace an existing file unless `force`.
 */
export async function get(
  connection: Connection,
  name: string,
  local: LocalPath,
  options: TransferProgress & { force?: boolean } = {},
): Promise<TransferResult> {
  const onProgress = options.onProgress ?? (() => {});
  const target = await downloadTarget(local, name, options.force ?? false);
  const temp = join(
    dirname(target.resolved),
    `.${basename(target.resolved)}.part-${crypto.randomUUID().slice(0, 8)}`,
  );
  let file: Deno.FsFile;
  try {
    // Created before the request: a directory we cannot write to is found without a download.
    file = await Deno.open(temp, { createNew: true, write: true, mode: 0o644 });
  } catch (error) {
    throw localFileError(dirname(target.typed), error);
  }
  let open = true;
  using behind = new SyncBehind(temp);
  try {
    await connection.send(`FILE GET ${quoteWord(name)}`);
    const reading = connection.readLine();
    const line = await (options.awaitReply?.(reading) ?? reading);
    if (!line.startsWith("DATA ")) return { ok: false, reply: parseReplyLine(line) };
    const header = parseDataHeader(line);
    const sha256 = await receive(connection, file, {
      size: header.size,
      target,
      onProgress,
      sync: behind.sync,
    });
    file.close();
    open = false;
    if (header.sha256 !== undefined && header.sha256 !== sha256) {
      throw new IntegrityError(
        `received bytes hash to ${sha256}, but the server announced ${header.sha256}`,
      );
    }
    // Checked again: the file may have appeared during the download.
    if (!options.force && await statOrNull(target) !== null) {
      throw new LocalFileError(`${target.typed}: exists; use --force to replace it`);
    }
    try {
      await Deno.rename(temp, target.resolved);
    } catch (error) {
      throw localFileError(target.typed, error);
    }
    return { ok: true, name, size: header.size, sha256 };
  } finally {
    if (open) file.close();
    await Deno.remove(temp).catch(() => {});
  }
}

/**
 * Receives `size` body bytes into `file`, flushed to disk (behind the
 * writes with `sync`, and at the end); returns their
 * sha256. A disk error closes the connection (the rest of the body is not
 * read) and is a LocalFileError naming the target.
 */
async function receive(
  connection: Connection,
  file: Deno.FsFile,
  options: { size: number; target: LocalPath; onProgress: Progress; sync: () => Promise<void> },
): Promise<string> {
  const { size, target, onProgress } = options;
  const hash = createHash("sha256");
  let received = 0;
  onProgress(0, size);
  // Hash and receive the next chunk while the previous one goes to disk,
  // which flushes behind (lib/chunks.ts SYNC_BEHIND_BYTES).
  const disk = new WriteBehind(file, { sync: options.sync });
  const onDisk = async (work: Promise<void>) => {
    try {
      await work;
    } catch (error) {
      connection.close();
      throw localFileError(target.typed, error);
    }
  };
  for await (const chunk of connection.body(size)) {
    hash.update(chunk);
    await onDisk(disk.write(chunk));
    received += chunk.length;
    onProgress(received, size);
  }
  await onDisk(disk.flush());
  await onDisk(file.syncData());
  return hash.digest("hex");
}

/**
 * Where a download of `name` into `local` goes: `local`, or `local/name`
 * when `local` is a directory. Throws LocalFileError if that exists and
 * `force` is off, or is itself a directory.
 */
async function downloadTarget(local: LocalPath, name: string, force: boolean): Promise<LocalPath> {
  let target = local;
  let info = await statOrNull(local);
  // `newdir/` names a directory: without one there, nothing is requested (the file
  // would otherwise be downloaded whole, only for the rename to fail).
  if (info === null && /[\\/]$/.test(local.typed)) {
    throw new LocalFileError(`${local.typed}: no such directory`);
  }
  if (info?.isDirectory) {
    target = inside(local, name);
    info = await statOrNull(target);
  }
  if (info === null) return target;
  if (info.isDirectory) throw new LocalFileError(`${target.typed}: is a directory`);
  if (!force) throw new LocalFileError(`${target.typed}: exists; use --force to replace it`);
  return target;
}

/** What is at `path` (a link itself, even a dangling one), or null if nothing is. */
async function statOrNull(path: LocalPath): Promise<Deno.FileInfo | null> {
  try {
    const link = await Deno.lstat(path.resolved);
    // A link to a directory counts as that directory, as for cp; any other link as itself.
    return link.isSymlink ? await Deno.stat(path.resolved).catch(() => link) : link;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw localFileError(path.typed, error);
  }
}
