/**
 * What a protocol command is and what it runs with. Every command file
 * imports this and the protocol, never the table (mod.ts), so the command
 * files and the table have no import cycle.
 */
import type { Logger } from "../server/log.ts";
import type { Reply, Request } from "../protocol/mod.ts";
import type { AuthResult } from "../security/authenticator.ts";
import type { User } from "../security/users_file.ts";
import type { FileStorage, KeyValueStore } from "../stores/store.ts";
import type { WorkerPool } from "../jobs/pool.ts";
import type { CommandDeclaration } from "./catalog.ts";
import type { Job, JobResult } from "../jobs/worker.ts";

/** What a command sees of its own connection. */
export interface Session {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly connectedAt: Date;
  /** Set by HELLO. */
  identity: { name: string; studentId: string; github: string } | undefined;
  /**
   * Set by a successful AUTH (docs/security.md); a later one replaces it. The user as
   * loaded then: a reload of the users file does not change it.
   */
  user: User | undefined;
}

/** AUTH's side of the server (`--users`): checks a name and password for a client's address. */
export interface AuthService {
  /** Throttled per address; a failure is counted in STATS `auth_failures_total`. */
  authenticate(address: string, name: string, password: string): Promise<AuthResult>;
}

/** One connection as WHO lists it. */
export interface SessionEntry {
  session: Session;
  state: "running" | "queued";
}

/**
 * The server's services, shared by every connection. A command uses only
 * the ones it needs, so a test builds just those (tests/context.ts
 * `testContext`) and a new service does not touch the other commands' tests.
 */
export interface Services {
  readonly logger: Logger;
  /** The files: under --root, or in the --store database. */
  readonly files: FileStorage;
  /** The durable key-value store. */
  readonly kv: KeyValueStore;
  /** The worker threads: COUNT jobs, and hashes for FILE GET (which the file store runs there). */
  readonly workers: WorkerPool<Job, JobResult>;
  /** The users of `--users`; undefined without it (every client is let in, and AUTH is refused). */
  readonly auth: AuthService | undefined;
  /** Running connections, then queued ones in FIFO order (WHO). */
  sessions(): Iterable<SessionEntry>;
  /** The STATS lines as `[key, integer]`, in order (docs/protocol.md#commands). */
  counters(): Iterable<[string, number]>;
}

/** Everything a command runs with: its connection, and the shared services. */
export interface CommandContext {
  readonly session: Session;
  readonly services: Services;
  /** Aborts when the connection is gone (reset, closed by the server); see Command.cancelOnDisconnect. */
  readonly signal: AbortSignal;
  /**
   * The `size` raw bytes that follow this request line (FILE PUT); each
   * chunk is valid until the one after next is requested. Whatever the
   * command leaves unread is read and dropped by the handler before the
   * next request, so payload bytes never reach the parser.
   */
  payload(size: number): AsyncIterable<Uint8Array>;
}

/**
 * One protocol command: its declaration in the catalog (catalog.ts: name,
 * aliases, keywords, what writes, what is answered before AUTH), spread in
 * with `declared(name)`, and what it does.
 */
export interface Command extends CommandDeclaration {
  /** Syntax lines for HELP, e.g. `CALC <op> <a> <b>`. */
  readonly usage: readonly string[];
  /** One line: what it is for. */
  readonly summary: string;
  /**
   * Long-running: while it runs, the handler keeps reading so that a reset
   * connection aborts `context.signal` (a clean EOF may be a half-close,
   * which still gets its reply, so it does not abort).
   */
  readonly cancelOnDisconnect?: boolean;
  /**
   * Raw bytes may follow the request line (FILE PUT). A line of such a
   * command that cannot be parsed closes the connection, since the size of
   * what follows is unknown and it must never be read as requests.
   */
  readonly readsPayload?: boolean;
  /**
   * For a command that `readsPayload`: how many raw bytes follow this
   * request line, or undefined if the line announces some but their number
   * cannot be known (the connection must then close). Asked when the
   * request is refused before it runs (`noauth`, a role's `denied`), so
   * that the payload is read and dropped, never parsed as requests. May
   * throw a ProtocolError as `run` would.
   */
  payloadSize?(request: Request, context: CommandContext): number | undefined;
  /**
   * The bytes `--max-line` counts for a line of this command that is longer
   * than the limit, when that is not the whole line (KV SET counts its
   * value only, so a 65,536-byte value fits the default limit). Lines may
   * be at most a few hundred bytes over the limit in all (the server's
   * `LINE_HEADROOM`, lib/server/connection/reader.ts).
   */
  measuredLength?(request: Request): number;
  /** Runs the request; a failure is a thrown ProtocolError (its reply), never a crash. */
  run(request: Request, context: CommandContext): Reply | Promise<Reply>;
}

/** Throws `bad-args` unless a request has the arguments its usage allows (lib/arity.ts). */
export { expectArgs } from "../arity.ts";

/** Client input as an error message quotes it (lib/escape.ts). */
export { truncate } from "../escape.ts";
