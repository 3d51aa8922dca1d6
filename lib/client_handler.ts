/**
 * The ClientHandler: one per connection, created but not started, handed to
 * the Manager. While queued it keeps reading (bounded) so that nothing the
 * client sends is lost and a hang-up is noticed at once; once started it
 * runs the read → parse → dispatch → reply loop (or the raw echo loop).
 *
 * Whatever a client does — garbage, a reset, silence, a thrown bug in a
 * command — ends at most its own connection: every failure is turned into an
 * `ERR` reply or a close here, never thrown to the server.
 */
import {
  decodeLine,
  err,
  errorReply,
  FrameBuffer,
  isBlank,
  type LineReply,
  ProtocolError,
  type Reply,
  Request,
  TurnBuffers,
} from "./protocol.ts";
import { type ByteSink, FLUSH_THRESHOLD, ReplyWriter } from "./reply_writer.ts";
import {
  type CommandContext,
  type CommandTable,
  dispatch,
  type ServerInfo,
  type Session,
} from "./commands/mod.ts";
import { type ManagedClient, SHUTDOWN_REPLY } from "./manager.ts";
import type { Logger } from "./log.ts";
import type { Stats } from "./stats.ts";
import type { RequestDurations } from "./metrics.ts";
import type { BufferPool } from "./buffer_pool.ts";

/** The connection as the handler uses it (a Deno.TcpConn in the server). */
export interface ClientConn extends ByteSink {
  read(p: Uint8Array): Promise<number | null>;
  close(): void;
}

/** Smallest free space a read asks for; the buffer grows toward a line's length only when needed. */
const MIN_READ_BYTES = 2048;
/**
 * Zero-length writes tried after end of input during a command, to see a
 * reset that follows a FIN (see `#watchWhileBusy`); after the last one the
 * client counts as half-closed and its command runs to the end.
 */
const RESET_PROBES = 8;
const RESET_PROBE_FIRST_GAP_MS = 10;
/*
 * Idle and write-stall times use Date.now(): it is a V8 builtin, while
 * performance.now() is a call into Deno's runtime, measurably dearer when
 * taken twice per request; second-scale timeouts do not need monotonic
 * sub-millisecond time.
 */

/** Read size for request payloads (uploads): large reads for throughput, one buffer per upload. */
const PAYLOAD_READ_BYTES = 1024 * 1024;

/** The client stopped sending before the announced payload size. */
export class PayloadCutShortError extends Error {
  override name = "PayloadCutShortError";
  constructor(readonly received: number, readonly expected: number) {
    super(`payload ended after ${received} of ${expected} bytes`);
  }
}

/** Options shared by every handler of one server. */
export interface HandlerOptions {
  /** SPEC `--max-line`. */
  maxLine: number;
  /** A running client silent this long gets `ERR timeout`; 0 disables. */
  idleTimeoutMs: number;
  /** Raw byte echo instead of the protocol (SPEC `--echo`). */
  echo: boolean;
  commands: CommandTable;
  server: ServerInfo;
  logger: Logger;
  stats: Stats;
  /** Request durations for /metrics; undefined (and never timed) without --metrics-port. */
  durations?: RequestDurations | undefined;
  /** Where each connection's first read and reply buffers come from and go back to (lib/buffer_pool.ts). */
  buffers?: { frames: BufferPool; replies: BufferPool } | undefined;
}

let nextClientId = 1;

/** One client connection, from accept to close. */
export class ClientHandler implements ManagedClient, Session {
  readonly id = nextClientId++;
  readonly address: string;
  readonly port: number;
  readonly connectedAt = new Date();
  identity: Session["identity"] = undefined;

  readonly #conn: ClientConn;
  readonly #options: HandlerOptions;
  readonly #frame: FrameBuffer;
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
  /** Bytes a queued client may send before we stop reading (TCP flow control then holds the rest). */
  readonly #queuedInputLimit: number;
  #state: "new" | "queued" | "running" | "closed" = "new";
  /** The one read in flight, shared by the queued-phase reader and the serve loop. */
  #pendingRead: Promise<boolean> | null = null;
  #inputEnded = false;
  #stopping = false;
  #waitingForInput = false;
  #idleSince = 0;
  #commands = 0;

