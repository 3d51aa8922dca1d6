/**
 * One thread of `switchboard-client bench` (lib/bench/run.ts): it drives its
 * share of the connections and posts back what it measured. Like
 * the COUNT workers, the thread runs the client's own entry file, which
 * calls {@linkcode serveBenchTask}, so client.ts (or its bundle) can re-enter itself.
 *
 * Each persistent connection keeps `pipeline` requests in flight: it sends
 * them in one write, and for every batch of replies that one read brings it
 * sends as many new requests, again in one write. Replies are counted by
 * their line feeds and checked against `expect` byte by byte, without
 * decoding a string per reply, so the generator costs as little CPU per
 * request as it can.
 */
import { Histogram } from "./histogram.ts";
import { inWorkerThread } from "../worker_thread.ts";
import { writeAll } from "../io.ts";

/** What one thread is asked to do. */
export interface BenchTask {
  host: string;
  port: number;
  /** Connections this thread drives. */
  connections: number;
  /** The request line, with its line feed. */
  request: string;
  /** The expected reply line without its line feed; empty: any line. */
  expect: string;
  pipeline: number;
  /** One request per connection: connect, send, read the reply, close. */
  churn: boolean;
  /** Requests this thread sends in all (count mode), or undefined in duration mode. */
  requests: number | undefined;
  /** Epoch ms when the load starts (all threads together). */
  startAt: number;
  /** Epoch ms when replies start to count (after the warmup). */
  windowStart: number;
  /** Epoch ms when the run ends (duration mode) or when it gives up (count mode). */
  windowEnd: number;
  /** Connect with TLS, trusting `caCerts` (PEM; the system roots when empty). */
  tls: { caCerts: string[] } | undefined;
}

/** What one thread measured. */
export interface BenchPart {
  /** Replies that arrived inside the window. */
  counted: number;
  errors: number;
  /** The first few error messages, for the report. */
  errorSamples: string[];
  /** Requests still in flight when the run ended. */
  outstanding: number;
  /** Connections made (churn mode: one per request). */
  connects: number;
  /** Slots whose first connection got a reply. */
  replied: number;
  latency: Float64Array;
  firstReply: Float64Array;
  /** Epoch ms of the last counted reply (count mode measures up to it). */
  lastReplyAt: number;
}

const NEWLINE = 10;
const CR = 13;
const READ_BYTES = 64 * 1024;
/** After an error, a slot waits this long before reconnecting, so a dead server is not a busy loop. */
const ERROR_BACKOFF_MS = 10;

