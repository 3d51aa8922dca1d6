/**
 * The ClientHandler: one per connection, created but not started, handed to
 * the Manager. It owns the connection's lifecycle (queued, running, refused,
 * shut down, aborted, idle) and the serve loop: read → parse → dispatch →
 * reply, or the raw echo loop. The reading side is its ConnReader
 * (reader.ts), the writing side its ReplyWriter (reply_writer.ts).
 *
 * Whatever a peer does — garbage, a reset, silence, a thrown bug in a
 * command — ends at most its own connection: every failure is turned into an
 * `ERR` reply or a close here, never thrown to the server.
 */
import {
  decodeLine,
  err,
  errorReply,
  isBlank,
  type LineReply,
  ProtocolError,
  type Reply,
  Request,
} from "../protocol/mod.ts";
import type { BufferPool } from "../buffer_pool.ts";
import type { CommandContext, Services, Session } from "../commands/command.ts";
import type { CommandTable } from "../commands/mod.ts";
import type { Logger } from "../log.ts";
import { type ManagedHandler, SHUTDOWN_REPLY } from "./manager.ts";
import type { RequestDurations } from "./metrics.ts";
import { ConnReader, isDisconnect, type ReadableConn } from "./reader.ts";
import { FLUSH_THRESHOLD, ReplyWriter } from "./reply_writer.ts";
import type { Stats } from "./stats.ts";

/** The connection as the handler uses it (a Deno.TcpConn in the server). */
export interface PeerConn extends ReadableConn {
  close(): void;
}

/** Options shared by every handler of one server. */
export interface HandlerOptions {
  /** SPEC `--max-line`. */
  maxLine: number;
  /** A running peer silent this long gets `ERR timeout`; 0 disables. */
  idleTimeoutMs: number;
  /** Raw byte echo instead of the protocol (SPEC `--echo`). */
  echo: boolean;
  commands: CommandTable;
  services: Services;
  logger: Logger;
  stats: Stats;
  /** Request durations for /metrics; undefined (and never timed) without --metrics-port. */
  durations?: RequestDurations | undefined;
  /** Where each connection's first read and reply buffers come from and go back to (lib/buffer_pool.ts). */
  buffers?: { frames: BufferPool; replies: BufferPool } | undefined;
}

let nextSessionId = 1;

/** One peer connection, from accept to close. */
export class ClientHandler implements ManagedHandler, Session {
  readonly id = nextSessionId++;
  readonly address: string;
  readonly port: number;
  readonly connectedAt = new Date();
  identity: Session["identity"] = undefined;

  readonly #conn: PeerConn;
  readonly #options: HandlerOptions;
  readonly #in: ConnReader;
  readonly #out: ReplyWriter;
  readonly #context: CommandContext;
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
  #commands = 0;

