/**
 * The list job (docs/protocol.md#limits-and-bad-input: CPU work never runs on the thread that serves
 * connections): a worker thread reads `--root`, keeps the regular files
 * with valid names, sorts them by UTF-8 bytes and writes FILE LIST's lines,
 * so the serving thread only sends bytes. For 50,000 files, done on the
 * serving thread, the sort alone took 70 ms and the lines 150 ms, while
 * every other client waited. The file system calls here are synchronous:
 * they block this worker only, and 50,000 `lstat`s take 0.25 s this way
 * against 6.7 s one at a time through Deno's async ops.
 */
import { DataLinesBuilder } from "../protocol/reply.ts";
import { isValidName, sortByUtf8 } from "../stores/file_names.ts";

/**
 * What a list job counts against the worker pool's pending-work budget:
 * nothing, as a hash job (hash_job.ts says why). Listings are bounded by
 * the file store instead: at most two are built at once (file_store.ts).
 */
export const LIST_JOB_COST = 0;

/** List the directory `root`. */
export interface ListJob {
  kind: "list";
  root: string;
}

/** FILE LIST's lines (`<size> <modified> <name>`, each ending in LF) and how many there are. */
export interface ListResult {
  kind: "listed";
  lines: Uint8Array;
  files: number;
}

/** Runs a list job (on a worker thread: lib/jobs/worker.ts); I/O errors on `root` are thrown. */
export function runListJob(job: ListJob): ListResult {
  const names: string[] = [];
  // readDir does not follow links: isFile is false for a symlink.
  for (const entry of Deno.readDirSync(job.root)) {
    if (entry.isFile && isValidName(entry.name)) names.push(entry.name);
  }
  sortByUtf8(names);
  const lines = new DataLinesBuilder();
  let files = 0;
  for (const name of names) {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(`${job.root}/${name}`);
    } catch {
      continue; // deleted since the readDir: not listed
    }
    if (!info.isFile) continue;
    const modified = (info.mtime ?? new Date(0)).toISOString();
    lines.line(`${info.size} ${modified} ${name}`);
    files++;
  }
  return { kind: "listed", lines: lines.bytes(), files };
}
