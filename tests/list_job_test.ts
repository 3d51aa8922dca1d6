/**
 * FILE LIST's listing: the list job's lines (lib/jobs/list_job.ts) in the
 * byte order of UTF-8 names, which is not JavaScript's string order once a
 * name has a character past U+FFFF; and the file store's bound on
 * listings built at once.
 */
import { assertEquals } from "@std/assert";
import fc from "fast-check";
import { runListJob } from "../lib/jobs/list_job.ts";
import { FileHashes } from "../lib/stores/file_hashes.ts";
import { checkFileName } from "../lib/stores/file_names.ts";
import { FileStore } from "../lib/stores/file_store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function byUtf8Bytes(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** A directory holding a file per name, each containing its own name. */
async function dirWith(names: readonly string[]): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "switchboard-list-" });
  for (const name of names) await Deno.writeTextFile(`${path}/${name}`, name);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The listing's lines as [size, modified, name]. */
function listed(root: string): Array<[number, string, string]> {
  const result = runListJob({ kind: "list", root });
  const lines = decoder.decode(result.lines).split("\n");
  assertEquals(lines.pop(), "", "every line ends in LF");
  assertEquals(result.files, lines.length);
  return lines.map((line) => {
    const [size, modified, ...name] = line.split(" ");
    return [Number(size), modified!, name.join(" ")];
  });
}

Deno.test("FILE LIST sorts by UTF-8 bytes: a character past U+FFFF comes after U+E000–U+FFFF", async () => {
  // UTF-16 order would put 😀 (a surrogate pair, D83D DE00) before U+E000 and U+FFFD.
  const names = ["😀.txt", "\uFFFD.txt", "\uE000.txt", "é.txt", "a b.txt", "Z.txt"];
  await using dir = await dirWith(names);
  assertEquals(
    listed(dir.path).map(([, , name]) => name),
    ["Z.txt", "a b.txt", "é.txt", "\uE000.txt", "\uFFFD.txt", "😀.txt"],
  );
});

Deno.test("FILE LIST shows regular files with valid names only, with size and ISO 8601 time", async () => {
  await using dir = await dirWith(["shown.txt", ".hidden", ".upload-1234"]);
  await Deno.mkdir(`${dir.path}/a-directory`);
  await Deno.symlink(`${dir.path}/shown.txt`, `${dir.path}/a-link`);
  const [entry, ...rest] = listed(dir.path);
  assertEquals(rest, []);
  const [size, modified, name] = entry!;
  assertEquals([size, name], [9, "shown.txt"]);
  assertEquals(new Date(modified).toISOString(), modified);
});

Deno.test("FILE LIST of any valid names is in UTF-8 byte order, with each file's size", async () => {
  // Any characters, astral ones included (lone surrogates are not UTF-8, so no file has
  // one), and often the characters where UTF-8 lengths and UTF-16 order change.
  const edges = fc.constantFrom(
    "a",
    "Z",
    "\u007e",
    "\u0080",
    "é",
    "\u07ff",
    "\u0800",
    "\ue000",
    "\ufffd",
    "😀",
    "\u{10ffff}",
  );
  const anyName = fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
    fc.string({ unit: edges, minLength: 1, maxLength: 4 }),
  );
  const validName = anyName.filter((name) => {
    if (!name.isWellFormed()) return false;
    try {
      checkFileName(name);
      return true;
    } catch {
      return false;
    }
  });
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(validName, { minLength: 1, maxLength: 8 }), async (names) => {
      await using dir = await dirWith(names);
      const entries = listed(dir.path);
      assertEquals(entries.map(([, , name]) => name), [...names].sort(byUtf8Bytes));
      for (const [size, , name] of entries) assertEquals(size, encoder.encode(name).length);
    }),
    { numRuns: 40 },
  );
});

Deno.test("the file store builds at most two listings at once; those asked for meanwhile share the next", async () => {
  let building = 0;
  let most = 0;
  const finish: Array<() => void> = [];
  let builds = 0;
  const store = new FileStore("/nowhere", {
    maxFileSize: 1,
    hashes: new FileHashes(() => Promise.reject(new Error("no hashing in this test"))),
    list: async () => {
      const id = builds++;
      most = Math.max(most, ++building);
      await new Promise<void>((resolve) => finish.push(resolve));
      building--;
      return encoder.encode(`listing ${id}\n`);
    },
  });
  const first = [store.listing(), store.listing()];
  // Asked for while both builds run: they wait, and share the build that starts after them.
  const waiting = [store.listing(), store.listing(), store.listing(), store.listing()];
  assertEquals(builds, 2);
  finish.shift()!();
  await first[0];
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(builds, 3, "one build for the four that waited");
  while (finish.length > 0) {
    finish.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const bodies = (await Promise.all([...first, ...waiting])).map((bytes) => decoder.decode(bytes));
  assertEquals(bodies, [0, 1, 2, 2, 2, 2].map((id) => `listing ${id}\n`));
  assertEquals(most, 2);
  // One asked for now gets a build of its own, started after it asked.
  assertEquals(
    decoder.decode(
      await (async () => {
        const next = store.listing();
        await new Promise((resolve) => setTimeout(resolve, 0));
        finish.shift()!();
        return await next;
      })(),
    ),
    "listing 3\n",
  );
});