  constructor(
    conn: PeerConn,
    remote: { hostname: string; port: number },
    options: HandlerOptions,
  ) {
    this.#conn = conn;
    this.address = remote.hostname;
    this.port = remote.port;
    this.#options = options;
    this.#in = new ConnReader(conn, {
      maxLine: options.maxLine,
      stats: options.stats,
      logger: options.logger,
      session: this.id,
      onGone: () => this.#markGone(),
      pool: options.buffers?.frames,
    });
    this.#out = new ReplyWriter(conn, { stats: options.stats, pool: options.buffers?.replies });
    const input = this.#in;
    // deno-lint-ignore no-this-alias
    const handler = this;
    this.#context = {
      session: this,
      services: options.services,
      get signal() {
        return handler.#goneSignal();
      },
      payload: (size) => input.payload(size),
    };
  }

  /** Where this connection is in its life. */
  get state(): "new" | "queued" | "running" | "closed" {
    return this.#state;
  }

  /** Manager: we wait for a slot. Keep reading so a hang-up is seen and no byte is lost. */
  enqueued(leave: () => void): void {
    this.#state = "queued";
    this.#options.logger.info("client queued", { client: this.id });
    this.#in.readAhead(() => this.#state === "queued").then((ended) => {
      // EOF while waiting. With requests pending this may be a half-close
      // (`nc -N`), which still deserves its replies, so it keeps its place;
      // with nothing pending it is a hang-up and leaves the queue at once.
      if (!ended || this.#state !== "queued" || this.#in.frame.buffered > 0) return;
      leave();
      this.#close();
      this.#options.logger.info("client left the queue", { client: this.id });
    });
  }

  /** Manager: our slot is free; serve the peer until it is done. */
  async run(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "running";
    const logger = this.#options.logger;
    logger.info("client started", { client: this.id });
    try {
      // Time spent in the queue does not count as idle (SPEC §4).
      this.#in.resetIdle();
      if (this.#options.echo) await this.#echo();
      else await this.#serve();
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

  /** Manager: the drain timeout passed; close now. */
  abort(): void {
    this.#close();
  }

  /**
   * The server's idle sweep (idle_sweep.ts), a few times per
   * --idle-timeout: closes a running peer that has been silent that long
   * (`ERR timeout`), or that has not taken a reply for that long.
   */
  checkIdle(now: number): void {
    if (this.#state !== "running") return;
    const limit = this.#options.idleTimeoutMs;
    const writingSince = this.#out.writingSince;
    if (writingSince > 0 && now - writingSince >= limit) {
      // The peer stopped reading its replies: nothing can be said to it.
      this.#options.stats.timeouts_total++;
      this.#options.logger.info("client stopped reading; closing", { client: this.id });
      return this.#close();
    }
    if (!this.#in.waitingForInput || now - this.#in.idleSince < limit) return;
    this.#options.stats.timeouts_total++;
    const seconds = limit / 1000;
    this.#options.logger.info("idle timeout", { client: this.id, idle_s: seconds });
    this.#sayAndClose(err("timeout", `no request for ${seconds} s; closing`));
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
        let close = this.#answer(line);
        if (close instanceof Promise) close = await close;
        if (close) return await out.flush();
        if (out.pending >= FLUSH_THRESHOLD) await out.flush();
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
    let reply: Reply | Promise<Reply>;
    let cancellable = false;
    let command = "unknown";
    const started = this.#options.durations ? performance.now() : 0;
    try {
      const text = decodeLine(bytes);
      if (isBlank(text)) return false;
      this.#commands++;
      this.#options.stats.commands_total++;
      const request = new Request(text);
      if (this.#options.logger.debugEnabled) {
        this.#options.logger.debug("request", { client: this.id, command: request.command });
      }
      const known = this.#options.commands.get(request.command);
      command = known.name;
      cancellable = known.cancelOnDisconnect === true;
      reply = known.run(request, this.#context);
    } catch (error) {
      reply = this.#failure(error);
    }
    if (reply instanceof Promise) return this.#answerLater(reply, cancellable, command, started);
    this.#options.durations?.observe(command, (performance.now() - started) / 1000);
    if (reply.kind === "data" || reply.kind === "stream") {
      return this.#reply(reply).then(() => false);
    }
    this.#out.addLine(reply);
    return (reply.kind === "ok" || reply.kind === "err") && reply.close === true;
  }

  /** The rest of {@linkcode #answer} for a command that answers later (COUNT, FILE, KV). */
  async #answerLater(
    pending: Promise<Reply>,
    cancellable: boolean,
    command: string,
    started: number,
  ): Promise<boolean> {
    // Replies already made go out before we wait on a slow command.
    await this.#out.flush();
    if (cancellable) this.#in.watch(pending);
    let reply: Reply;
    try {
      reply = await pending;
    } catch (error) {
      reply = this.#failure(error);
    }
    this.#options.durations?.observe(command, (performance.now() - started) / 1000);
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

  /** A thrown ProtocolError is the reply; anything else is our bug: logged, `ERR internal`, connection lives. */
  #failure(error: unknown): LineReply {
    if (error instanceof ProtocolError) return errorReply(error);
    this.#options.logger.warn("command failed", { client: this.id, error: String(error) });
    return err("internal", "the server failed to process this request; it has been logged");
  }

  /** Raw echo (SPEC `--echo`): every byte back, exactly as received. */
  async #echo(): Promise<void> {
    for (;;) {
      const bytes = this.#in.frame.take(Infinity);
      if (bytes !== null) {
        this.#out.bytes(bytes);
        await this.#out.flush();
      }
      if (this.#in.ended || this.#stopping || this.#state === "closed") return;
      try {
        this.#in.landed(await this.#in.read());
      } catch (error) {
        this.#in.failed(error);
      }
    }
  }

  async #sayShutdown(): Promise<void> {
    await this.#reply(SHUTDOWN_REPLY);
    await this.#out.flush();
  }

  /** Writes one line while the serve loop is parked in a read, then closes (which ends that read). */
  #sayAndClose(reply: LineReply): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const out = new ReplyWriter(this.#conn, { stats: this.#options.stats });
    out.addLine(reply);
    out.flush().catch(() => {}).finally(() => this.#close());
  }

  /**
   * After the serve loop, when no read or write is in flight any more: the
   * buffers go back to the pool for the next connection. If one still is
   * (the read that watches a long command for a hang-up), they are left to
   * the garbage collector.
   */
  #releaseBuffers(): void {
    if (this.#in.reading || this.#out.writingSince !== 0) return;
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
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}
