/**
 * The command table: every command the protocol knows, and the one dispatch
 * function with its explicit unknown-command case. Adding a command means
 * adding a file exporting `Command`s and one entry in {@linkcode COMMANDS}.
 */
import { err, ProtocolError, type Reply, type Request } from "../protocol.ts";
import type { Logger } from "../log.ts";
import type { Stats } from "../stats.ts";
import type { CountJob, CountResult } from "../count_worker.ts";
import type { WorkerPool } from "../worker_pool.ts";
import { COUNT } from "./count.ts";
import { KV } from "./kv.ts";
import { FILE } from "./files.ts";
import type { FileStore } from "../file_store.ts";
import type { KvStore } from "../kv_store.ts";
import { ECHO, PING, QUIT } from "./basic.ts";
import { CALC } from "./calc.ts";
import { helpCommand } from "./help.ts";
import { HELLO, WHO } from "./hello.ts";
import { STATS } from "./stats.ts";

/** What a command sees of its own connection. */
export interface Session {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly connectedAt: Date;
  /** Set by HELLO. */
  identity: { name: string; studentId: string; github: string } | undefined;
}

/** One connection as WHO lists it. */
export interface SessionEntry {
  session: Session;
  state: "running" | "queued";
}

/** What a command sees of the server. */
export interface ServerInfo {
  readonly stats: Stats;
  readonly logger: Logger;
  readonly maxRunning: number;
  running(): number;
  queued(): number;
  /** Running connections, then queued ones in FIFO order. */
  sessions(): Iterable<SessionEntry>;
  /** The files under --root. */
  readonly files: FileStore;
  /** The durable key-value store. */
  readonly kv: KvStore;
  /** The worker threads that run COUNT jobs. */
  readonly workers: WorkerPool<CountJob, CountResult>;
  /** Extra `key value` STATS lines from services (workers, jobs, …). */
  readonly statsSources: Array<() => Iterable<[string, number]>>;
}

/** Everything a command runs with. */
export interface CommandContext {
  session: Session;
  server: ServerInfo;
  /** Aborts when the connection is gone (reset, closed by the server); see Command.cancelOnDisconnect. */
  signal: AbortSignal;
  /** The `size` raw bytes that follow this request line (FILE PUT); each chunk valid until the one after next is requested. */
  payload(size: number): AsyncIterable<Uint8Array>;
}

/** One protocol command. */
export interface Command {
  /** Upper-case name as typed (case-insensitive on the wire). */
  name: string;
  /** Other names that run the same command (QUIT's EXIT and STOP). */
  aliases?: readonly string[];
  /** Syntax lines for HELP, e.g. `CALC <op> <a> <b>`. */
  usage: readonly string[];
  /** One line: what it is for. */
  summary: string;
  /**
   * Long-running: while it runs, the handler keeps reading so that a reset
   * connection aborts `context.signal` (a clean EOF may be a half-close,
   * which still gets its reply, so it does not abort).
   */
  cancelOnDisconnect?: boolean;
  /** Runs the request; a bad request is a returned or thrown ProtocolError, never a crash. */
  run(request: Request, context: CommandContext): Reply | Promise<Reply>;
}

/** Every command, in HELP order. */
export const COMMANDS: readonly Command[] = [
  PING,
  ECHO,
  QUIT,
  HELLO,
  WHO,
  STATS,
  CALC,
  COUNT,
  FILE,
  KV,
];

/** A name → command lookup including aliases and HELP itself. */
export type CommandTable = ReadonlyMap<string, Command>;

/** Builds the lookup table; HELP is added here because it lists the table. */
export function buildCommandTable(commands: readonly Command[] = COMMANDS): CommandTable {
  const table = new Map<string, Command>();
  const all: Command[] = [helpCommand(() => all), ...commands];
  for (const command of all) {
    for (const name of [command.name, ...(command.aliases ?? [])]) {
      if (table.has(name)) throw new RangeError(`command ${name} is defined twice`);
      table.set(name, command);
    }
  }
  return table;
}

/** Runs a request through the table; unknown names get `ERR unknown-command`. */
export function dispatch(
  table: CommandTable,
  request: Request,
  context: CommandContext,
): Reply | Promise<Reply> {
  const command = table.get(request.command);
  if (command === undefined) {
    return err(
      "unknown-command",
      `${truncate(request.command)} is not a command; HELP lists the commands`,
    );
  }
  return command.run(request, context);
}

/** Throws `bad-args` unless `args` has between `min` and `max` entries. */
export function expectArgs(
  args: readonly string[],
  range: { min: number; max?: number },
  usage: string,
): void {
  const max = range.max ?? range.min;
  if (args.length >= range.min && args.length <= max) return;
  const got = `got ${args.length} argument${args.length === 1 ? "" : "s"}`;
  throw new ProtocolError("bad-args", `${usage}, ${got}`);
}

/** Shortens user input quoted back in an error message. */
export function truncate(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
