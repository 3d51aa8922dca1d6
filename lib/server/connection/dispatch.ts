/**
 * Request dispatch: what one request line means and what answers it. The
 * line is decoded and tokenized, its command looked up (CommandTable.get is
 * the one unknown-command path), held to --max-line, passed through the
 * access gate (docs/security.md) and run; a failure becomes its reply here. When a
 * line is answered, and what happens to the connection around it, is the
 * handler's (client_handler.ts).
 */
import {
  commandWordOf,
  decodeLine,
  err,
  errorReply,
  isBlank,
  type LineReply,
  lineTooLong,
  ProtocolError,
  type Reply,
  Request,
} from "../../protocol/mod.ts";
import { accessRefusal } from "../../commands/access.ts";
import type { Command, CommandContext } from "../../commands/command.ts";
import type { CommandTable } from "../../commands/mod.ts";
import { PING, PONG } from "../../commands/basic.ts";
import { storageReply } from "./storage_errors.ts";
import { StoreBusyError, StoreUnreachableError } from "../../stores/store.ts";
import type { Logger } from "../log.ts";
import type { RequestDurations } from "../observability/metrics.ts";
import type { Stats } from "../observability/stats.ts";

/** What a {@linkcode Dispatcher} needs of its server (a part of the handler's options). */
export interface DispatchOptions {
  /** `--max-line`. */
  maxLine: number;
  /** `--users`: every request is first checked against AUTH and the role (commands/access.ts). */
  authRequired?: boolean;
  commands: CommandTable;
  logger: Logger;
  stats: Stats;
  /** Request durations for /metrics; undefined (and never timed) without --metrics-port. */
  durations?: RequestDurations | undefined;
}

/**
 * A command that answers later (COUNT, FILE, KV): the handler sends what it
 * has, waits for this while watching the connection, then asks
 * {@linkcode Dispatcher.finish} for the reply.
 */
export interface PendingReply {
  readonly kind: "pending";
  readonly reply: Promise<Reply>;
  readonly command: Command;
  readonly started: number;
}

/** The command a connection is answering, and the last one it answered (for the live page). */
export interface CommandActivity {
  readonly current: string | undefined;
  readonly currentSince: number;
  readonly last: string | undefined;
}

/** One connection's request dispatch: request lines in, replies out, never a throw. */
export class Dispatcher implements CommandActivity {
  readonly #options: DispatchOptions;
  readonly #context: CommandContext;
  /**
   * What the live page shows of this connection (docs/observability.md#live-view): the
   * command being answered now (one that answers later: COUNT, FILE, KV), since when
   * (`performance.now()`, 0 without --metrics-port), and the last one answered. Names
   * come from the command table, so setting them per request allocates nothing.
   */
  current: string | undefined;
  currentSince = 0;
  last: string | undefined;

  /**
   * True when the exact line `PING` may skip decoding, parsing and the table
   * (docs/performance.md#s1-where-the-time-goes): the table's PING is the
   * built-in one and no access gate or debug log has to see the request.
   */
  readonly #pingFast: boolean;

  constructor(context: CommandContext, options: DispatchOptions) {
    this.#context = context;
    this.#options = options;
    this.#pingFast = options.authRequired !== true && options.maxLine >= 4 &&
      options.commands.find("PING") === PING;
  }

