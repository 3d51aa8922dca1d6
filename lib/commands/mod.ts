/**
 * The command table: every command the protocol knows, looked up by name
 * or alias, with the one unknown-command answer. Adding a command means
 * one entry in catalog.ts, one file exporting its `Command`, and that
 * export in {@linkcode COMMANDS} (docs/architecture.md#adding-a-command).
 */
import { ProtocolError } from "../protocol/mod.ts";
import { AUTH } from "./auth.ts";
import { ECHO, PING, QUIT } from "./basic.ts";
import { CALC } from "./calc.ts";
import { type Command, truncate } from "./command.ts";
import { COUNT } from "./count.ts";
import { FILE } from "./files.ts";
import { helpCommand } from "./help.ts";
import { HELLO, WHO } from "./hello.ts";
import { KV } from "./kv.ts";
import { STATS } from "./stats.ts";

/** Every command but HELP, in HELP order (HELP comes first and is added by the table). */
export const COMMANDS: readonly Command[] = [
  PING,
  ECHO,
  QUIT,
  AUTH,
  HELLO,
  WHO,
  STATS,
  CALC,
  COUNT,
  FILE,
  KV,
];

/** Name → command, aliases included; the one place an unknown name is answered. */
export class CommandTable {
  readonly #byName = new Map<string, Command>();
  readonly #all: readonly Command[];
  /**
   * The name last looked up and its command. Each request's name is a new
   * string, and a Map lookup hashes it first (about 65 ns for PING); the
   * comparison with the name before costs a few: clients mostly send the
   * same commands again (docs/performance.md#s1-where-the-time-goes).
   */
  #lastName = "";
  #lastCommand: Command | undefined;

  constructor(commands: readonly Command[] = COMMANDS) {
    // HELP is made here because it lists (and looks up in) the table itself.
    this.#all = [helpCommand(this), ...commands];
    for (const command of this.#all) {
      for (const name of [command.name, ...(command.aliases ?? [])]) {
        if (this.#byName.has(name)) throw new RangeError(`command ${name} is defined twice`);
        this.#byName.set(name, command);
      }
    }
  }

  /** Every command, in HELP order. */
  get all(): readonly Command[] {
    return this.#all;
  }

  /**
   * The command named `name` (upper-case); throws `ERR unknown-command`
   * quoting `spelled`, the client's own spelling, with control characters
   * escaped (docs/protocol.md#commands).
   */
  get(name: string, spelled = name): Command {
    const command = this.find(name);
    if (command === undefined) {
      throw new ProtocolError(
        "unknown-command",
        `${truncate(spelled)} is not a command; HELP lists the commands`,
      );
    }
    return command;
  }

  /** The command named `name` (upper-case), or undefined. */
  find(name: string): Command | undefined {
    if (name === this.#lastName) return this.#lastCommand;
    const command = this.#byName.get(name);
    if (command !== undefined) {
      this.#lastName = name;
      this.#lastCommand = command;
    }
    return command;
  }
}
