/**
 * The file service's storage: one directory (`--root`), names validated so no
 * request can leave it, uploads that are atomic, and reads that stream.
 *
 * - PUT writes to a hidden temporary file in the same directory, hashing the
 *   bytes as they flow, flushes it to disk, then renames it over the target:
 *   readers see the old file or the whole new one, never a part. An upload
 *   cut short removes its temporary file; the old version stays.
 * - GET opens the file first and checks the opened inode is the regular file
 *   `lstat` saw (no symlink, no swap in between); size and bytes then come
 *   from that one descriptor, and the sha256 is that of the descriptor's
 *   version (lib/stores/file_hashes.ts: cached, or computed once on a worker
 *   thread, which proves it hashed that version), so a GET racing an
 *   overwrite returns one whole version with its own size and sha256.
 * - Symlinks are never followed: GET and DEL say not-found, LIST skips them,
 *   and PUT's rename replaces the link itself.
 */
import { createHash } from "node:crypto";
import { CHUNK_BYTES, readAhead, SOLO_CHUNK_BYTES, SyncBehind, WriteBehind } from "../chunks.ts";
import { closeQuietly, CutShortError } from "../io.ts";
import type { HashCache } from "./file_hashes.ts";
import { identityOf } from "./file_identity.ts";
import { checkFileName } from "./file_names.ts";
import type { FileStorage, OpenedFile } from "./store.ts";

/** Temporary upload files start with this: hidden, so never listed nor addressable. */
const TEMP_PREFIX = ".upload-";
/** Tries to open a file whose path keeps changing under us before saying not-found. */
const OPEN_ATTEMPTS = 5;
/**
 * LIST listings built at once, so listings hold at most two worker
 * threads. A listing of 50,000 files of 190-byte names is 11 MB. 32 such
 * listings asked for at once grew the server's RSS by 1.2 GiB when each
 * was built on the serving thread, all at once; two at a time on the
 * workers, each FILE LIST with its own, by 418 MiB, mostly the workers'
 * heaps, which V8 keeps (the next 32 added 19 MiB). One at a time halved
 * that and took 1.7× as long. The FILE LISTs that wait share a build
 * (`#buildListings`): clients that ask and never read then hold a few
 * listings between them, not one each (62 such clients: 923 MiB before).
 */
const CONCURRENT_LISTINGS = 2;

/** No regular file by that name (the command replies `ERR not-found`). */
export class FileNotFoundError extends Error {
  override name = "FileNotFoundError";
  constructor(readonly fileName: string) {
    super(`no file ${fileName}`);
  }
}

/** PUT's name is a directory under the root, which an upload never replaces (`ERR bad-name`). */
export class NameIsDirectoryError extends Error {
  override name = "NameIsDirectoryError";
  constructor(readonly fileName: string) {
    super(`${fileName} is a directory on the server`);
  }
}

/** Options of {@linkcode FileStore}. */
export interface FileStoreOptions {
  /** The largest PUT, in bytes. */
  maxFileSize: number;
  /** Where GET's sha256 comes from: the cache PUT fills, and hashing off the serving thread. */
  hashes: HashCache;
  /** Builds LIST's lines for a directory off the serving thread (lib/jobs/list_job.ts). */
  list: (root: string) => Promise<Uint8Array>;
}

/** The files under one root directory: the embedded {@linkcode FileStorage}. */
export class FileStore implements FileStorage {
  readonly root: string;
  readonly maxFileSize: number;
  readonly #hashes: HashCache;
  /** FILE LISTs asked for and not yet given a build (see {@linkcode listing}). */
  readonly #waitingForListing: Array<
    { resolve: (bytes: Uint8Array) => void; reject: (error: unknown) => void }
  > = [];
  #listingsBuilding = 0;
  /** GETs streaming now: one alone reads in larger chunks (see {@linkcode #download}). */
  #downloads = 0;
  readonly #list: (root: string) => Promise<Uint8Array>;

  constructor(root: string, options: FileStoreOptions) {
    this.root = root.replace(/\/+$/, "") || "/";
    this.maxFileSize = options.maxFileSize;
    this.#hashes = options.hashes;
    this.#list = options.list;
  }

