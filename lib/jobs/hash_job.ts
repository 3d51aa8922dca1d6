/**
 * The hash job (docs/protocol.md#limits-and-bad-input: hashing a file for GET never runs on the thread
 * that serves connections): a worker thread opens the file by path, checks
 * it is still the version the GET opened, hashes it, and checks again.
 *
 * A worker cannot use the GET's descriptor (descriptors do not cross
 * threads in Deno), so it opens the path itself and compares identities
 * (lib/stores/file_identity.ts). A different identity before or after the
 * read means the path changed in between (an overwrite renamed into place,
 * a delete, a symlink swapped in, a write in place); the job answers
 * "changed" and the GET looks again, as it does when the path changes
 * between its own lstat and open. So the sha256 a GET announces is always
 * that of the bytes its descriptor will send.
 */
import { createHash } from "node:crypto";
import { readAhead, SOLO_CHUNK_BYTES } from "../chunks.ts";
import { CutShortError } from "../io.ts";
import { type FileIdentity, identityOf, sameIdentity } from "../stores/file_identity.ts";

/**
 * What a hash job counts against the worker pool's pending-work budget:
 * nothing. That budget bounds the COUNT work clients can queue and walk
 * away from (docs/protocol.md#commands counts it in COUNT milliseconds); a GET must never be
 * refused because COUNTs filled it. Hash jobs are bounded another way: one
 * per file version in flight however many GETs wait for it
 * (lib/stores/file_hashes.ts), each waited for by a GET that holds a
 * running slot, so at most about --max-running are queued; and none is
 * wasted, since its result is cached. Nor can GETs starve COUNTs: each
 * hash is a request of one job, and the pool's round-robin gives a COUNT a
 * turn after at most one job of every other request.
 */
export const HASH_JOB_COST = 0;

/** Hash the file at `path` if it is still the version `identity`. */
export interface HashJob {
  kind: "hash";
  path: string;
  identity: FileIdentity;
}

/** The sha256 (lowercase hex) of that version, or "changed": the path holds another one now. */
export type HashResult = { kind: "hashed"; sha256: string } | { kind: "changed" };

const CHANGED: HashResult = { kind: "changed" };

/** Runs a hash job (on a worker thread: lib/jobs/worker.ts). Other I/O errors are thrown. */
export async function runHashJob(job: HashJob): Promise<HashResult> {
  // lstat first, as the GET did: never follow a symlink, never open a
  // device or a FIFO that was not the version asked for.
  const seen = await Deno.lstat(job.path).catch(changedIfGone);
  if (seen === undefined || !seen.isFile || !sameIdentity(identityOf(seen), job.identity)) {
    return CHANGED;
  }
  const file = await Deno.open(job.path, { read: true }).catch(changedIfGone);
  if (file === undefined) return CHANGED;
  try {
    // open() follows a symlink swapped in since the lstat: the descriptor's
    // own identity is what counts.
    if (!isVersion(await file.stat(), job.identity)) return CHANGED;
    const hash = createHash("sha256");
    // A worker thread has no connections to be fair to: the large chunks.
    for await (const chunk of readAhead(file, job.identity.size, SOLO_CHUNK_BYTES)) {
      hash.update(chunk);
    }
    // Written in place while we read: the bytes hashed may be a mix.
    if (!isVersion(await file.stat(), job.identity)) return CHANGED;
    return { kind: "hashed", sha256: hash.digest("hex") };
  } catch (error) {
    if (error instanceof CutShortError) return CHANGED; // truncated in place while we read
    throw error;
  } finally {
    file.close();
  }
}

function isVersion(info: Deno.FileInfo, identity: FileIdentity): boolean {
  return info.isFile && sameIdentity(identityOf(info), identity);
}

/** A file deleted under us is a changed path; any other error is the job's failure. */
function changedIfGone(error: unknown): undefined {
  if (error instanceof Deno.errors.NotFound) return undefined;
  throw error;
}
