/**
 * The command table walked whole: every command the server runs is in the
 * catalog, in HELP order, with usage and summary; HELP lists it; and the
 * access rules and the client's completion follow from what it declares
 * (docs/architecture.md#adding-a-command).
 */
import { assertEquals, assertNotEquals } from "@std/assert";
import { CATALOG } from "../lib/commands/catalog.ts";
import { COMMANDS, CommandTable } from "../lib/commands/mod.ts";
import { complete, PROTOCOL_COMMANDS } from "../lib/client/completion.ts";
import { allowedBeforeAuth, roleAllows } from "../lib/security/roles.ts";
import { runLine } from "./context.ts";

const table = new CommandTable();

Deno.test("a lookup finds each name's own command, whatever was looked up before", () => {
  const fresh = new CommandTable();
  const names = ["PING", "PING", "KV", "", "PING", "NOPE", "NOPE", "EXIT", "QUIT", "HELP", "PING"];
  for (const name of names) {
    assertEquals(
      fresh.find(name)?.name,
      table.all.find((c) => c.name === name || c.aliases?.includes(name))?.name,
      name,
    );
  }
});

Deno.test("the table runs exactly the catalog's commands, in its order, HELP first", () => {
  assertEquals(table.all.map((command) => command.name), CATALOG.map((command) => command.name));
  assertEquals(COMMANDS.map((command) => command.name), CATALOG.slice(1).map((c) => c.name));
  for (const command of table.all) {
    const declaration = CATALOG.find((declared) => declared.name === command.name)!;
    assertEquals(command.aliases, declaration.aliases, command.name);
    assertEquals(command.keywords, declaration.keywords, command.name);
    assertEquals(command.writes, declaration.writes, command.name);
    assertEquals(command.beforeAuth, declaration.beforeAuth, command.name);
    for (const name of [command.name, ...command.aliases ?? []]) {
      assertEquals(table.find(name), command, `${name} is looked up`);
    }
  }
});

Deno.test("every command has usage lines that start with its name, and a summary", () => {
  for (const command of table.all) {
    assertNotEquals(command.usage.length, 0, `${command.name} has usage`);
    for (const usage of command.usage) {
      assertEquals(usage.split(" ")[0], command.name, `${command.name} usage ${usage}`);
    }
    assertNotEquals(command.summary.trim(), "", `${command.name} has a summary`);
  }
});

Deno.test("a command's keywords are the subcommands its usage shows, and what it writes is among them", () => {
  for (const command of table.all) {
    const shown = new Set(
      command.usage.map((usage) => usage.split(" ")[1] ?? "").filter((w) => /^[A-Z]+$/.test(w)),
    );
    // CALC's keywords are operators, which its usage shows as <op>.
    if (shown.size > 0) assertEquals(new Set(command.keywords), shown, command.name);
    if (Array.isArray(command.writes)) {
      for (const word of command.writes) {
        assertEquals(command.keywords?.includes(word), true, `${command.name} ${word}`);
      }
    }
  }
});

Deno.test("HELP lists every command's usage, and HELP <name> gives it for each name and alias", async () => {
  const help = await runLine("HELP");
  for (const command of table.all) {
    for (const usage of command.usage) {
      assertEquals(help.includes(`\n${usage}`), true, `HELP lists ${usage}`);
    }
    for (const name of [command.name, ...command.aliases ?? []]) {
      const one = await runLine(`HELP ${name.toLowerCase()}`);
      assertEquals(one.split("\n")[1]?.startsWith(command.usage[0]!), true, `HELP ${name}`);
    }
  }
});

Deno.test("before AUTH and the read role follow each command's declaration", () => {
  for (const command of table.all) {
    for (const name of [command.name, ...command.aliases ?? []]) {
      assertEquals(allowedBeforeAuth(name), command.beforeAuth === true, `${name} before AUTH`);
      const plain = command.writes !== true;
      assertEquals(roleAllows("read", name), plain, `read may ${name}`);
      assertEquals(roleAllows("write", name), true, `write may ${name}`);
      for (const word of command.keywords ?? []) {
        const writes = command.writes === true || (command.writes ?? []).includes(word);
        assertEquals(roleAllows("read", name, word), !writes, `read may ${name} ${word}`);
        assertEquals(roleAllows("write", name, word), true, `write may ${name} ${word}`);
      }
    }
  }
});

Deno.test("the client completes every name, alias and keyword of the table", () => {
  for (const command of table.all) {
    for (const name of [command.name, ...command.aliases ?? []]) {
      assertEquals(PROTOCOL_COMMANDS.includes(name.toLowerCase()), true, name);
      assertEquals(complete(name)[0].includes(name), true, `${name} completes`);
      for (const word of command.keywords ?? []) {
        assertEquals(complete(`${name} ${word}`)[0].includes(word), true, `${name} ${word}`);
      }
    }
  }
  assertEquals(PROTOCOL_COMMANDS.length, table.all.flatMap((c) => [c, ...c.aliases ?? []]).length);
});
