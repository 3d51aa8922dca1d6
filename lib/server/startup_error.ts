/**
 * Why the server could not start, as one line a person can act on (docs/build.md:
 * a missing permission names its flag, never a stack trace).
 */
import { TlsFilesError } from "../security/tls_files.ts";
import { UsersFileError } from "../security/users_file.ts";
import { StoreInUseError } from "../stores/kv_store.ts";
import type { ServerConfig } from "./config.ts";
import { PathError } from "./path_checks.ts";
import { reasonOf } from "../paths.ts";

/** The stage of startup that failed. */
export type StartupStage =
  | "users"
  | "tls"
  | "files"
  | "kv"
  | "store"
  | "workers"
  | "metrics"
  | "listen";

/** The server could not start: `stage` says what failed, `cause` is Deno's error. */
export class StartupError extends Error {
  override name = "StartupError";
  constructor(readonly stage: StartupStage, override readonly cause: unknown) {
    super(`${stage}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** Explains a failure to start in one line, naming the permission flag when one is missing. */
export function describeStartupError(error: StartupError, config: ServerConfig): string {
  const cause = error.cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  // Deno's own permission (a missing --allow flag); the OS's refusal is PermissionDenied.
  const denied = cause instanceof Deno.errors.NotCapable;
  if (cause instanceof PathError) return cause.message;
  switch (error.stage) {
    case "users":
      // Already one line naming the file, and the line of a malformed one.
      if (cause instanceof UsersFileError) return cause.message;
      return `users file ${JSON.stringify(config.usersFile)}: ${reasonOf(cause)}`;
    case "tls":
      if (cause instanceof TlsFilesError) return cause.message;
      return `cannot use --tls-cert ${config.tls?.certFile}: ${reason}`;
    case "files":
      if (denied) {
        return `file access to ${config.rootDir} is not granted: run with --allow-read --allow-write`;
      }
      return `--root ${JSON.stringify(config.rootDir)}: ${reasonOf(cause)}`;
    case "kv":
      if (cause instanceof StoreInUseError) return cause.message;
      if (cause instanceof TypeError && /openKv is not a function/.test(cause.message)) {
        return "the KV store needs Deno KV: run with --unstable-kv";
      }
      if (denied) {
        return `file access to ${config.dataDir} is not granted: run with --allow-read --allow-write`;
      }
      return `cannot open the KV store in ${JSON.stringify(config.dataDir)}: ${reasonOf(cause)}`;
    case "store":
      // IncompatibleSchemaError: one line naming the database (never its password) and both versions.
      return `cannot use --store ${reason}`;
    case "workers":
      return `cannot start the worker threads: ${reason}`;
    case "metrics": {
      const where = `${config.metrics?.hostname}:${config.metrics?.port}`;
      if (denied) return `network access is not granted: run with --allow-net (metrics ${where})`;
      if (cause instanceof Deno.errors.AddrInUse) {
        return `cannot serve metrics on ${where}: address already in use`;
      }
      return `cannot serve metrics on ${where}: ${reason}`;
    }
    case "listen": {
      const where = `${config.host}:${config.port}`;
      if (denied) return `network access is not granted: run with --allow-net (${where})`;
      if (cause instanceof Deno.errors.AddrInUse) {
        return `cannot listen on ${where}: address already in use`;
      }
      if (cause instanceof Deno.errors.AddrNotAvailable) {
        return `cannot listen on ${where}: no such local address`;
      }
      return `cannot listen on ${where}: ${reason}`;
    }
  }
}
