/** The shell's history file (docs/client.md): kept across sessions, bounded, private, never a password. */
import { assertEquals } from "@std/assert";
import { HISTORY_FILE_NAME, HistoryFile, historyPath, isSecret } from "../lib/client/history.ts";
import { tempDir } from "./helpers.ts";

Deno.test("history lives in ~/.switchboard_history, and nowhere without a home", () => {
  assertEquals(historyPath("/home/ada"), `/home/ada/${HISTORY_FILE_NAME}`);
  assertEquals(HISTORY_FILE_NAME, ".switchboard_history");
  assertEquals(historyPath(undefined), undefined);
  assertEquals(historyPath(""), undefined);
});

Deno.test("history lines survive into the next session, oldest first, in a file only its owner reads", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/${HISTORY_FILE_NAME}`;
  const first = new HistoryFile(path);
  assertEquals(await first.load(), []);
  await first.add("PING");
  await first.add("CALC add 2 3");
  assertEquals(await new HistoryFile(path).load(), ["PING", "CALC add 2 3"]);
  if (Deno.build.os !== "windows") assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  assertEquals([...Deno.readDirSync(dir.path)].map((e) => e.name), [HISTORY_FILE_NAME]);
});

Deno.test("history never records a line with a password, in any spelling", async () => {
  for (const line of ["AUTH ada secret", "auth ada secret", '  Auth "ada" s', "raw AUTH ada s"]) {
    assertEquals(isSecret(line), true, line);
  }
  for (const line of ["PING auth", "authors", "KV SET auth x", "raw PING"]) {
    assertEquals(isSecret(line), false, line);
  }
  await using dir = await tempDir();
  const path = `${dir.path}/${HISTORY_FILE_NAME}`;
  const history = new HistoryFile(path);
  await history.add("PING");
  await history.add("AUTH ada s3cret");
  await history.add("raw auth ada s3cret");
  assertEquals(await Deno.readTextFile(path), "PING\n");
  // A file written by something else is filtered the same way when read.
  await Deno.writeTextFile(path, "AUTH bob hunter2\nWHO\n");
  assertEquals(await history.load(), ["WHO"]);
});

Deno.test("history keeps the newest lines up to its limit, skipping blanks and repeats", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/${HISTORY_FILE_NAME}`;
  const history = new HistoryFile(path, 3);
  for (const line of ["one", "two", "two", "   ", "three", "four"]) await history.add(line);
  assertEquals(await history.load(), ["two", "three", "four"]);
  assertEquals(await Deno.readTextFile(path), "two\nthree\nfour\n");
});

Deno.test("history from two shells open at once keeps the lines of both", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/${HISTORY_FILE_NAME}`;
  const left = new HistoryFile(path);
  const right = new HistoryFile(path);
  await left.add("PING left");
  await right.add("PING right");
  await left.add("WHO");
  assertEquals(await new HistoryFile(path).load(), ["PING left", "PING right", "WHO"]);
});

Deno.test("history adds that are not awaited are all on disk once settled", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/${HISTORY_FILE_NAME}`;
  const history = new HistoryFile(path);
  for (let i = 0; i < 20; i++) history.add(`ECHO ${i}`);
  await history.settled();
  assertEquals((await history.load()).length, 20);
});
