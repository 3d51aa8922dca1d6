/**
 * TLS (docs/performance.md): S1 — 50 persistent clients, one PING in flight each —
 * over TLS against the same load on a plain port, switchboard both times,
 * repetitions interleaved in one run, so the ratio per server core is what
 * encryption costs the server. The C loadgen does not speak TLS, so both
 * loads run with `switchboard-client bench --tls` (the Deno generator),
 * whatever --loadgen chose for the other rows; the certificate is a
 * throwaway CA and leaf made with openssl (tests/tls_fixtures.ts).
 */
import { makeTlsFixture, tlsServerArgs } from "../../../tests/tls_fixtures.ts";
import { type BenchContext, progress, startServer } from "../context.ts";
import { DenoLoadgen } from "../deno_loadgen.ts";
import { type LoadResult, planLoad } from "../load.ts";
import { perCore } from "../measure.ts";
import { type BenchRow, type Row, times } from "../row.ts";
import { PING } from "../servers.ts";

/** The target: TLS keeps at least half of plain S1's requests per server core. */
const TARGET_RATIO = 0.5;

/** TLS: S1 over TLS vs S1 plain. */
export const TLS: BenchRow = {
  id: "TLS",
  about: "S1 over TLS vs plain, switchboard both (switchboard-client bench)",
  compares: false,
  async run(context: BenchContext): Promise<Row> {
    await using fixture = await makeTlsFixture();
    const generator = new DenoLoadgen(context.machine);
    const load = planLoad({ connections: 50, ...PING.switchboard }, context.options.durationS);
    const plain: LoadResult[] = [];
    const tls: LoadResult[] = [];
    for (let rep = 0; rep < context.options.reps; rep++) {
      const turn = `(${rep + 1}/${context.options.reps})`;
      progress(`TLS: plain ${turn}`);
      {
        await using server = await startServer(context, "switchboard");
        plain.push(await generator.run(server, load));
      }
      progress(`TLS: over TLS ${turn}`);
      {
        await using server = await startServer(context, "switchboard", {
          args: tlsServerArgs(fixture),
        });
        tls.push(await generator.run(server, { ...load, tls: { caCertPath: fixture.caCertPath } }));
      }
    }
    const [overTls, overPlain] = [perCore(tls), perCore(plain)];
    const rps = (results: LoadResult[]) => Math.max(...results.map((r) => r.rps));
    return {
      scenario: "TLS: S1 (50 clients, PING) over TLS vs plain, both by switchboard-client bench",
      switchboard: `TLS ${overTls.text}; plain ${overPlain.text}`,
      deno: "",
      node: "",
      ratio: `${times(overTls.value, overPlain.value)} plain per core (best req/s: ${
        times(rps(tls), rps(plain))
      })`,
      target: `≥ ${TARGET_RATIO}× plain per core`,
      met: overTls.value >= TARGET_RATIO * overPlain.value,
    };
  },
};