  constructor(
    conn: ClientConn,
    remote: { hostname: string; port: number },
    options: HandlerOptions,
  ) {
    this.#conn = conn;
    this.address = remote.hostname;
    this.port = remote.port;
    this.#options = options;
    this.#frame = new FrameBuffer(options.maxLine, { pool: options.buffers?.frames });
    this.#queuedInputLimit = options.maxLine + 2;
    this.#out = new ReplyWriter(conn, { stats: options.stats, pool: options.buffers?.replies });
    // deno-lint-ignore no-this-alias
    const handler = this;
    this.#context = {
      session: this,
      server: options.server,
      get signal() {
        return handler.#goneSignal();
      },
      payload: (size) => this.#payload(size),
    };
  }

  /** Where this client is in its life. */
  get state(): "new" | "queued" | "running" | "closed" {
    return this.#state;
  }

  /** Manager: we are waiting for a slot. Keep reading so a hang-up is seen and no byte is lost. */
  enqueued(leave: () => void): void {
    this.#state = "queued";
    this.#options.logger.info("client queued", { client: this.id });
    this.#readWhileQueued(leave);
  }

  /** Manager: our slot is free; serve the client until it is done. */
  async run(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "running";
    const logger = this.#options.logger;
    logger.info("client started", { client: this.id });
    try {
      // Time spent in the queue does not count as idle (SPEC §4).
      this.#idleSince = Date.now();
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

  /**
   * After the serve loop, when no read or write is in flight any more: the
   * buffers go back to the pool for the next client. If one still is (the
   * read that watches a long command for a hang-up), they are left to the
   * garbage collector.
   */
  #releaseBuffers(): void {
    if (this.#pendingRead !== null || this.#waitingForInput || this.#out.writingSince !== 0) return;
    this.#frame.release();
    this.#out.release();
  }

  /** Manager: refused (busy, queue timeout, shutdown). Best effort, never throws. */
  refuse(reply: LineReply): void {
    this.#sayAndClose(reply);
  }

  /** Manager: finish the request in hand, then say shutdown; at once if idle between requests. */
  shutdown(): void {
    this.#stopping = true;
    if (this.#waitingForInput) this.#sayAndClose(SHUTDOWN_REPLY);
  }

  /** Manager: the drain timeout passed; close now. */
  abort(): void {
    this.#close();
  }

  /** The protocol loop: answer every complete request buffered, flush once, read more. */
  async #serve(): Promise<void> {
    let eof = this.#inputEnded;
    for (;;) {
      for (;;) {
        if (this.#stopping) return await this.#sayShutdown();
        let line: Uint8Array | null;
        try {
          line = this.#frame.nextLine();
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          await this.#reply(errorReply(error));
          return await this.#out.flush();
        }
        if (line === null) break;
        // Most commands answer synchronously: no promise, no await, per request.
        let close = this.#answer(line);
        if (close instanceof Promise) close = await close;
        if (close) return await this.#out.flush();
        if (this.#out.pending >= FLUSH_THRESHOLD) await this.#out.flush();
      }
      if (this.#out.pending > 0) {
        // The usual case: one write of everything pending. Inlined for the
        // same reason as the read below.
        let n: number;
        try {
          n = await this.#out.writeOnce();
        } catch (error) {
          this.#out.writeFailed();
          throw error;
        }
        if (!this.#out.wrote(n)) await this.#out.flush();
      }
      if (eof) {
        // Half-closed: answer an unterminated last line too, then close.
        if (this.#frame.buffered > 0) await this.#answer(this.#frame.takeAll());
        return await this.#out.flush();
      }
      if (this.#stopping) return await this.#sayShutdown();
      if (this.#pendingRead === null) {
        // The usual case: read straight into the frame buffer. Inlined (the
        // same as #readDirect) because it is every request's path.
        this.#waitingForInput = true;
        this.#idleSince = Date.now();
        let n: number | null;
        try {
          n = await this.#conn.read(this.#frame.spare(MIN_READ_BYTES));
        } catch (error) {
          if (this.#state !== "closed" && !isDisconnect(error)) throw error;
          n = null;
          this.#markGone();
        } finally {
          this.#waitingForInput = false;
        }
        if (n === null) {
          eof = this.#inputEnded = true;
        } else {
          this.#options.stats.bytes_in += n;
          this.#frame.commit(n);
        }
      } else eof = !await this.#readInput();
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
      if (known !== undefined) {
        command = known.name;
        cancellable = known.cancelOnDisconnect === true;
        reply = known.run(request, this.#context);
      } else reply = dispatch(this.#options.commands, request, this.#context);
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
    if (cancellable) this.#watchWhileBusy(pending);
    let reply: Reply;
    try {
      reply = await pending;
    } catch (error) {
      reply = this.#failure(error);
    }
    this.#options.durations?.observe(command, (performance.now() - started) / 1000);
    await this.#reply(reply);
    return (reply.kind === "ok" || reply.kind === "err") && reply.close === true;
  }

  async #reply(reply: Reply): Promise<void> {
    if (reply.kind === "data" || reply.kind === "stream" || this.#out.pending >= FLUSH_THRESHOLD) {
      await this.#out.add(reply);
    } else this.#out.addLine(reply);
    if (this.#out.pending >= FLUSH_THRESHOLD) await this.#out.flush();
  }

  /**
   * The raw bytes that follow a request line (FILE PUT): first what is
   * already buffered, then straight from the socket in large reads. Two
   * buffers take turns, so each chunk is valid until the one after next is
   * asked for (the file store writes one chunk behind while the next
   * arrives). Throws PayloadCutShortError if the client stops sending early.
   */
  async *#payload(size: number): AsyncGenerator<Uint8Array> {
    let left = size;
    const turns = new TurnBuffers(Math.min(PAYLOAD_READ_BYTES, Math.max(size, 1)));
    while (left > 0) {
      if (this.#pendingRead !== null) {
        // A background read is in flight: let it land in the frame buffer first.
        if (!await this.#readInput()) throw new PayloadCutShortError(size - left, size);
      }
      const buffer = turns.next().subarray(0, Math.min(left, PAYLOAD_READ_BYTES));
      // Bytes already in the frame buffer are copied out: the frame may move them later.
      let n: number | null = this.#frame.takeInto(buffer);
      if (n === 0) n = await this.#readDirect(buffer);
      if (n === null) throw new PayloadCutShortError(size - left, size);
      left -= n;
      yield buffer.subarray(0, n);
    }
  }

  /**
   * One read straight into `target`, with the idle-timer and byte
   * accounting; null at end of input or when the connection is gone.
   */
  async #readDirect(target: Uint8Array, waiting = true): Promise<number | null> {
    this.#waitingForInput = waiting;
    this.#idleSince = Date.now();
    try {
      const n = await this.#conn.read(target);
      if (n === null) this.#inputEnded = true;
      else this.#options.stats.bytes_in += n;
      return n;
    } catch (error) {
      if (this.#state !== "closed" && !isDisconnect(error)) throw error;
      this.#inputEnded = true;
      this.#markGone();
      return null;
    } finally {
      this.#waitingForInput = false;
    }
  }

  /** A thrown ProtocolError is the reply; anything else is our bug: logged, `ERR internal`, connection lives. */
  #failure(error: unknown): LineReply {
    if (error instanceof ProtocolError) return errorReply(error);
    this.#options.logger.warn("command failed", { client: this.id, error: String(error) });
    return err("internal", "the server failed to process this request; it has been logged");
  }

  /** Raw echo (SPEC `--echo`): every byte back, exactly as received. */
  async #echo(): Promise<void> {
    let eof = this.#inputEnded;
    for (;;) {
      const bytes = this.#frame.take(Infinity);
      if (bytes !== null) {
        this.#out.bytes(bytes);
        await this.#out.flush();
      }
      if (eof || this.#stopping || this.#state === "closed") return;
      eof = !await this.#readInput();
    }
  }

  /**
   * Keeps reading while a long command runs, so that a reset connection is
   * noticed (and aborts the command's signal) instead of only when the reply
   * fails. Bytes that arrive are kept for the requests that follow.
   */
  async #watchWhileBusy(busy: Promise<unknown>): Promise<void> {
    let finished = false;
    busy.then(() => finished = true, () => finished = true);
    try {
      while (!finished && !this.#inputEnded && this.#frame.buffered < this.#queuedInputLimit) {
        if (await this.#readInput(true)) continue;
        // End of input: a half-close, or a close. A zero-length write tells
        // them apart once the peer's reset has arrived: it fails only on a
        // connection that is really gone. A client on Deno or tokio closes
        // with a FIN and then, a moment later, a reset, so the write is tried
        // a few times over about a second before the client counts as
        // half-closed; a half-closed client still gets its reply.
        const gone = await this.#resetFollows(busy, () => finished);
        if (gone) this.#markGone();
        const seen = gone ? "client gone during a command" : "client half-closed during a command";
        if (!finished) this.#options.logger.debug(seen, { client: this.id });
        return;
      }
    } catch {
      // The serve loop sees the same failure on its next read.
    }
  }

  /**
   * After end of input while a command runs: true if a reset arrives within
   * {@linkcode RESET_PROBES} zero-length writes (spaced 10, 20, 40 … ms, about
   * 1.3 s in all), false once the command is done or the probes are spent.
   */
  async #resetFollows(busy: Promise<unknown>, finished: () => boolean): Promise<boolean> {
    let gap = RESET_PROBE_FIRST_GAP_MS;
    for (let probe = 0; probe < RESET_PROBES && !finished(); probe++) {
      if (!await this.#writable()) return true;
      // Wait out the gap, or less if the command finishes (no timer is left behind).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, gap);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        busy.then(done, done);
      });
      gap *= 2;
    }
    return false;
  }

  /** False if the connection is broken (the peer reset it or went away). */
  async #writable(): Promise<boolean> {
    try {
      await this.#conn.write(new Uint8Array(0));
      return true;
    } catch {
      return false;
    }
  }

  async #readWhileQueued(leave: () => void): Promise<void> {
    try {
      while (this.#state === "queued") {
        if (this.#frame.buffered >= this.#queuedInputLimit) return;
        if (!await this.#readInput(true)) break;
      }
    } catch {
      // A reset while queued is a hang-up like any other.
      this.#inputEnded = true;
    }
    if (this.#state !== "queued") return;
    // EOF while waiting. With requests pending this may be a half-close
    // (`nc -N`), which still deserves its replies, so it keeps its place;
    // with nothing pending it is a hang-up and leaves the queue at once.
    if (this.#frame.buffered === 0) {
      leave();
      this.#state = "closed";
      this.#close();
      this.#options.logger.info("client left the queue", { client: this.id });
    }
  }

  /**
   * Reads once; false at end of input. A read started while queued may still
   * be in flight when the handler starts: the serve loop then joins that same
   * read instead of starting a second one on the socket.
   */
  #readInput(background = false): Promise<boolean> {
    if (this.#pendingRead === null) return this.#pendingRead = this.#readOnce(background);
    if (!background) {
      // The serve loop joins a background read: from now on we are idle, waiting for the client.
      this.#waitingForInput = true;
      this.#idleSince = Date.now();
    }
    return this.#pendingRead;
  }

  /**
   * A background read (while queued, or while a command runs) goes into a
   * scratch buffer and is copied in when it completes: the serve loop may
   * consume the frame buffer while such a read is in flight, and the frame
   * must only ever change synchronously.
   */
  async #readOnce(background: boolean): Promise<boolean> {
    const target = background ? new Uint8Array(MIN_READ_BYTES) : this.#frame.spare(MIN_READ_BYTES);
    let n: number | null;
    try {
      // A read during a command is not the client being idle; a read while queued or between requests is.
      n = await this.#readDirect(target, !background || this.#state === "queued");
    } finally {
      this.#pendingRead = null;
    }
    if (n === null) return false;
    if (background) this.#frame.push(target.subarray(0, n));
    else this.#frame.commit(n);
    return true;
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
   * The server's idle sweep (lib/server.ts), a few times per --idle-timeout:
   * closes a running client that has been silent that long (`ERR timeout`),
   * or that has not taken a reply for that long. One sweep for all clients
   * instead of a timer each: accepting a connection then sets no timer.
   */
  checkIdle(now: number): void {
    if (this.#state !== "running") return;
    const limit = this.#options.idleTimeoutMs;
    const writingSince = this.#out.writingSince;
    if (writingSince > 0 && now - writingSince >= limit) {
      // The client stopped reading its replies: nothing can be said to it.
      this.#options.stats.timeouts_total++;
      this.#options.logger.info("client stopped reading; closing", { client: this.id });
      return this.#close();
    }
    if (!this.#waitingForInput || now - this.#idleSince < limit) return;
    this.#options.stats.timeouts_total++;
    const seconds = limit / 1000;
    this.#options.logger.info("idle timeout", { client: this.id, idle_s: seconds });
    this.#sayAndClose(err("timeout", `no request for ${seconds} s; closing`));
  }

  /** The signal of {@linkcode #gone}, made on first use (already aborted if the client is gone). */
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
    if (this.#state !== "closed") this.#state = "closed";
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Errors that only mean the peer went away. */
function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.Interrupted;
}
