/**
 * The hash job: it hashes exactly the version it is asked for, says
 * "changed" when the path holds anything else, and runs beside COUNT jobs
 * on the real worker module (lib/jobs/worker.ts).
 */
import { assertEquals, assertRejects } from "@std/assert";
import { runHashJob } from "../lib/jobs/hash_job.ts";
import type { Job, JobResult } from "../lib/jobs/worker.ts";
import { type FileIdentity, identityOf } from "../lib/stores/file_identity.ts";
import { JobFailedError, WorkerPool } from "../lib/jobs/pool.ts";
import { localWorkers } from "../lib/worker_thread.ts";
import { randomBytes, sha256 } from "./helpers.ts";

const WORKER = new URL("../lib/jobs/worker.ts", import.meta.url);

/** A scratch directory with `name` holding `bytes`; returns the path and the version's identity. */
async function scratchFile(bytes: Uint8Array) {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-hash-job-" });
  const path = `${dir}/file.bin`;
  await Deno.writeFile(path, bytes);
  const identity = identityOf(await Deno.lstat(path));
  return {
    dir,
    path,
    identity,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("a hash job hashes the version it was given", async () => {
  const bytes = randomBytes(3_000_000);
  await using file = await scratchFile(bytes);
  assertEquals(await runHashJob({ kind: "hash", path: file.path, identity: file.identity }), {
    kind: "hashed",
    sha256: sha256(bytes),
  });
});

Deno.test("a hash job says changed when the path holds another version, a link, or nothing", async () => {
  await using file = await scratchFile(randomBytes(1000));
  const job = (identity: FileIdentity = file.identity) => ({
    kind: "hash" as const,
    path: file.path,
    identity,
  });
  const changed = { kind: "changed" };

  // Written in place: same inode, another size.
  await Deno.writeFile(file.path, randomBytes(2000));
  assertEquals(await runHashJob(job()), changed, "written in place");

  // Replaced by rename, as PUT does: another inode.
  const now = identityOf(await Deno.lstat(file.path));
  await Deno.writeFile(`${file.dir}/next.bin`, randomBytes(2000));
  await Deno.rename(`${file.dir}/next.bin`, file.path);
  assertEquals(await runHashJob(job(now)), changed, "replaced by rename");

  // A symlink to the very version asked for is still not that file's path.
  const current = identityOf(await Deno.lstat(file.path));
  await Deno.rename(file.path, `${file.dir}/moved.bin`);
  await Deno.symlink(`${file.dir}/moved.bin`, file.path);
  assertEquals(await runHashJob(job(current)), changed, "a symlink swapped in");

  await Deno.remove(file.path);
  assertEquals(await runHashJob(job(current)), changed, "deleted");
});

Deno.test("hash and COUNT jobs share the worker pool; a job's errno crosses with its failure", async () => {
  const bytes = randomBytes(100_000);
  await using file = await scratchFile(bytes);
  const pool = new WorkerPool<Job, JobResult>({ size: 1, spawn: localWorkers(WORKER) });
  try {
    await pool.start();
    const cells = new Int32Array(new SharedArrayBuffer(8));
    const counted = pool.run({ kind: "count", cells, workMs: 0 });
    const hashed = pool.run({ kind: "hash", path: file.path, identity: file.identity });
    assertEquals(await counted, { kind: "counted", seen: 1 });
    assertEquals(await hashed, { kind: "hashed", sha256: sha256(bytes) });
    // A path under a regular file: lstat fails with ENOTDIR, which is no "changed".
    const error = await assertRejects(
      () => pool.run({ kind: "hash", path: `${file.path}/inside`, identity: file.identity }),
      JobFailedError,
    );
    assertEquals(error.code, "ENOTDIR");
    assertEquals(pool.stats().jobs_total, 3);
  } finally {
    pool.close();
  }
});
