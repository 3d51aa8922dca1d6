/**
 * Client-side file transfer: `put` streams a local file up with FILE PUT,
 * `get` streams one down with FILE GET into a temporary file and renames it
 * into place. Both hash the bytes as they pass and compare with the server's
 * sha256. Progress is reported through a callback: lib never prints.
 */
import { createHash } from "node:crypto";
import type { Connection } from "./connection.ts";
import { parseDataHeader, type ParsedReply, parseReplyLine, quoteWord } from "../protocol/mod.ts";
import { readAhead, WriteBehind } from "../chunks.ts";
import { CutShortError } from "../io.ts";

/** The server's sha256 differs from the bytes we sent or received (client exit code 4). */
export class IntegrityError extends Error {
  override name = "IntegrityError";
}

/** Called as bytes move: `done` of `total`. */
export type Progress = (done: number, total: number) => void;

/** What a transfer did: the server's ERR, or the name, size and verified sha256. */
export type TransferResult =
  | { ok: false; reply: ParsedReply }
  | { ok: true; name: string; size: number; sha256: string };

/** Uploads `localPath` as `name`. Verifies the sha256 the server reports. */
export async function put(
  connection: Connection,
  localPath: string,
  name: string,
  onProgress: Progress = () => {},
): Promise<TransferResult> {
  using file = await Deno.open(localPath, { read: true });
  const size = (await file.stat()).size;
  await connection.send(`FILE PUT ${quoteWord(name)} ${size}`);
  const hash = createHash("sha256");
  let sent = 0;
  onProgress(0, size);
  try {
    // The next chunk is read from disk while this one is hashed and sent.
    for await (const chunk of readAhead(file, size)) {
      hash.update(chunk);
      await connection.write(chunk);
      sent += chunk.length;
      onProgress(sent, size);
    }
  } catch (error) {
    if (error instanceof CutShortError) {
      throw new Error(`${localPath} shrank while being sent`);
    }
    throw error;
  }
  const reply = await connection.read();
  if (reply.kind !== "ok") return { ok: false, reply };
  const sha256 = hash.digest("hex");
  const reported = reply.text?.split(" ").at(-1);
  if (reported !== sha256) {
    throw new IntegrityError(`the server stored sha256 ${reported} but ${localPath} has ${sha256}`);
  }
  return { ok: true, name, size, sha256 };
}

/**
 * Downloads `name` into `localPath` atomically: a temporary file beside it,
 * renamed into place only when the sha256 matches. Refuses to replace an
 * existing file unless `force`.
 */
export async function get(
  connection: Connection,
  name: string,
  localPath: string,
  options: { force?: boolean; onProgress?: Progress } = {},
): Promise<TransferResult> {
  const onProgress = options.onProgress ?? (() => {});
  const refuseOverwrite = () =>
    new Deno.errors.AlreadyExists(`${localPath} exists; use --force to replace it`);
  if (!options.force && await exists(localPath)) throw refuseOverwrite();
  await connection.send(`FILE GET ${quoteWord(name)}`);
  const line = await connection.readLine();
  if (!line.startsWith("DATA ")) return { ok: false, reply: parseReplyLine(line) };
  const header = parseDataHeader(line);
  const slash = localPath.lastIndexOf("/");
  const dir = slash === -1 ? "." : localPath.slice(0, slash) || "/";
  const temp = `${dir}/.${localPath.slice(slash + 1)}.part-${crypto.randomUUID().slice(0, 8)}`;
  const hash = createHash("sha256");
  let received = 0;
  let done = false;
  const file = await Deno.open(temp, { createNew: true, write: true, mode: 0o644 });
  try {
    onProgress(0, header.size);
    // Hash and receive the next chunk while the previous one goes to disk.
    const disk = new WriteBehind(file);
    for await (const chunk of connection.body(header.size)) {
      hash.update(chunk);
      await disk.write(chunk);
      received += chunk.length;
      onProgress(received, header.size);
    }
    await disk.flush();
    await file.syncData();
    file.close();
    done = true;
    const sha256 = hash.digest("hex");
    if (header.sha256 !== undefined && header.sha256 !== sha256) {
      throw new IntegrityError(
        `received bytes hash to ${sha256}, but the server announced ${header.sha256}`,
      );
    }
    if (!options.force && await exists(localPath)) throw refuseOverwrite();
    await Deno.rename(temp, localPath);
    return { ok: true, name, size: header.size, sha256 };
  } finally {
    if (!done) file.close();
    await Deno.remove(temp).catch(() => {});
  }
}

/** True if something exists at `path` (a link counts, even a dangling one). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
