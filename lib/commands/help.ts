/** HELP: the command list, generated from the command table itself. */
import { dataLines, err } from "../protocol.ts";
import { type Command, expectArgs, truncate } from "./mod.ts";

/** Builds HELP over `commands` (a function, because HELP is itself in the list). */
export function helpCommand(commands: () => readonly Command[]): Command {
  return {
    name: "HELP",
    usage: ["HELP [command]"],
    summary: "lists the commands, or the syntax of one",
    run(request) {
      const args = request.args();
      expectArgs(args, { min: 0, max: 1 }, "HELP takes [command]");
      const all = commands();
      if (args.length === 0) return dataLines(all.flatMap(describe));
      const name = args[0]!.toUpperCase();
      const command = all.find((c) => c.name === name || c.aliases?.includes(name));
      if (command === undefined) {
        return err(
          "unknown-command",
          `${truncate(args[0]!)} is not a command; HELP lists the commands`,
        );
      }
      return dataLines(describe(command));
    },
  };
}

function describe(command: Command): string[] {
  const width = 44;
  return command.usage.map((usage, i) =>
    i === 0 ? `${usage.padEnd(width)} ${command.summary}` : usage
  );
}
