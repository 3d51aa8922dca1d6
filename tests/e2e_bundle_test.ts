/**
 * Smoke suite against the shipped single-file builds (`deno task bundle`):
 * the thing we ship is the thing we test. CI builds dist/ first and points
 * SWITCHBOARD_BUNDLE_DIR at it; without it the test bundles into a temp dir.
 * The bundles run with --no-config from outside the repo, as a user runs them.
 */
import { assertEquals, assertMatch } from "@std/assert";
import project from "../deno.json" with { type: "json" };
import { repoPath, run, SERVER_PERMISSIONS, TestClient, TestServer } from "./helpers.ts";

async function bundles(): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const given = Deno.env.get("SWITCHBOARD_BUNDLE_DIR");
  if (given) return { dir: given, [Symbol.asyncDispose]: async () => {} };
  const dir = await Deno.makeTempDir({ prefix: "switchboard-bundle-" });
  const out = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    repoPath("scripts/build.ts"),
    "bundle",
    dir,
  ]);
  assertEquals(out.code, 0, out.stderr);
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("bundled server and client: start, PING, CALC, COUNT, QUIT, SIGTERM", async () => {
  await using built = await bundles();
  await using server = await TestServer.start([], {
    entry: `${built.dir}/switchboard-server.js`,
    permissions: ["--no-config", ...SERVER_PERMISSIONS],
  });
  {
    using client = await TestClient.connect(server.port);
    assertEquals(await client.ask("PING"), "OK PONG");
    assertEquals(await client.ask("CALC div 1 3.0"), "OK 0.3333333333333333");
    // COUNT runs on worker threads, which re-enter the bundle file itself.
    assertEquals(await client.ask("COUNT 5 20 1"), "OK 25");
    assertEquals(await client.ask("QUIT"), "OK bye");
    await client.closedByServer();
  }
  const clientJs = `${built.dir}/switchboard-client.js`;
  const client = (...args: string[]) =>
    run(Deno.execPath(), [
      "run",
      "--no-config",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      clientJs,
      "--port",
      String(server.port),
      ...args,
    ]);
  assertEquals((await client("ping")).stdout, "PONG\n");
  assertEquals((await client("calc", "add", "2", "3")).stdout, "5\n");
  const version = await client("--version");
  assertEquals(version.stdout, `switchboard-client ${project.version}\n`);
  server.signal("SIGTERM");
  assertEquals((await server.exited()).code, 0);
  assertMatch(server.log.at(-1) ?? "", /stopped served_total=3/);
});
