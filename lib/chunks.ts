/**
 * Overlapped streaming for file transfers (docs/performance.md: 1 GB/s with SHA-256).
 * Deno does file reads and writes on a thread pool, so while the event loop
 * hashes one chunk and moves it over the socket, the disk can already be
 * working on the next (read-ahead) or the previous one (write-behind).
 * Buffers take turns, so a chunk stays valid until the one after next is
 * requested, and the two compose.
 */
import { type ByteSink, type ByteSource, closeQuietly, CutShortError, writeAll } from "./io.ts";

/**
 * Size of each transfer chunk (file reads and socket writes of FILE GET,
 * the client's reads of a file it uploads). Smaller chunks let the other
 * connections in between: while 16 downloads of 256 MiB streamed, a
 * bystander's PING p99 was 4–5 ms with 64 KiB chunks, 12–15 ms with 128
 * KiB, 13–23 ms with 256 KiB and up to 60 ms with 1 MiB; reading in 256
 * KiB and writing in 64 KiB slices gave 12–13 ms. The price: GET did 533
 * MB/s with 64 KiB against 580–619 with larger chunks, and its server CPU
 * rose from 45 to 70 % (`deno task bench --only HASH` and `--only FILE
 * --file-mib 512`, run back to back on 2026-12-01). A server for many
 * clients takes the fairness.
 */
export const CHUNK_BYTES = 64 * 1024;

/**
 * Chunk size of a transfer that has nobody to be fair to: the client's own
 * upload, and the server's download while it is the only one. 1 MiB moves
 * a file in 16× fewer reads, writes and promises than {@linkcode CHUNK_BYTES}
 * (docs/performance.md#file: the measurement).
 */
export const SOLO_CHUNK_BYTES = 1024 * 1024;

/**
 * Buffers that take turns for streamed bytes (a DATA body, an upload, a
 * file read ahead): a buffer handed out is not handed out again until
 * `count - 1` others have been, so with two a chunk stays valid until the
 * one after next is asked for. Allocated on first use.
 */
export class TurnBuffers {
  readonly #buffers: Uint8Array[] = [];
  #turn = 0;

  constructor(readonly length: number, readonly count = 2) {}

  /** The next buffer in turn. */
  next(): Uint8Array {
    const buffer = this.#buffers[this.#turn] ??= new Uint8Array(this.length);
    this.#turn = (this.#turn + 1) % this.count;
    return buffer;
  }
}

/**
 * Yields exactly `size` bytes from `source`'s current position; the next
 * chunk is being read while the caller works on this one. Throws
 * CutShortError if the source ends early. Each chunk is valid until the one
 * after next is asked for. `chunkBytes` may be a function, asked before each
 * read: the size may change along the way (a download that is alone, then
 * is not).
 */
export async function* readAhead(
  source: ByteSource,
  size: number,
  chunkBytes: number | (() => number) = CHUNK_BYTES,
): AsyncGenerator<Uint8Array> {
  const chunkSize = () =>
    Math.min(typeof chunkBytes === "number" ? chunkBytes : chunkBytes(), Math.max(size, 1));
  // Three buffers: the one read ahead, the one yielded, and the one before
  // it, which a write-behind consumer may still be writing. Another size
  // takes three new ones: the old are never handed out again, so the
  // chunks in them stay valid.
  let turns = new TurnBuffers(chunkSize(), 3);
  let buffer = turns.next();
  let left = size;
  const nextBuffer = () => {
    const length = chunkSize();
    if (length !== turns.length) turns = new TurnBuffers(length, 3);
    return turns.next();
  };
  const start = (buffer: Uint8Array) => {
    const reading = source.read(buffer.subarray(0, Math.min(left, buffer.length)));
    reading.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    return reading;
  };
  let next = left > 0 ? start(buffer) : undefined;
  try {
    while (next !== undefined) {
      const n = await next;
      next = undefined;
      if (n === null) throw new CutShortError(size - left, size);
      const chunk = buffer.subarray(0, n);
      left -= n;
      buffer = nextBuffer();
      if (left > 0) next = start(buffer);
      yield chunk;
    }
  } finally {
    // Stopped early: let the read in flight land before the caller closes the source.
    await next?.catch(() => {});
  }
}

