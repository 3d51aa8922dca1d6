/** The shell's Tab completion (docs/client.md): command names, subcommands, in the case the user types. */
import { assertEquals } from "@std/assert";
import { CLIENT_COMMANDS, complete, PROTOCOL_COMMANDS } from "../lib/client/completion.ts";
import { COMMANDS } from "../lib/commands/mod.ts";

Deno.test("completion turns FI into FILE and fi into file", () => {
  assertEquals(complete("FI"), [["FILE"], "FI"]);
  assertEquals(complete("fi"), [["file"], "fi"]);
  assertEquals(complete("Fi"), [["file"], "Fi"]);
  assertEquals(complete("  ca"), [["calc"], "ca"]);
});

Deno.test("completion offers every command that fits, the client's own included", () => {
  assertEquals(complete("s"), [["stats", "stop"], "s"]);
  assertEquals(complete("re"), [["reconnect"], "re"]);
  assertEquals(complete("P"), [["PING", "PUT"], "P"]);
  assertEquals(complete("xyz"), [[], "xyz"]);
});

Deno.test("completion offers subcommands after FILE and KV, operators after CALC, commands after HELP", () => {
  assertEquals(complete("FILE "), [["LIST", "PUT", "GET", "DEL"], ""]);
  assertEquals(complete("file l"), [["list"], "l"]);
  assertEquals(complete("KV S"), [["SET", "SCAN"], "S"]);
  assertEquals(complete("kv in"), [["incr"], "in"]);
  assertEquals(complete("calc m"), [["multiply", "mul"], "m"]);
  assertEquals(complete("help co"), [["count"], "co"]);
  assertEquals(complete("KV SET k"), [[], "k"]);
  assertEquals(complete("ping "), [[], ""]);
});

Deno.test("completion knows every command and subcommand of the server's command table", () => {
  const known = new Set([...PROTOCOL_COMMANDS, ...CLIENT_COMMANDS]);
  for (const command of COMMANDS) {
    for (const name of [command.name, ...(command.aliases ?? [])]) {
      assertEquals(known.has(name.toLowerCase()), true, `${name} is completed`);
    }
    for (const usage of command.usage) {
      const [name, sub] = usage.split(" ");
      // A second word in capitals is a subcommand keyword (FILE LIST, KV SCAN).
      if (sub === undefined || !/^[A-Z]+$/.test(sub)) continue;
      assertEquals(complete(`${name} ${sub}`)[0], [sub], `${name} ${sub} is completed`);
    }
  }
});
