/**
 * FILE: the file service (docs/protocol.md#commands FILE rows and "Details"): LIST, PUT, GET,
 * DEL. The store (lib/stores/file_store.ts) throws its own errors; this file
 * turns them into replies.
 */
import { CutShortError } from "../io.ts";
import { data, keyword, ok, ProtocolError, quoteWord, type Reply } from "../protocol/mod.ts";
import { FileNotFoundError, NameIsDirectoryError } from "../stores/file_store.ts";
import { BadFileNameError, checkFileName } from "../stores/file_names.ts";
import { type CommandContext, expectArgs, truncate } from "./command.ts";
import type { Command } from "./command.ts";
import { declared } from "./catalog.ts";
import { quoted } from "../server/log.ts";

type Subcommand = (args: string[], context: CommandContext) => Promise<Reply>;

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ["LIST", async (args, { services }) => {
    expectArgs(args, { min: 1 }, "FILE LIST takes no arguments");
    // The lines are built on a worker thread (lib/jobs/list_job.ts).
    return data(await services.files.listing());
  }],
  ["PUT", async (args, context) => {
    const files = context.services.files;
    const { name, size } = putHeader(args, files.maxFileSize);
    // From here on the payload is announced: whatever the store does not
    // read (a bad name, a failed write) the handler reads and drops before
    // the next request, so the connection stays in step.
    const payload = context.payload(size);
    checkFileName(name);
    try {
      const sha256 = await files.put(name, size, payload);
      context.services.logger.info("file stored", {
        client: context.session.id,
        name: quoted(name),
        size,
      });
      return ok(`stored ${quoteWord(name)} ${size} ${sha256}`);
    } catch (error) {
      if (error instanceof CutShortError) {
        // The client went away mid-upload: nothing was stored, nobody is left to read a reply.
        throw new ProtocolError("bad-request", `upload ${error.message}`, true);
      }
      if (error instanceof NameIsDirectoryError) {
        throw new ProtocolError("bad-name", `${quoteWord(name)} is a directory on the server`);
      }
      throw error;
    }
  }],
  ["GET", async (args, { services, signal }) => {
    expectArgs(args, { min: 2 }, "FILE GET takes <name>");
    let file;
    try {
      // The sha256 may take a hash on a worker thread: a client gone meanwhile stops waiting.
      file = await services.files.openForRead(args[1]!, { signal });
    } catch (error) {
      if (signal.aborted && error === signal.reason) {
        // As a cut upload: the client's own loss, nobody is left to read a reply.
        throw new ProtocolError("bad-request", "FILE GET stopped: the connection is gone", true);
      }
      throw error;
    }
    return {
      kind: "stream",
      size: file.size,
      sha256: file.sha256,
      chunks: file.chunks,
      done: file.close,
    };
  }],
  ["DEL", async (args, { services }) => {
    expectArgs(args, { min: 2 }, "FILE DEL takes <name>");
    await services.files.delete(args[1]!);
    return ok(`deleted ${quoteWord(args[1]!)}`);
  }],
]);

/**
 * The name and size of `FILE PUT <name> <size>`; a bad header throws the
 * ProtocolError that closes the connection: after a bad size the payload's
 * length is unknown, so the stream cannot be resynchronised
 * (docs/protocol.md#file-put). The name is checked later, once the payload
 * is announced, because a bad one only costs the payload, not the connection.
 */
function putHeader(
  args: readonly string[],
  maxFileSize: number,
): { name: string; size: number } {
  if (args.length !== 3) {
    throw new ProtocolError(
      "bad-args",
      `FILE PUT takes <name> <size>, got ${args.length - 1} arguments`,
      true,
    );
  }
  const [, name, sizeWord] = args as [string, string, string];
  const size = /^\d+$/.test(sizeWord) ? Number(sizeWord) : NaN;
  if (!Number.isSafeInteger(size)) {
    throw new ProtocolError(
      "bad-args",
      `size must be a non-negative integer: received "${truncate(sizeWord)}"`,
      true,
    );
  }
  if (size > maxFileSize) {
    throw new ProtocolError(
      "too-large",
      `${size} bytes is over the limit of ${maxFileSize} (--max-file-size)`,
      true,
    );
  }
  return { name, size };
}

/** `FILE LIST|PUT|GET|DEL …`. */
export const FILE: Command = {
  ...declared("FILE"),
  usage: [
    "FILE LIST",
    "FILE PUT <name> <size>  + <size> bytes",
    "FILE GET <name>",
    "FILE DEL <name>",
  ],
  summary: "the file service under --root: PUT is atomic and verified, GET streams with its sha256",
  readsPayload: true,
  payloadSize(request, { services }) {
    const args = request.args();
    // A bad header throws, as `run` would: the refusal then closes the connection.
    return keyword(args[0] ?? "") === "PUT" ? putHeader(args, services.files.maxFileSize).size : 0;
  },
  async run(request, context) {
    const args = request.args();
    const name = args[0] === undefined ? undefined : keyword(args[0]);
    const sub = name === undefined ? undefined : SUBCOMMANDS.get(name);
    if (sub === undefined) {
      const got = name === undefined ? "nothing" : `"${truncate(args[0]!)}"`;
      throw new ProtocolError("bad-args", `FILE takes LIST, PUT, GET or DEL, got ${got}`);
    }
    try {
      return await sub(args, context);
    } catch (error) {
      if (error instanceof BadFileNameError) throw new ProtocolError("bad-name", error.message);
      if (error instanceof FileNotFoundError) throw new ProtocolError("not-found", error.message);
      throw error;
    }
  },
};
