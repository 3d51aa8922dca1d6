/** The role table and the commands answered before AUTH (docs/security.md). */
import { assertEquals } from "@std/assert";
import { allowedBeforeAuth, isRole, roleAllows, roleDenial } from "../lib/security/roles.ts";

Deno.test("read may not run the five writing requests, write may", () => {
  const writes = [["FILE", "PUT"], ["FILE", "DEL"], ["KV", "SET"], ["KV", "DEL"], ["KV", "INCR"]];
  for (const [command, sub] of writes) {
    assertEquals(roleAllows("read", command!, sub), false, `${command} ${sub}`);
    assertEquals(roleAllows("write", command!, sub), true, `${command} ${sub}`);
  }
});

Deno.test("read may run every other request", () => {
  const reads: Array<[string, string?]> = [
    ["FILE", "LIST"],
    ["FILE", "GET"],
    ["FILE"],
    ["KV", "GET"],
    ["KV", "KEYS"],
    ["KV", "SCAN"],
    ["CALC", "ADD"],
    ["COUNT"],
    ["WHO"],
    ["STATS"],
    ["HELLO"],
    ["AUTH"],
    ["PUT", "FILE"],
  ];
  for (const [command, sub] of reads) {
    assertEquals(roleAllows("read", command, sub), true, `${command} ${sub ?? ""}`);
  }
});

Deno.test("the role denial reads <name> (read) may not <COMMAND> <SUBCOMMAND>", () => {
  assertEquals(roleDenial("ada", "read", "KV", "SET"), "ada (read) may not KV SET");
});

Deno.test("only AUTH, PING, HELP and QUIT/EXIT/STOP are answered before AUTH", () => {
  for (const command of ["AUTH", "PING", "HELP", "QUIT", "EXIT", "STOP"]) {
    assertEquals(allowedBeforeAuth(command), true, command);
  }
  for (const command of ["ECHO", "HELLO", "WHO", "STATS", "CALC", "COUNT", "FILE", "KV", "auth"]) {
    assertEquals(allowedBeforeAuth(command), false, command);
  }
});

Deno.test("isRole knows read and write only", () => {
  assertEquals(["read", "write", "READ", "admin", ""].map(isRole), [
    true,
    true,
    false,
    false,
    false,
  ]);
});
