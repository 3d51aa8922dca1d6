/** HELP: the command list, generated from the command table itself. */
import { dataLines, keyword } from "../protocol/mod.ts";
import { type Command, expectArgs } from "./command.ts";
import { declared } from "./catalog.ts";

/** The part of the command table HELP reads. */
export interface CommandList {
  readonly all: readonly Command[];
  /** The command named `name` (upper-case); throws `ERR unknown-command` quoting `spelled`. */
  get(name: string, spelled?: string): Command;
}

/** Builds HELP over `commands` (the table HELP is itself part of). */
export function helpCommand(commands: CommandList): Command {
  return {
    ...declared("HELP"),
    usage: ["HELP [command]"],
    summary: "lists the commands, or the syntax of one",
    run(request) {
      const args = request.args();
      expectArgs(args, { min: 0, max: 1 }, "HELP takes [command]");
      if (args.length === 0) return dataLines(commands.all.flatMap(describe));
      return dataLines(describe(commands.get(keyword(args[0]!), args[0]!)));
    },
  };
}

function describe(command: Command): string[] {
  const width = 44;
  return command.usage.map((usage, i) =>
    i === 0 ? `${usage.padEnd(width)} ${command.summary}` : usage
  );
}
