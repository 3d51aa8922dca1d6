/**
 * HAPROXY (docs/performance.md): S1 — 50 persistent clients, one PING in
 * flight each — through HAProxy in front of two switchboard servers, set up
 * as docs/several-servers.md#behind-haproxy configures it (its haproxy.cfg
 * block, `send-proxy-v2`, health checks on `/healthz`), against one server
 * direct, repetitions interleaved in one run. HAProxy and both servers
 * share the server CPU that the one direct server has to itself, so the
 * ratio is what the hop costs for the same CPU, not what a second machine
 * would add. Requests per second, not per core: the work is spread over
 * three processes.
 */
import { documentedSetup, findHaproxy, withPorts } from "../../../tests/haproxy_config.ts";
import { type BenchContext, progress, runLoad, startServer } from "../context.ts";
import type { LoadResult } from "../load.ts";
import { median } from "../measure.ts";
import { type BenchRow, count, type Row, times } from "../row.ts";
import { PING, SERVER_CPU } from "../servers.ts";
import { freePort, pinned, waitListening } from "../system.ts";

/** HAPROXY: S1 through HAProxy and two servers vs S1 on one server. */
export const HAPROXY: BenchRow = {
  id: "HAPROXY",
  about: "S1 through HAProxy (send-proxy-v2) to two servers vs one server direct",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    const haproxy = await findHaproxy();
    if (haproxy === undefined) {
      throw new TypeError("HAPROXY needs haproxy (Debian: apt-get install haproxy)");
    }
    const load = { connections: 50, ...PING.switchboard };
    const direct: LoadResult[] = [];
    const through: LoadResult[] = [];
    for (let rep = 0; rep < context.options.reps; rep++) {
      const turn = `(${rep + 1}/${context.options.reps})`;
      progress(`HAPROXY: one server direct ${turn}`);
      {
        await using server = await startServer(context, "switchboard");
        direct.push(await runLoad(context, server, load));
      }
      progress(`HAPROXY: through HAProxy to two servers ${turn}`);
      {
        await using front = await startBehindHaproxy(context, haproxy);
        through.push(await runLoad(context, front, load));
      }
    }
    const rps = (results: LoadResult[]) => median(results.map((r) => r.rps));
    const errors = through.reduce((n, r) => n + r.errors, 0);
    return {
      scenario: "HAPROXY: S1 (50 clients, PING) through HAProxy to 2 servers vs 1 server direct",
      switchboard: `through HAProxy ${count(rps(through))}/s; direct ${count(rps(direct))}/s` +
        (errors > 0 ? ` (${errors} errors)` : ""),
      deno: "",
      node: "",
      ratio: `${times(rps(through), rps(direct))} direct (HAProxy and both servers on one core)`,
      target: "reported (the price of the hop)",
      met: errors === 0,
    };
  },
};

/**
 * Two servers with `--proxy-protocol 127.0.0.1` and a metrics port each,
 * and HAProxy with the page's configuration in front; `await using` stops
 * them all. The load target is HAProxy's port (its process for the CPU
 * reading).
 */
async function startBehindHaproxy(
  context: BenchContext,
  haproxy: string,
): Promise<{ port: number; pid: number } & AsyncDisposable> {
  const { haproxyConfig } = documentedSetup();
  const metricsPorts = [freePort(), freePort()];
  const servers = await Promise.all(
    metricsPorts.map((metrics) =>
      startServer(context, "switchboard", {
        args: ["--proxy-protocol", "127.0.0.1", "--metrics-port", String(metrics)],
      })
    ),
  );
  const front = freePort();
  const ports: Record<string, number | undefined> = {
    "12000": front,
    "12001": servers[0]!.port,
    "12002": servers[1]!.port,
    "9101": metricsPorts[0]!,
    "9102": metricsPorts[1]!,
  };
  const dir = servers[0]!.dir;
  await Deno.writeTextFile(
    `${dir}/haproxy.cfg`,
    withPorts(haproxyConfig, (documented) => ports[documented]!),
  );
  const [cmd, args] = pinned(context.machine, SERVER_CPU, [haproxy, [
    "-db",
    "-f",
    `${dir}/haproxy.cfg`,
  ]]);
  const process = new Deno.Command(cmd, { args, stdin: "null", stdout: "null" }).spawn();
  const stop = async () => {
    try {
      process.kill("SIGTERM");
    } catch { /* gone */ }
    await process.status;
    for (const server of servers) await server.stop();
  };
  try {
    await waitListening(front, process);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port: front, pid: process.pid, [Symbol.asyncDispose]: stop };
}