  /**
   * FILE LIST's lines for the regular files with valid names, sorted by
   * name (byte order), built off the serving thread by `list` (a list job on
   * the worker threads: lib/jobs/list_job.ts). At most
   * {@linkcode CONCURRENT_LISTINGS} are built at once; the FILE LISTs that
   * come meanwhile wait, and then share one build.
   */
  listing(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#waitingForListing.push({ resolve, reject });
      this.#buildListings();
    });
  }

  /**
   * Starts a build for everyone waiting, while fewer than
   * {@linkcode CONCURRENT_LISTINGS} run. Those who asked while both builds
   * ran share the next one: it starts after they asked, so it shows every
   * change they could have seen (a PUT answered before their FILE LIST),
   * and however many ask at once, they cost one build between them.
   */
  #buildListings(): void {
    while (this.#listingsBuilding < CONCURRENT_LISTINGS && this.#waitingForListing.length > 0) {
      const waiting = this.#waitingForListing.splice(0);
      this.#listingsBuilding++;
      this.#list(this.root)
        .then(
          (bytes) => waiting.forEach((asker) => asker.resolve(bytes)),
          (error) => waiting.forEach((asker) => asker.reject(error)),
        )
        .finally(() => {
          this.#listingsBuilding--;
          this.#buildListings();
        });
    }
  }

  /**
   * Stores `size` bytes from `source` as `name`, atomically. Returns the
   * sha256. Throws CutShortError if the source ends early, NameIsDirectoryError
   * if `name` is a directory; nothing is left behind then.
   */
  async put(name: string, size: number, source: AsyncIterable<Uint8Array>): Promise<string> {
    checkFileName(name);
    const temp = this.#path(`${TEMP_PREFIX}${crypto.randomUUID()}`);
    const file = await Deno.open(temp, { createNew: true, write: true, mode: 0o644 });
    using behind = new SyncBehind(temp);
    const hash = createHash("sha256");
    let written = 0;
    let open = true;
    let renamed = false;
    try {
      // Hash and receive the next chunk while the previous one goes to disk,
      // which flushes behind (lib/chunks.ts SYNC_BEHIND_BYTES).
      const disk = new WriteBehind(file, { sync: behind.sync });
      for await (const chunk of source) {
        hash.update(chunk);
        await disk.write(chunk);
        written += chunk.length;
      }
      await disk.flush();
      if (written !== size) {
        throw new CutShortError(written, size);
      }
      await file.syncData();
      // This upload's own version, taken from its descriptor before the
      // rename: once renamed, the name may already hold the file of another
      // PUT of the same name, and looking it up by name would file this hash
      // under that other version, which every later GET would then announce
      // (racing four PUTs of one name did so 232 times in 4,164).
      const identity = identityOf(await file.stat());
      file.close();
      open = false;
      // rename(2) replaces the directory entry: a symlink named `name` is replaced, never followed.
      await Deno.rename(temp, this.#path(name)).catch((error) => {
        if (
          error instanceof Deno.errors.IsADirectory || error instanceof Deno.errors.NotADirectory
        ) {
          throw new NameIsDirectoryError(name);
        }
        throw error;
      });
      renamed = true;
      const sha256 = hash.digest("hex");
      this.#hashes.remember(this.#path(name), identity, sha256);
      return sha256;
    } finally {
      // Whatever failed (the upload, the disk, the rename onto a directory),
      // the temporary file goes: a failed PUT leaves nothing behind.
      if (open) closeQuietly(file);
      if (!renamed) await Deno.remove(temp).catch(() => {});
    }
  }

  /**
   * Opens `name` for streaming; throws FileNotFoundError for a missing,
   * non-regular or symlinked file. An abort of `signal` (the client is
   * gone) stops waiting for the sha256, which others may still need.
   */
  async openForRead(name: string, options: { signal?: AbortSignal } = {}): Promise<OpenedFile> {
    checkFileName(name);
    const path = this.#path(name);
    const notFound = () => new FileNotFoundError(name);
    // open() follows symlinks, so check that the inode we opened is the
    // regular file lstat saw. A different inode means the path changed in
    // between: a link swapped in, or just an overwrite renamed into place;
    // look again, a few times, before giving up. The same when the worker
    // that hashes the file found another version at the path.
    // Only a path that is gone is "not found": running out of descriptors
    // (EMFILE) or permission is thrown as it is, for the command to answer
    // `ERR unavailable` (storage_errors.ts), not a false `ERR not-found`
    // that a client would act on (and did: it deleted the file).
    for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
      const seen = await Deno.lstat(path).catch(undefinedIfGone);
      if (!seen?.isFile) throw notFound();
      const file = await Deno.open(path, { read: true }).catch(undefinedIfGone);
      if (file === undefined) continue;
      try {
        const info = await file.stat();
        if (!info.isFile || (info.ino !== null && info.ino !== seen.ino)) {
          closeQuietly(file);
          continue;
        }
        const sha256 = await this.#hashes.sha256(path, identityOf(info), options);
        if (sha256 === undefined) {
          closeQuietly(file);
          continue;
        }
        return {
          size: info.size,
          sha256,
          chunks: () => this.#download(file, info.size),
          close: () => closeQuietly(file),
        };
      } catch (error) {
        closeQuietly(file);
        throw error;
      }
    }
    throw notFound();
  }

  /**
   * The chunks of one GET. A download alone reads (and so writes to its
   * socket) in {@linkcode SOLO_CHUNK_BYTES}; as soon as another one runs,
   * every download goes back to {@linkcode CHUNK_BYTES}, the size whose
   * fairness lib/chunks.ts measured.
   */
  async *#download(file: Deno.FsFile, size: number): AsyncGenerator<Uint8Array> {
    this.#downloads++;
    try {
      yield* readAhead(file, size, () => this.#downloads === 1 ? SOLO_CHUNK_BYTES : CHUNK_BYTES);
    } finally {
      this.#downloads--;
    }
  }

  /** Deletes `name`; throws FileNotFoundError if there is no such regular file. */
  async delete(name: string): Promise<void> {
    checkFileName(name);
    const info = await Deno.lstat(this.#path(name)).catch(() => undefined);
    if (!info?.isFile) throw new FileNotFoundError(name);
    await Deno.remove(this.#path(name)).catch((error) => {
      if (error instanceof Deno.errors.NotFound) throw new FileNotFoundError(name);
      throw error;
    });
  }

  /** Creates the root if missing and removes temporary files a crash left behind. */
  async prepare(): Promise<void> {
    await Deno.mkdir(this.root, { recursive: true });
    for await (const entry of Deno.readDir(this.root)) {
      if (entry.isFile && entry.name.startsWith(TEMP_PREFIX)) {
        await Deno.remove(this.#path(entry.name)).catch(() => {});
      }
    }
  }

  #path(name: string): string {
    return `${this.root}/${name}`;
  }
}

/** For `.catch`: undefined if the path does not exist (or a part of it is not a directory); otherwise rethrows. */
function undefinedIfGone(error: unknown): undefined {
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
    return undefined;
  }
  throw error;
}
