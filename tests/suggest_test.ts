/** "Did you mean …?" (lib/suggest.ts): near enough to help, never a guess at random. */
import { assertEquals } from "@std/assert";
import { closest, meantOption } from "../lib/suggest.ts";

Deno.test("closest finds a typo's word: a swap, a letter missing, one too many, or wrong", () => {
  const commands = ["ping", "echo", "help", "hello", "stats", "count"];
  assertEquals(closest("PIGN", commands), "ping");
  assertEquals(closest("ehco", commands), "echo");
  assertEquals(closest("stat", commands), "stats");
  assertEquals(closest("helo", commands), "help"); // a tie goes to the earlier candidate
  assertEquals(closest("coutn", commands), "count");
});

Deno.test("closest suggests nothing for a word that is not near any", () => {
  assertEquals(closest("bogus", ["ping", "echo", "help"]), undefined);
  assertEquals(closest("xy", ["ping"]), undefined);
  assertEquals(closest("", ["ping"]), undefined);
});

Deno.test("meantOption reads -p as the option starting with p, and --prot as the nearest", () => {
  const options = ["host", "port", "max-running", "quiet"];
  assertEquals(meantOption("-p", options), "--port");
  assertEquals(meantOption("-x", options), undefined);
  assertEquals(meantOption("--prot", options), "--port");
  assertEquals(meantOption("--max-runing=3", options), "--max-running");
  assertEquals(meantOption("--bogus", options), undefined);
});
