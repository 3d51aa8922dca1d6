/**
 * The ClientHandler: one per connection, created but not started, handed to
 * the Manager. It owns the connection's lifecycle (queued, running, refused,
 * shut down, aborted, idle) and the serve loop: read → dispatch → reply, or
 * the raw echo loop (echo.ts). Its ConnReader (reader.ts) reads, its Dispatcher
 * (dispatch.ts) answers a line, its ReplyWriter (reply_writer.ts) writes.
 *
 * Whatever a peer does — garbage, a reset, silence, a thrown bug in a
 * command — ends at most its own connection: every failure is turned into an
 * `ERR` reply (by the Dispatcher) or a close (here), never thrown to the
 * server.
 */
import { errorReply, type LineReply, ProtocolError, type Reply } from "../../protocol/mod.ts";
import type { BufferPool } from "./buffer_pool.ts";
import type { CommandContext, Services, Session } from "../../commands/command.ts";
import { type ManagedHandler, SHUTDOWN_REPLY } from "../admission/manager.ts";
import { echoBytes } from "./echo.ts";
import {
  type CommandActivity,
  Dispatcher,
  type DispatchOptions,
  type PendingReply,
} from "./dispatch.ts";
import { ConnReader, type ReadableConn } from "./reader.ts";
import { isDisconnect } from "../peer_errors.ts";
import { FLUSH_THRESHOLD, ReplyWriter, sayLast } from "./reply_writer.ts";
import { LINGER_MS } from "../admission/turn_away.ts";
import { timeoutReply } from "./timeout_sweep.ts";
import { Turn, yieldTurn } from "./turn.ts";
import { closeQuietly } from "../../io.ts";

/** The connection as the handler uses it (a Deno.TcpConn in the server). */
export interface PeerConn extends ReadableConn {
  close(): void;
}

/** Options shared by every handler of one server. */
export interface HandlerOptions extends DispatchOptions {
  /** A running peer silent this long between requests gets `ERR timeout`; 0 disables. */
  idleTimeoutMs: number;
  /**
   * A request line must be whole this long after its first byte, a payload
   * or download must keep `minRate` over windows this long, and a reply
   * write must make progress within it; 0 disables all three.
   */
  requestTimeoutMs: number;
  /** `--min-rate`: bytes a second an upload or download must keep up; 0 disables. */
  minRate: number;
  /** Raw byte echo instead of the protocol (`--echo`). */
  echo: boolean;
  services: Services;
  /**
   * The next connection id (the Manager's, unique across network threads);
   * default: a counter of this thread's.
   */
  nextId?: () => number;
  /** Where each connection's first read and reply buffers come from and go back to (lib/server/connection/buffer_pool.ts). */
  buffers?: { frames: BufferPool; replies: BufferPool } | undefined;
}

let nextSessionId = 1;

/** One peer connection, from accept to close. */
export class ClientHandler implements ManagedHandler, Session {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly connectedAt = new Date();
  identity: Session["identity"] = undefined;
  user: Session["user"] = undefined;
  /** `performance.now()` when the connection was queued or started: the live page's time in state. */
  stateSince = performance.now();

  readonly #conn: PeerConn;
  readonly #options: HandlerOptions;
  readonly #in: ConnReader;
  readonly #out: ReplyWriter;
  readonly #dispatch: Dispatcher;
  /** This connection's turn at answering its pipelined requests (turn.ts). */
  readonly #turn = new Turn();
  /**
   * Aborted when the connection is gone: cancels long-running work such as
   * COUNT jobs. Made on first use: most connections never need one, and
   * aborting builds a DOMException with a stack (measured: ~3 % of the
   * server's CPU under connection churn).
   */
  #gone: AbortController | undefined;
  #isGone = false;
  #state: "new" | "queued" | "running" | "closed" = "new";
  /** Shutdown asked: finish the request in hand, then say so and close. */
  #stopping = false;
  /** A command is running (the serve loop waits for its reply). */
  #inRequest = false;
  #commands = 0;

