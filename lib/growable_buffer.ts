/**
 * Buffers that give their memory back (docs/server.md#what-a-client-cannot-do-to-the-server):
 * an ArrayBuffer made resizable reserves an address range and maps pages as
 * it grows; shrinking or collecting it unmaps them. A plain ArrayBuffer comes
 * from the C allocator instead, which keeps freed memory for itself: after
 * 10,000 clients left that had each held 60 KB of an unfinished line, the
 * server stayed at 875 MiB (from 114); a program that freed and collected
 * 10,000 plain 64 KiB buffers stayed at 671 MiB until glibc's malloc_trim
 * brought it to 48. With these, the server is back to 117 MiB 20 s after
 * (scripts/memory_probe.ts lines). Buffers that grow past their first size,
 * for a long line, a large reply or a listing, are made here.
 */

/**
 * An ArrayBuffer of `size` bytes that can grow in place up to `reserve`, or a
 * plain one when `size` is past `reserve` or the range cannot be reserved.
 */
export function growable(size: number, reserve: number): ArrayBuffer {
  if (size > reserve) return new ArrayBuffer(size);
  try {
    return new ArrayBuffer(size, { maxByteLength: reserve });
  } catch {
    return new ArrayBuffer(size); // out of address space: the caller grows by copying
  }
}

/**
 * Gives a growable buffer's pages back to the system now rather than when
 * the collector gets to it; a plain buffer is left alone. Only for a buffer
 * that no read or write in flight can still touch: its views become empty.
 */
export function decommit(buffer: Uint8Array): void {
  const backing = buffer.buffer;
  if (backing instanceof ArrayBuffer && backing.resizable) backing.resize(0);
}