/**
 * How often a file being written is flushed to disk behind the writes: the
 * fdatasync at the end of a transfer then has at most this much left to
 * write, instead of the whole file. It was 100–200 ms of a 256–512 MiB
 * PUT or GET (0.5–1.3 s), spent with nothing else to do; with a flush every
 * 32 MiB the last one took 11–15 ms (docs/performance.md#file).
 */
export const SYNC_BEHIND_BYTES = 32 * 1024 * 1024;

/** Options of {@linkcode WriteBehind}. */
export interface WriteBehindOptions {
  /**
   * Flushes what was written so far to disk (a second descriptor's
   * `syncData`, see {@linkcode syncBehind}), started in the background
   * every `syncEvery` bytes, one at a time. Default: none.
   */
  sync?: (() => Promise<void>) | undefined;
  /** Bytes between two background syncs (default {@linkcode SYNC_BEHIND_BYTES}). */
  syncEvery?: number;
}

/**
 * Writes chunks in order without waiting for each: `write` returns once the
 * previous write is done and this one has started. The chunk must stay
 * valid until the next `write` returns (readAhead's and the payload's
 * turn-taking buffers guarantee that). `flush` waits for the last one, and
 * for the background sync in flight, if any, whose failure it throws.
 */
export class WriteBehind {
  readonly #sink: ByteSink;
  readonly #sync: (() => Promise<void>) | undefined;
  readonly #syncEvery: number;
  #pending: Promise<void> | undefined;
  #syncing: Promise<void> | undefined;
  /** Bytes written since the last background sync started. */
  #unsynced = 0;

  constructor(sink: ByteSink, options: WriteBehindOptions = {}) {
    this.#sink = sink;
    this.#sync = options.sync;
    this.#syncEvery = options.syncEvery ?? SYNC_BEHIND_BYTES;
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.#pending;
    const writing = writeAll(this.#sink, chunk);
    writing.catch(() => {}); // awaited by the next write or flush
    this.#pending = writing;
    this.#unsynced += chunk.length;
    if (this.#unsynced >= this.#syncEvery) this.#syncBehind();
  }

  async flush(): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    await pending;
    await this.#syncing;
  }

  /** Starts a background sync of what is written so far, unless one runs. */
  #syncBehind(): void {
    if (this.#sync === undefined || this.#syncing !== undefined) return;
    this.#unsynced = 0;
    const syncing: Promise<void> = this.#sync().then(() => {
      // Done: the next one may start. A failure stays, for flush to throw.
      if (this.#syncing === syncing) this.#syncing = undefined;
    });
    syncing.catch(() => {}); // thrown by flush
    this.#syncing = syncing;
  }
}

/** A background flush of one file to disk, for {@linkcode WriteBehindOptions.sync}. */
export interface SyncBehind extends Disposable {
  /** Undefined if the second descriptor could not be opened: the writes then go unflushed until the end. */
  sync: (() => Promise<void>) | undefined;
}

/**
 * Opens `path` (a file being written through another descriptor) a second
 * time, read-only, to flush it to disk from there: Deno runs one operation
 * at a time per descriptor, so a sync on the writing descriptor would hold
 * up the writes queued behind it. Nothing depends on it: the writer's own
 * `syncData` at the end is what makes the file durable.
 */
export async function syncBehind(path: string): Promise<SyncBehind> {
  const file = await Deno.open(path, { read: true }).catch(() => undefined);
  return {
    sync: file === undefined ? undefined : () => file.syncData(),
    [Symbol.dispose]: () => closeQuietly(file),
  };
}