  constructor(
    conn: PeerConn,
    remote: { hostname: string; port: number },
    options: HandlerOptions,
  ) {
    this.id = options.nextId?.() ?? nextSessionId++;
    this.#conn = conn;
    this.address = remote.hostname;
    this.port = remote.port;
    this.#options = options;
    this.#in = new ConnReader(conn, {
      maxLine: options.maxLine,
      idleTimeoutMs: options.idleTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      minRate: options.minRate,
      stats: options.stats,
      logger: options.logger,
      session: this.id,
      onGone: () => this.#markGone(),
      pool: options.buffers?.frames,
    });
    this.#out = new ReplyWriter(conn, {
      stats: options.stats,
      pool: options.buffers?.replies,
      // A peer that stops reading costs its buffer for this long, then its connection (docs/protocol.md#limits-and-bad-input).
      stallMs: options.requestTimeoutMs || options.idleTimeoutMs,
      minRate: options.minRate,
    });
    const input = this.#in;
    // deno-lint-ignore no-this-alias
    const handler = this;
    const context: CommandContext = {
      session: this,
      services: options.services,
      get signal() {
        return handler.#goneSignal();
      },
      payload: (size) => input.payload(size),
    };
    this.#dispatch = new Dispatcher(context, options);
  }

  /** Where this connection is in its life. */
  get state(): "new" | "queued" | "running" | "closed" {
    return this.#state;
  }

  /** What the connection is answering now, and what it answered last. */
  get activity(): CommandActivity {
    return this.#dispatch;
  }

  /** Manager: we wait for a slot. Keep reading so a hang-up is seen and no byte is lost. */
  enqueued(leave: () => void): void {
    this.#state = "queued";
    this.stateSince = performance.now();
    this.#options.logger.info("client queued", { client: this.id });
    const waiting = () => this.#state === "queued";
    // A half-close with requests pending keeps its place: that peer can still read its replies.
    this.#in.hungUpWhileQueued(waiting).then((hungUp) => {
      if (!hungUp || !waiting()) return;
      leave();
      this.#close();
      this.#options.logger.info("client left the queue", { client: this.id });
    });
  }

  /** Manager: our slot is free; serve the peer until it is done. */
  async run(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "running";
    this.stateSince = performance.now();
    const logger = this.#options.logger;
    logger.info("client started", { client: this.id });
    try {
      // Time spent in the queue does not count as idle (docs/protocol.md#commands).
      this.#in.resetIdle();
      if (this.#options.echo) {
        await echoBytes(this.#in, this.#out, () => this.#stopping || this.#state === "closed");
      } else await this.#serve();
    } catch (error) {
      if (!isDisconnect(error)) {
        logger.warn("client handler failed", { client: this.id, error: String(error) });
      }
    } finally {
      this.#close();
      this.#releaseBuffers();
      logger.info("client closed", {
        client: this.id,
        commands: this.#commands,
        duration_ms: Date.now() - this.connectedAt.getTime(),
      });
    }
  }

  /** Manager: refused (busy, queue timeout, shutdown). Best effort, never throws. */
  refuse(reply: LineReply): void {
    this.#sayAndClose(reply);
  }

  /** Manager: finish the request in hand, then say shutdown; at once if idle between requests. */
  shutdown(): void {
    this.#stopping = true;
    if (this.#in.waitingForInput) this.#sayAndClose(SHUTDOWN_REPLY);
  }

  /**
   * Manager: the drain timeout passed; close now. A request still in hand
   * gets `ERR shutdown` as its reply first, unless a reply is already on
   * its way (a DATA body, or a write in progress), which it would corrupt.
   */
  abort(): void {
    const out = this.#out;
    if (this.#inRequest && !out.streaming && !out.writing && out.pending === 0) {
      this.#sayAndClose(SHUTDOWN_REPLY);
    } else this.#close();
  }

  /**
   * The server's sweep (timeout_sweep.ts), a few times a second at most:
   * closes a running peer that is overdue — silent for --idle-timeout
   * (`ERR timeout`), trickling a request line for longer than
   * --request-timeout (`ERR timeout`), moving a payload or a download
   * slower than --min-rate, or not taking its replies.
   */
  checkTimeouts(now: number): void {
    if (this.#state !== "running") return;
    const output = this.#out.overdue(now);
    if (output !== undefined) {
      // Nothing more can be said to it: a reply is stuck, or half sent.
      this.#options.stats.timeouts_total++;
      const why = output === "stalled" ? "client stopped reading" : "download below --min-rate";
      this.#options.logger.info(`${why}; closing`, { client: this.id });
      return this.#close();
    }
    const input = this.#in.overdue(now);
    if (input === undefined) return;
    this.#options.stats.timeouts_total++;
    this.#options.logger.info(`${input} timeout`, { client: this.id });
    // An echo connection has no protocol: a line of ours would be echo data to it.
    if (this.#options.echo) return this.#close();
    this.#sayAndClose(timeoutReply(input, this.#options));
  }

  /**
   * The protocol loop (mini-redis `Handler::run`): answer every complete
   * request already buffered, send the replies in one write, read more.
   */
  async #serve(): Promise<void> {
    const input = this.#in;
    const out = this.#out;
    for (;;) {
      // 1. Answer what is buffered; most commands answer synchronously.
      let turnOver = false;
      this.#turn.begin();
      for (;;) {
        if (this.#stopping) return await this.#sayShutdown();
        let line: Uint8Array | null;
        try {
          line = input.frame.nextLine();
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          await this.#reply(errorReply(error)); // a line over --max-line: fatal
          return await out.flush();
        }
        if (line === null) break;
        this.#turn.next(input.frame.buffered > 0);
        let close = this.#answer(line);
        if (close instanceof Promise) close = await close;
        if (close) return await out.flush();
        if (out.pending >= FLUSH_THRESHOLD) await out.flush();
        // With nothing more buffered the turn ends here anyway: no need to ask (or read the clock).
        if (input.frame.buffered > 0 && this.#turn.answered()) {
          turnOver = true;
          break;
        }
      }
      // 2. Send the replies: usually one write, whose own promise we await.
      if (out.pending > 0) {
        let n: number;
        try {
          n = await out.writeOnce();
        } catch (error) {
          out.writeFailed();
          throw error;
        }
        if (!out.wrote(n)) await out.flush();
      }
      if (turnOver) {
        // A long or costly pipeline: the other connections get their turn before the rest of it.
        await yieldTurn();
        continue;
      }
      // 3. Read more, unless the input has ended or we are stopping.
      if (input.ended) {
        // Half-closed: answer an unterminated last line too, then close.
        if (input.frame.buffered > 0) await this.#answer(input.frame.takeAll());
        return await out.flush();
      }
      if (this.#stopping) return await this.#sayShutdown();
      try {
        input.landed(await input.read());
      } catch (error) {
        input.failed(error);
      }
      if (this.#state === "closed") return;
    }
  }

  /**
   * Answers one request line; true when the connection must close after the
   * reply. Synchronous unless the command is (or the reply must be flushed
   * first), so the common request costs no promise.
   */
  #answer(bytes: Uint8Array): boolean | Promise<boolean> {
    const reply = this.#dispatch.run(bytes);
    if (reply === null) return false;
    this.#commands++;
    if (reply.kind === "pending") return this.#answerLater(reply);
    if (reply.kind === "data" || reply.kind === "stream") {
      return this.#reply(reply).then(() => false);
    }
    this.#out.addLine(reply);
    return (reply.kind === "ok" || reply.kind === "err") && reply.close === true;
  }

  /** The rest of {@linkcode #answer} for a command that answers later (COUNT, FILE, KV). */
  async #answerLater(pending: PendingReply): Promise<boolean> {
    // Taken now, so that a command failing after a failed flush is no unhandled rejection.
    const finished = this.#dispatch.finish(pending);
    // Replies already made go out before we wait on a slow command.
    await this.#out.flush();
    if (pending.command.cancelOnDisconnect) this.#in.watch(pending.reply);
    let reply: Reply;
    this.#inRequest = true;
    try {
      reply = await finished;
    } finally {
      this.#inRequest = false;
    }
    const close = (reply.kind === "ok" || reply.kind === "err") && reply.close === true;
    // Payload bytes the command did not read are dropped here, never parsed as requests.
    if (!close && !await this.#in.skipPayload()) return true;
    await this.#reply(reply);
    return close;
  }

  async #reply(reply: Reply): Promise<void> {
    if (reply.kind === "data" || reply.kind === "stream" || this.#out.pending >= FLUSH_THRESHOLD) {
      await this.#out.add(reply);
    } else this.#out.addLine(reply);
    if (this.#out.pending >= FLUSH_THRESHOLD) await this.#out.flush();
  }

  async #sayShutdown(): Promise<void> {
    await this.#reply(SHUTDOWN_REPLY);
    await this.#out.flush();
  }

  /** Writes one line while the serve loop is parked in a read, then closes (which ends that read). */
  #sayAndClose(reply: LineReply): void {
    if (this.#state === "closed") return;
    // The sweep skips a closed handler: sayLast bounds the write itself.
    this.#state = "closed";
    sayLast(this.#conn, reply, {
      stats: this.#options.stats,
      lingerMs: LINGER_MS,
      close: () => this.#close(),
    });
  }

  /**
   * After the serve loop, when no read or write is in flight any more: the
   * buffers go back to the pool for the next connection. If one still is
   * (the read that watches a long command for a hang-up), they are left to
   * the garbage collector.
   */
  #releaseBuffers(): void {
    if (this.#in.reading || this.#out.writing) return;
    this.#in.frame.release();
    this.#out.release();
  }

  /** The signal of {@linkcode #gone}, made on first use (already aborted if the peer is gone). */
  #goneSignal(): AbortSignal {
    if (this.#gone === undefined) {
      this.#gone = new AbortController();
      if (this.#isGone) this.#gone.abort();
    }
    return this.#gone.signal;
  }

  /** The connection is gone (reset, stalled or closed): cancel its work. */
  #markGone(): void {
    this.#isGone = true;
    this.#gone?.abort();
  }

  #close(): void {
    this.#markGone();
    this.#state = "closed";
    closeQuietly(this.#conn);
  }
}