/** Runs one thread's share; resolves with its measurements. */
export async function runBenchTask(task: BenchTask): Promise<BenchPart> {
  const encoder = new TextEncoder();
  const line = encoder.encode(task.request);
  const expect = encoder.encode(task.expect);
  const clock = epochClock();
  const windowStart = clock.fromEpoch(task.windowStart);
  const windowEnd = clock.fromEpoch(task.windowEnd);
  const latency = new Histogram();
  const firstReply = new Histogram();
  const part: BenchPart = {
    counted: 0,
    errors: 0,
    errorSamples: [],
    outstanding: 0,
    connects: 0,
    replied: 0,
    latency: latency.counts,
    firstReply: firstReply.counts,
    lastReplyAt: 0,
  };
  const open = new Set<Deno.Conn>();
  let done = false;
  let budget = task.requests ?? Infinity;
  let lastReply = 0;
  const fail = (error: unknown) => {
    if (done) return;
    part.errors++;
    if (part.errorSamples.length < 5) part.errorSamples.push(String(error));
  };
  const stopTimer = setTimeout(() => {
    done = true;
    for (const conn of open) conn.close();
    open.clear();
  }, Math.max(0, windowEnd - performance.now()));
  const take = (n: number) => {
    const granted = Math.min(n, budget);
    budget -= granted;
    return granted;
  };

  const connect = async (): Promise<Deno.Conn> => {
    let conn: Deno.Conn;
    if (task.tls === undefined) {
      const tcp = await Deno.connect({ hostname: task.host, port: task.port });
      tcp.setNoDelay(true);
      conn = tcp;
    } else {
      const tls = await Deno.connectTls({
        hostname: task.host,
        port: task.port,
        caCerts: task.tls.caCerts,
      });
      await tls.handshake();
      conn = tls;
    }
    part.connects++;
    open.add(conn);
    return conn;
  };

  /** Reads replies, matching them to send times; returns when the slot is done. */
  const persistent = async () => {
    let first = true;
    const batch = new Uint8Array(line.length * task.pipeline);
    for (let i = 0; i < task.pipeline; i++) batch.set(line, i * line.length);
    const buffer = new Uint8Array(READ_BYTES);
    const sent = new Float64Array(task.pipeline);
    while (!done && budget > 0) {
      let conn: Deno.Conn | undefined;
      let inFlight = 0;
      let head = 0;
      let matched = 0;
      let mismatch = false;
      const connectStart = performance.now();
      try {
        conn = await connect();
        const send = async (count: number) => {
          const now = performance.now();
          for (let i = 0; i < count; i++) {
            sent[(head + inFlight + i) % task.pipeline] = now;
          }
          inFlight += count;
          await writeAll(conn!, batch.subarray(0, count * line.length));
        };
        await send(take(task.pipeline));
        while (inFlight > 0) {
          const n = await conn.read(buffer);
          if (n === null) throw new Error("the server closed the connection");
          const now = performance.now();
          let replies = 0;
          for (let i = 0; i < n; i++) {
            const byte = buffer[i]!;
            if (byte !== NEWLINE) {
              if (
                expect.length > 0 && expect[matched] !== byte &&
                !(byte === CR && matched === expect.length)
              ) mismatch = true;
              matched++;
              continue;
            }
            if (expect.length > 0 && (mismatch || matched < expect.length)) {
              throw new Error(`unexpected reply (expected "${task.expect}")`);
            }
            mismatch = false;
            matched = 0;
            replies++;
            const sentAt = sent[head]!;
            head = (head + 1) % task.pipeline;
            inFlight--;
            if (first) {
              first = false;
              part.replied++;
              firstReply.record((now - connectStart) * 1e6);
            }
            if (now >= windowStart && now < windowEnd) {
              latency.record((now - sentAt) * 1e6);
              part.counted++;
              lastReply = now;
            }
          }
          if (replies > 0 && !done) {
            const more = take(replies);
            if (more > 0) await send(more);
          }
        }
        if (budget <= 0) break;
      } catch (error) {
        part.outstanding += done ? inFlight : 0;
        if (done) break;
        fail(error);
        await new Promise((resolve) => setTimeout(resolve, ERROR_BACKOFF_MS));
      } finally {
        if (conn && open.delete(conn)) conn.close();
      }
    }
  };

  /** Churn: every request on a new connection; latency runs from connect() to the reply. */
  const churn = async () => {
    let first = true;
    const buffer = new Uint8Array(READ_BYTES);
    while (!done && take(1) > 0) {
      let conn: Deno.Conn | undefined;
      const start = performance.now();
      try {
        conn = await connect();
        await writeAll(conn, line);
        let got = 0;
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) throw new Error("the server closed the connection before replying");
          got += n;
          if (buffer.subarray(0, n).includes(NEWLINE)) break;
          if (got > READ_BYTES * 16) throw new Error("reply line too long");
        }
        const now = performance.now();
        if (first) {
          first = false;
          part.replied++;
          firstReply.record((now - start) * 1e6);
        }
        if (now >= windowStart && now < windowEnd) {
          latency.record((now - start) * 1e6);
          part.counted++;
          lastReply = now;
        }
      } catch (error) {
        if (done) break;
        fail(error);
        await new Promise((resolve) => setTimeout(resolve, ERROR_BACKOFF_MS));
      } finally {
        if (conn && open.delete(conn)) conn.close();
      }
    }
  };

  // Every thread starts at the same moment, after all of them have loaded.
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, clock.fromEpoch(task.startAt) - performance.now()))
  );
  const slots = Array.from({ length: task.connections }, () => task.churn ? churn() : persistent());
  await Promise.all(slots);
  done = true;
  clearTimeout(stopTimer);
  for (const conn of open) conn.close();
  part.lastReplyAt = lastReply === 0 ? 0 : clock.toEpoch(lastReply);
  return part;
}

/**
 * Converts between epoch ms (shared by all threads) and this thread's
 * performance.now() (each worker has its own time origin).
 */
function epochClock() {
  const offset = Date.now() - performance.now();
  return {
    fromEpoch: (epochMs: number) => epochMs - offset,
    toEpoch: (now: number) => now + offset,
  };
}

/** Answers the one task posted to this worker thread (client.ts calls it when it is one). */
export function serveBenchTask(): void {
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent<BenchTask>) => void) | null;
    postMessage(message: { ok: true; part: BenchPart } | { ok: false; error: string }): void;
  };
  scope.onmessage = async (event) => {
    try {
      scope.postMessage({ ok: true, part: await runBenchTask(event.data) });
    } catch (error) {
      scope.postMessage({ ok: false, error: String(error) });
    }
  };
}

if (import.meta.main && inWorkerThread()) serveBenchTask();
