/**
 * Which version of a file a look at it saw: its inode (device and number),
 * size and modification time. A PUT renames a new inode into place and a
 * write in place moves the mtime, so two looks with the same identity saw
 * the same bytes. It keys the hash cache and lets a hash job on a worker
 * thread, which opens the file by path, prove it hashed the version the
 * GET's descriptor holds. A plain object of numbers: it crosses to a worker
 * by structured clone.
 */

/** A file version, as `stat` saw it. */
export interface FileIdentity {
  dev: number;
  /** Null where the platform gives no inode number. */
  ino: number | null;
  size: number;
  /** Milliseconds since the epoch; null where the platform gives none. */
  mtimeMs: number | null;
}

/** The identity of what `info` describes. */
export function identityOf(info: Deno.FileInfo): FileIdentity {
  return { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtime?.getTime() ?? null };
}

/** True when both looks saw the same version. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** The identity as a map key. */
export function identityKey(identity: FileIdentity): string {
  return `${identity.dev}:${identity.ino}:${identity.size}:${identity.mtimeMs}`;
}