  /**
   * The reply to one request line; `null` for a blank line, which is not a
   * request. Synchronous unless the command is, so the common request costs
   * no promise and no allocation beyond its reply.
   */
  run(bytes: Uint8Array): Reply | PendingReply | null {
    const options = this.#options;
    if (bytes.length === 4 && this.#pingFast && isPing(bytes) && !options.logger.debugEnabled) {
      return this.#pong(options);
    }
    let reply: Reply | Promise<Reply>;
    let command: Command | undefined;
    const started = options.durations ? performance.now() : 0;
    // Past --max-line, a line is refused unless its command counts less of it (KV SET).
    let withinLimit = bytes.length <= options.maxLine;
    try {
      const text = decodeLine(bytes);
      if (isBlank(text) && withinLimit) return null;
      options.stats.commands_total++;
      const request = new Request(text);
      if (options.logger.debugEnabled) {
        options.logger.debug("request", {
          client: this.#context.session.id,
          command: request.command,
        });
      }
      // With --users an unknown name is refused like any other before AUTH, so it is looked up softly.
      const authRequired = options.authRequired === true;
      command = authRequired
        ? options.commands.find(request.command)
        : options.commands.get(request.command, request.word);
      if (!withinLimit && command !== undefined) {
        withinLimit = (command.measuredLength?.(request) ?? Infinity) <= options.maxLine;
      }
      if (!withinLimit) throw lineTooLong(options.maxLine);
      // One gate for every command (docs/security.md): noauth before AUTH, then the role.
      const refused = authRequired ? accessRefusal(command, request, this.#context) : undefined;
      if (refused !== undefined) reply = refused;
      else {
        command ??= options.commands.get(request.command, request.word);
        reply = command.run(request, this.#context);
      }
    } catch (error) {
      const failure = withinLimit ? error : lineTooLong(options.maxLine);
      reply = this.#failure(failure, command ?? options.commands.find(commandWordOf(bytes)));
    }
    const name = command?.name ?? "unknown";
    this.last = name;
    if (reply instanceof Promise) {
      this.current = name;
      this.currentSince = started;
      return { kind: "pending", reply, command: command!, started };
    }
    options.durations?.observe(name, (performance.now() - started) / 1000);
    return reply;
  }

  /** What {@linkcode run} does for the line `PING`, without the string, the Request or the table. */
  #pong(options: DispatchOptions): Reply {
    const started = options.durations ? performance.now() : 0;
    options.stats.commands_total++;
    this.last = PING.name;
    options.durations?.observe(PING.name, (performance.now() - started) / 1000);
    return PONG;
  }

  /** The reply of a {@linkcode PendingReply}, once its command is done; never throws. */
  async finish(pending: PendingReply): Promise<Reply> {
    let reply: Reply;
    try {
      reply = await pending.reply;
    } catch (error) {
      reply = this.#failure(error, pending.command);
    }
    this.current = undefined;
    this.#options.durations?.observe(
      pending.command.name,
      (performance.now() - pending.started) / 1000,
    );
    return reply;
  }

  /**
   * The reply for a failed request. A ProtocolError is the reply itself,
   * except that a line that cannot be parsed closes the connection when
   * its command carries a payload (FILE PUT): the size of the bytes that
   * follow is unknown, and they must never be read as requests (docs/protocol.md#commands).
   * A storage error the command did not map is `ERR no-space` or `ERR
   * unavailable`; anything else is our bug: logged, `ERR internal`, and the
   * connection lives.
   */
  #failure(error: unknown, command: Command | undefined): LineReply {
    if (error instanceof ProtocolError) {
      if (command?.readsPayload && error.code === "bad-request" && !error.fatal) {
        return err("bad-request", `${error.message}; closing: the payload size is unknown`, {
          close: true,
        });
      }
      return errorReply(error);
    }
    const client = this.#context.session.id;
    const storage = storageReply(error);
    if (storage !== undefined) {
      // The store logs its own unreachable episodes once; not once per request.
      if (!(error instanceof StoreUnreachableError || error instanceof StoreBusyError)) {
        this.#options.logger.warn("storage failed", { client, error: String(error) });
      }
      return storage;
    }
    this.#options.logger.warn("command failed", { client, error: String(error) });
    return err("internal", "the server failed to process this request; it has been logged");
  }
}

/** Whether a 4-byte line is exactly `PING` (upper-case; any other spelling takes the general path). */
function isPing(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x49 && bytes[2] === 0x4e && bytes[3] === 0x47;
}
