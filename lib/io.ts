/**
 * The two byte-stream shapes everything here reads from and writes to (a
 * `Deno.Conn`, a `Deno.FsFile`, a test double), and the one `writeAll`:
 * `write` may write less than asked, so every caller that must send all of
 * a buffer goes through it.
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

/** A stream ended before the size that was announced for it (an upload cut short, a file that shrank). */
export class CutShortError extends Error {
  override name = "CutShortError";
  constructor(readonly received: number, readonly expected: number) {
    super(`ended after ${received} of ${expected} bytes`);
  }
}
