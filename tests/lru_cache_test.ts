/** The LRU cache: bounded, evicting the least recently used entry, one at a time. */
import { assertEquals, assertThrows } from "@std/assert";
import { LruCache } from "../lib/stores/lru_cache.ts";

Deno.test("LruCache evicts the least recently used entry, one per insertion over capacity", () => {
  const cache = new LruCache<string, number>(3);
  cache.set("a", 1);
  cache.set("b", 2);
  cache.set("c", 3);
  assertEquals(cache.get("a"), 1, "a is now the most recently used");
  cache.set("d", 4);
  assertEquals([...cache.keys()], ["c", "a", "d"], "b went, and only b");
  cache.set("c", 30);
  cache.set("e", 5);
  assertEquals([...cache.keys()], ["d", "c", "e"], "a went: c was refreshed by its set");
  assertEquals(cache.get("c"), 30);
  assertEquals(cache.get("a"), undefined);
  assertEquals(cache.size, 3);
});

Deno.test("LruCache refuses a capacity that is not a positive integer", () => {
  assertThrows(() => new LruCache(0), RangeError, "received 0");
  assertThrows(() => new LruCache(1.5), RangeError, "received 1.5");
});
