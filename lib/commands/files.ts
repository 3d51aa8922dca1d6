/** FILE: the file service (SPEC §4 FILE rows and "Details"): LIST, PUT, GET, DEL. */
import { checkFileName, UploadCutShortError } from "../file_store.ts";
import {
  dataLines,
  err,
  ok,
  ProtocolError,
  quoteWord,
  type Reply,
  type Request,
} from "../protocol.ts";
import { type Command, type CommandContext, expectArgs, truncate } from "./mod.ts";

type Subcommand = (args: string[], context: CommandContext) => Promise<Reply>;

/** Reads and drops `size` payload bytes, so the connection stays in step after a refusal. */
async function discard(context: CommandContext, size: number): Promise<void> {
  for await (const _chunk of context.payload(size)) { /* dropped */ }
}

const SUBCOMMANDS: ReadonlyMap<string, Subcommand> = new Map<string, Subcommand>([
  ["LIST", async (args, { server }) => {
    expectArgs(args, { min: 1 }, "FILE LIST takes no arguments");
    const entries = await server.files.list();
    return dataLines(entries.map((e) => `${e.size} ${e.modified.toISOString()} ${e.name}`));
  }],
  ["PUT", async (args, context) => {
    // After a bad size the payload's length is unknown: the stream cannot be
    // resynchronised, so these errors close the connection (SPEC "Details").
    if (args.length !== 3) {
      return err("bad-args", `FILE PUT takes <name> <size>, got ${args.length - 1} arguments`, {
        close: true,
      });
    }
    const [, name, sizeWord] = args as [string, string, string];
    const size = /^\d+$/.test(sizeWord) ? Number(sizeWord) : NaN;
    if (!Number.isSafeInteger(size)) {
      return err(
        "bad-args",
        `size must be a non-negative integer: received "${truncate(sizeWord)}"`,
        {
          close: true,
        },
      );
    }
    const files = context.server.files;
    if (size > files.maxFileSize) {
      return err(
        "too-large",
        `${size} bytes is over the limit of ${files.maxFileSize} (--max-file-size)`,
        {
          close: true,
        },
      );
    }
    try {
      checkFileName(name);
    } catch (error) {
      await discard(context, size);
      throw error;
    }
    try {
      const sha256 = await files.put(name, size, context.payload(size));
      context.server.logger.info("file stored", { client: context.session.id, name, size });
      return ok(`stored ${quoteWord(name)} ${size} ${sha256}`);
    } catch (error) {
      if (error instanceof UploadCutShortError) {
        return err("bad-request", error.message, { close: true });
      }
      throw error;
    }
  }],
  ["GET", async (args, { server }) => {
    expectArgs(args, { min: 2 }, "FILE GET takes <name>");
    const file = await server.files.openForRead(args[1]!);
    return {
      kind: "stream",
      size: file.size,
      sha256: file.sha256,
      chunks: file.chunks,
      done: file.close,
    };
  }],
  ["DEL", async (args, { server }) => {
    expectArgs(args, { min: 2 }, "FILE DEL takes <name>");
    await server.files.delete(args[1]!);
    return ok(`deleted ${quoteWord(args[1]!)}`);
  }],
]);

/** `FILE LIST|PUT|GET|DEL …`. */
export const FILE: Command = {
  name: "FILE",
  usage: [
    "FILE LIST",
    "FILE PUT <name> <size>  + <size> bytes",
    "FILE GET <name>",
    "FILE DEL <name>",
  ],
  summary: "the file service under --root: PUT is atomic and verified, GET streams with its sha256",
  async run(request: Request, context) {
    const args = request.args();
    const name = args[0]?.toUpperCase();
    const sub = name === undefined ? undefined : SUBCOMMANDS.get(name);
    if (sub === undefined) {
      const got = name === undefined ? "nothing" : `"${truncate(args[0]!)}"`;
      throw new ProtocolError("bad-args", `FILE takes LIST, PUT, GET or DEL, got ${got}`);
    }
    return await sub(args, context);
  },
};
