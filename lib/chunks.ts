/**
 * Overlapped streaming for file transfers (docs/performance.md#file-where-the-time-goes).
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
 * upload, the server's download while it is the only one, and a hash on a
 * worker thread. 1 MiB moves a file in 16× fewer reads, writes and promises
 * than {@linkcode CHUNK_BYTES}: the client's CPU for a PUT went from 1.64 to
 * 1.40 s per GiB, the server's for a lone GET from 0.92–0.96 to 0.68–0.74 s
 * (docs/performance.md#file-where-the-time-goes).
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
 * How often a write-behind with a `sync` flushes to disk behind the writes
 * (see {@linkcode WriteBehindOptions.sync}). The disk then works while the
 * bytes after arrive and are hashed, and the caller's last fdatasync has
 * at most this much left: 1 GiB received, hashed and written on one pinned
 * core took 1.39–1.54 s with one fdatasync at the end, 1.19–1.35 s
 * flushing every 16 MiB and 1.20–1.33 s every 64 MiB, for 0.03–0.06 s more
 * CPU (4 interleaved runs each, 2026-12-06, docs/performance.md#file-where-the-time-goes).
 */
export const SYNC_BEHIND_BYTES = 32 * 1024 * 1024;

/** Options of {@linkcode WriteBehind}. */
export interface WriteBehindOptions {
  /**
   * Flushes what was written so far to disk (an fdatasync, from a second
   * descriptor of the same file so that it does not hold up the writes).
   * Started in the background each {@linkcode syncEveryBytes} bytes
   * written, one at a time; a failure surfaces at the next `write` or at
   * `flush`. Default: none, the caller syncs at the end.
   */
  sync?: () => Promise<void>;
  /** Bytes written between two background syncs (default {@linkcode SYNC_BEHIND_BYTES}). */
  syncEveryBytes?: number;
}

/**
 * The `sync` of a {@linkcode WriteBehind} into the file at `path`: an
 * fdatasync from a descriptor of its own, opened on the first sync, so that
 * it runs beside the writes (on the writing descriptor, Deno queues it
 * with them, and 1 GiB took as long as without it). Where no descriptor is
 * to spare (the server's budget counts one file per running connection:
 * lib/server/admission/descriptors.ts), it does nothing, and the caller's
 * last fdatasync does it all, as it would without.
 */
export class SyncBehind implements Disposable {
  readonly #path: string;
  #file: Deno.FsFile | undefined;
  #unavailable = false;
  #closed = false;

  constructor(path: string) {
    this.#path = path;
  }

  /** Flushes the file's written bytes to disk; rejects if the disk reports an error. */
  readonly sync = async (): Promise<void> => {
    if (this.#file === undefined && !this.#unavailable && !this.#closed) {
      try {
        const file = await Deno.open(this.#path, { read: true });
        if (this.#closed) file.close();
        else this.#file = file;
      } catch {
        this.#unavailable = true;
      }
    }
    await this.#file?.syncData();
  };

  [Symbol.dispose](): void {
    this.#closed = true;
    closeQuietly(this.#file);
    this.#file = undefined;
  }
}

/**
 * Writes chunks in order without waiting for each: `write` returns once the
 * previous write is done and this one has started. The chunk must stay
 * valid until the next `write` returns (readAhead's and the payload's
 * turn-taking buffers guarantee that). `flush` waits for the last one, and
 * for a background sync in flight.
 */
export class WriteBehind {
  readonly #sink: ByteSink;
  readonly #sync: (() => Promise<void>) | undefined;
  readonly #syncEveryBytes: number;
  #pending: Promise<void> | undefined;
  /** Bytes of the write in flight; they count as written once it is done. */
  #pendingBytes = 0;
  /** Bytes written (landed) since the last background sync started. */
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  #syncFailure: { error: unknown } | undefined;

  constructor(sink: ByteSink, options: WriteBehindOptions = {}) {
    this.#sink = sink;
    this.#sync = options.sync;
    this.#syncEveryBytes = options.syncEveryBytes ?? SYNC_BEHIND_BYTES;
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.#landed();
    const writing = writeAll(this.#sink, chunk);
    writing.catch(() => {}); // awaited by the next write or flush
    this.#pending = writing;
    this.#pendingBytes = chunk.length;
  }

  async flush(): Promise<void> {
    await this.#landed();
    const syncing = this.#syncing;
    this.#syncing = undefined;
    await syncing;
    this.#throwIfSyncFailed();
  }

  /** Waits for the write in flight; starts a background sync when enough has landed since the last. */
  async #landed(): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    await pending;
    this.#unsynced += this.#pendingBytes;
    this.#pendingBytes = 0;
    this.#throwIfSyncFailed();
    if (
      this.#sync !== undefined && this.#syncing === undefined &&
      this.#unsynced >= this.#syncEveryBytes
    ) {
      this.#unsynced = 0;
      const syncing = this.#sync().catch((error) => {
        this.#syncFailure ??= { error };
      }).finally(() => {
        if (this.#syncing === syncing) this.#syncing = undefined;
      });
      this.#syncing = syncing;
    }
  }

  #throwIfSyncFailed(): void {
    if (this.#syncFailure !== undefined) throw this.#syncFailure.error;
  }
}
