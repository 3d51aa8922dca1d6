/**
 * Storage failures as replies (docs/protocol.md#commands): a full disk is `ERR no-space`, a
 * server out of descriptors or unable to write its directories is
 * `ERR unavailable`; `ERR internal` stays for bugs. The stores throw what
 * the system threw; this is where the commands (and the handler, for
 * anything a command let through) turn it into an honest code.
 */
import { err, type LineReply } from "../../protocol/mod.ts";
import { StoreBusyError, StoreUnreachableError } from "../../stores/store.ts";

/** errno names of a full disk or quota. */
const NO_SPACE = new Set(["ENOSPC", "EDQUOT"]);
/**
 * errno names of a server that cannot get at its storage right now: out of
 * descriptors or memory, a read-only or failing disk, no permission, or
 * its directory gone (ENOENT, ENOTDIR reach here only then: a missing
 * file a request named is the store's own not-found).
 */
const UNAVAILABLE = new Set([
  "EMFILE",
  "ENFILE",
  "EROFS",
  "EACCES",
  "EPERM",
  "ENOMEM",
  "EIO",
  "ENOENT",
  "ENOTDIR",
]);
/** SQLite's words for the same (Deno KV reports them in the message). */
const SQLITE_FULL = /database or disk is full|disk I\/O error.*full/i;
const SQLITE_UNAVAILABLE = /unable to open database|readonly database|disk I\/O error/i;

/** The reply for a storage failure, or undefined if `error` is not one. */
export function storageReply(error: unknown): LineReply | undefined {
  if (!(error instanceof Error)) return undefined;
  // The --store database is down (docs/several-servers.md#when-the-database-is-down).
  if (error instanceof StoreUnreachableError) return err("unavailable", error.message);
  if (error instanceof StoreBusyError) return err("busy", error.message);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && NO_SPACE.has(code) || SQLITE_FULL.test(error.message)) {
    return err("no-space", "the server's disk is full; nothing was stored");
  }
  if (typeof code === "string" && UNAVAILABLE.has(code) || SQLITE_UNAVAILABLE.test(error.message)) {
    return err("unavailable", "the server cannot reach its storage right now; try again later");
  }
  return undefined;
}
