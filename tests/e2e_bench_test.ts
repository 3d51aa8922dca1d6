/** `switchboard-client bench` against a real server: counts add up, errors are caught. No timings asserted. */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { clientArgs, parseStats, run, TestClient, TestServer } from "./helpers.ts";
import { makeTlsFixture, tlsServerArgs } from "./tls_fixtures.ts";
import { unusedPort } from "./ports.ts";

async function bench(port: number, ...args: string[]) {
  const out = await run(Deno.execPath(), [...clientArgs(port), "bench", "--json", ...args]);
  const lines = out.stdout.trim().split("\n");
  return { code: out.code, stderr: out.stderr, result: JSON.parse(lines.at(-1) ?? "{}") };
}

Deno.test("bench -n sends exactly N pipelined requests over every connection, on 2 threads", async () => {
  await using server = await TestServer.start();
  const { code, result } = await bench(server.port, "-n", "3000", "-c", "6", "-P", "4", "-t", "2");
  assertEquals(code, 0);
  assertEquals(result.requests, 3000);
  assertEquals(result.errors, 0);
  assertEquals(result.replied, 6);
  assertEquals(result.threads, 2);
  assert(result.rps > 0 && result.latency.p50_us > 0);
  assert(result.latency.p50_us <= result.latency.p99_us);
  assert(result.latency.p99_us <= result.latency.max_us);
  using probe = await TestClient.connect(server.port);
  // The server saw them all: 3000 PINGs and this STATS.
  assertEquals(parseStats(await probe.ask("STATS")).commands_total, 3001);
});

Deno.test("bench --tls --cacert loads a TLS port, verifying its certificate", async () => {
  await using fixture = await makeTlsFixture();
  await using server = await TestServer.start([
    ...tlsServerArgs(fixture),
  ]);
  const trusted = await bench(
    server.port,
    "-n",
    "500",
    "-c",
    "5",
    "--tls",
    "--cacert",
    fixture.caCertPath,
  );
  assertEquals([trusted.code, trusted.result.requests, trusted.result.errors], [0, 500, 0]);
  // Without the CA every connection fails its handshake: no replies at all.
  const untrusted = await bench(server.port, "-c", "1", "-w", "0", "-d", "0.5", "--tls");
  assertEquals(untrusted.code, 3);
  const missing = await run(Deno.execPath(), [
    ...clientArgs(server.port),
    "bench",
    "--tls",
    "--cacert",
    `${fixture.dir}/nope.pem`,
  ]);
  assertEquals([missing.code, missing.stderr], [
    2,
    `error: --cacert ${fixture.dir}/nope.pem: no such file or directory\n`,
  ]);
});

Deno.test("bench --churn opens a connection per request", async () => {
  await using server = await TestServer.start();
  const { code, result } = await bench(server.port, "-n", "40", "-c", "2", "--churn");
  assertEquals(code, 0);
  assertEquals([result.requests, result.errors], [40, 0]);
  using probe = await TestClient.connect(server.port);
  assertEquals(parseStats(await probe.ask("STATS")).accepted_total, 41);
});

Deno.test("bench sends any request line and checks replies against --expect", async () => {
  await using server = await TestServer.start();
  const good = await bench(
    server.port,
    "-n",
    "100",
    "-c",
    "2",
    "-e",
    "OK 5",
    "CALC",
    "add",
    "2",
    "3",
  );
  assertEquals([good.code, good.result.requests, good.result.errors], [0, 100, 0]);
  const bad = await bench(
    server.port,
    "-n",
    "100",
    "-c",
    "1",
    "-d",
    "1",
    "-e",
    "OK 6",
    "CALC add 2 3",
  );
  assertEquals(bad.code === 0, false);
  assert(bad.result.errors > 0);
  assertMatch(bad.result.error_samples[0], /unexpected reply \(expected "OK 6"\)/);
});

Deno.test("bench with a bad option is a usage error (exit 2) naming it", async () => {
  const out = await run(Deno.execPath(), [...clientArgs(1), "bench", "--bogus"]);
  assertEquals(out.code, 2);
  assertMatch(out.stderr, /error: unknown bench option --bogus/);
});

Deno.test("bench with nothing listening exits 3", async () => {
  const { code } = await bench(unusedPort(), "-c", "1", "-d", "0.5", "-w", "0");
  assertEquals(code, 3);
});
