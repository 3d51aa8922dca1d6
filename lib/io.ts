/**
 * The byte-stream shapes everything here reads from and writes to (a
 * `Deno.Conn`, a `Deno.FsFile`, stdout, a test double), and the one
 * `writeAll` (with its synchronous twin): `write` may write less than asked,
 * so every caller that must send all of a buffer goes through it. And the
 * one `closeQuietly`, for closing what may already be closed.
 */

/** Minimal reader shape. */
export interface ByteSource {
  read(p: Uint8Array): Promise<number | null>;
}

/** Minimal writer shape. */
export interface ByteSink {
  write(p: Uint8Array): Promise<number>;
}

/** Writes all of `bytes`, continuing after short writes; throws if a write makes no progress. */
export async function writeAll(sink: ByteSink, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const n = await sink.write(off === 0 ? bytes : bytes.subarray(off));
    if (n <= 0) throw new Error(`write made no progress (${n} bytes)`);
    off += n;
  }
}

/** Minimal synchronous writer shape (`Deno.stdout`, `Deno.stderr`). */
export interface SyncByteSink {
  writeSync(p: Uint8Array): number;
}

/** {@linkcode writeAll} for a synchronous sink: output that must keep the order it was produced in. */
export function writeAllSync(sink: SyncByteSink, bytes: Uint8Array): void {
  for (let off = 0, n = 0; off < bytes.length; off += n) {
    n = sink.writeSync(off === 0 ? bytes : bytes.subarray(off));
    if (n <= 0) throw new Error(`write made no progress (${n} bytes)`);
  }
}

/** A stream ended before the size that was announced for it (an upload cut short, a file that shrank). */
export class CutShortError extends Error {
  override name = "CutShortError";
  constructor(readonly received: number, readonly expected: number) {
    super(`ended after ${received} of ${expected} bytes`);
  }
}

/**
 * Closes `closer` (a connection, a listener, a file), if there is one,
 * ignoring that it may already be closed: a peer's reset, a deadline or
 * the other side of a race may have closed it first, which is no error.
 */
export function closeQuietly(closer: { close(): void } | undefined): void {
  try {
    closer?.close();
  } catch {
    // Already closed.
  }
}
