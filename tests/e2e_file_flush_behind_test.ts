/**
 * End to end: transfers larger than the flush-behind interval (lib/chunks.ts
 * SYNC_BEHIND_BYTES), where the side that writes the file flushes it to disk
 * from a second descriptor while bytes still arrive
 * (docs/performance.md#file-where-the-time-goes): whole and verified both ways, and an
 * upload that stops after a flush leaves nothing behind (docs/protocol.md#commands FILE PUT).
 */
import { assertEquals, assertMatch } from "@std/assert";
import { SYNC_BEHIND_BYTES } from "../lib/chunks.ts";
import {
  assertStartsWith,
  clientArgs,
  concat,
  eventually,
  filesIn,
  randomBytes,
  run,
  sha256,
  TestClient,
  TestServer,
} from "./helpers.ts";

const encoder = new TextEncoder();
const MiB = 1024 * 1024;
/** Past the first flush behind, with room for the writes after it. */
const BIG = SYNC_BEHIND_BYTES + 8 * MiB;

/** Bytes in the server's temporary upload file so far; 0 while there is none. */
async function uploadedSoFar(root: string): Promise<number> {
  const temp = (await filesIn(root)).find((name) => name.startsWith(".upload-"));
  return temp === undefined
    ? 0
    : (await Deno.stat(`${root}/${temp}`).catch(() => ({ size: 0 }))).size;
}

/**
 * Starts a PUT of doc.txt (announced twice as large as what is sent), sends
 * BIG bytes of it, and waits until the server has written them all, so a
 * flush behind has run. The PING first stays unread: closing then resets.
 */
async function uploadHalfOfBig(server: TestServer): Promise<TestClient> {
  const cut = await TestClient.connect(server.port);
  await cut.write("PING\n");
  await cut.write(concat(encoder.encode(`FILE PUT doc.txt ${2 * BIG}\n`), randomBytes(BIG)));
  const root = `${server.dir}/files`;
  await eventually(
    async () => await uploadedSoFar(root) === BIG,
    `the server to write ${BIG} bytes of the upload`,
  );
  return cut;
}

async function storeOldVersion(server: TestServer): Promise<TestClient> {
  const c = await TestClient.connect(server.port);
  await c.write("FILE PUT doc.txt 15\nthe old version");
  assertStartsWith(await c.readText(), "OK stored doc.txt 15 ");
  return c;
}

Deno.test("an upload reset after a flush behind leaves nothing behind, and the old version stays", async () => {
  await using server = await TestServer.start();
  using c = await storeOldVersion(server);
  const cut = await uploadHalfOfBig(server);
  cut.close();
  await server.waitForLog(/client closed client=2 /);
  assertEquals(await filesIn(`${server.dir}/files`), ["doc.txt"], "no temporary file is left");
  assertEquals(await c.ask("FILE GET doc.txt"), "DATA 15\nthe old version");
});

Deno.test("an upload whose body ends short after a flush behind closes, leaves nothing, the old version stays", async () => {
  await using server = await TestServer.start();
  using c = await storeOldVersion(server);
  using cut = await uploadHalfOfBig(server);
  await cut.closeWrite();
  await cut.closedByServer();
  assertEquals(await filesIn(`${server.dir}/files`), ["doc.txt"], "no temporary file is left");
  assertEquals(await c.ask("FILE GET doc.txt"), "DATA 15\nthe old version");
});

Deno.test("client put and get of a file past the flush-behind interval: verified, byte for byte", async () => {
  await using server = await TestServer.start();
  const bytes = randomBytes(BIG + 12345);
  const local = `${server.dir}/big.bin`;
  await Deno.writeFile(local, bytes);
  const digest = sha256(bytes);
  const client = (args: string[]) => run(Deno.execPath(), [...clientArgs(server.port), ...args]);
  assertEquals(await client(["put", local]), {
    code: 0,
    stdout: `stored big.bin ${bytes.length} ${digest}\n`,
    stderr: "",
  });
  const target = `${server.dir}/back.bin`;
  const got = await client(["get", "big.bin", target]);
  assertMatch(got.stdout, new RegExp(`^saved big\\.bin ${bytes.length} ${digest}\\n$`));
  assertEquals(got.code, 0);
  const back = await Deno.readFile(target);
  assertEquals(back.length, bytes.length);
  assertEquals(back.findIndex((byte, i) => byte !== bytes[i]), -1, "the download is whole");
  assertEquals((await filesIn(server.dir)).filter((name) => name.includes(".part-")), []);
});
