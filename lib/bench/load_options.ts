/**
 * What `switchboard-client bench` is asked to do: its options, their
 * defaults and limits, the usage text, and the parser of the words after
 * `bench`. Parsing throws UsageError; it never prints or exits.
 */
import { parseArgs } from "@std/cli/parse-args";
import { DEFAULT_HOST, DEFAULT_PORT } from "../defaults.ts";
import { UsageError } from "../usage_error.ts";

/** Everything a bench run needs. */
export interface BenchOptions {
  host: string;
  port: number;
  connections: number;
  /** Count mode: send exactly this many requests. */
  requests: number | undefined;
  /** Duration mode: seconds measured after the warmup. */
  durationS: number;
  warmupS: number;
  pipeline: number;
  churn: boolean;
  threads: number;
  /** The request line without its line feed. */
  request: string;
  /** Expected reply line; empty: any. */
  expect: string;
  /** Epoch ms at which the load starts (to line several generators or a CPU probe up); default: now. */
  startAt: number | undefined;
  json: boolean;
  /** Connect with TLS (verifying the certificate, as the client's --tls does). */
  tls: boolean;
  /** With `tls`: the CA file to trust instead of the system roots. */
  caCert: string | undefined;
}

/** Connections per run at most: each is a socket of this process. */
const MAX_CONNECTIONS = 100_000;
/** Requests in flight per connection at most: one write of that many lines. */
const MAX_PIPELINE = 4096;
/** Worker threads at most (and never more than connections). */
const MAX_THREADS = 256;
/** The longest warmup or duration: a day. */
const MAX_SECONDS = 86_400;

/** The help text of `switchboard-client bench`. */
export const BENCH_USAGE = `usage: switchboard-client bench [options] [REQUEST LINE...]

Load generator: sends REQUEST LINE (default PING) over many connections and
reports requests/s and latency percentiles (p50 p90 p99 p99.9 max).

options:
  -c, --connections N   concurrent connections (default 50)
  -n, --requests N      send exactly N requests in all, then stop
  -d, --duration S      seconds to measure, after the warmup (default 10)
  -w, --warmup S        seconds before measuring starts (default 1; 0 with -n)
  -P, --pipeline N      requests in flight per connection (default 1)
      --churn           one request per connection: connect, send, reply, close
  -t, --threads N       worker threads (default: CPU count, at most one per connection)
  -e, --expect LINE     fail a reply that is not LINE (default: OK PONG for PING, else any)
      --start-at MS     start the load at this Unix time in ms (lines up several generators)
      --host H, --port P, --json, --tls, --cacert FILE   as for every command`;

/** Parses the words after `bench`. */
export function parseBenchArgs(args: readonly string[]): BenchOptions {
  const unknown: string[] = [];
  const parsed = parseArgs([...args], {
    string: [
      "connections",
      "requests",
      "duration",
      "warmup",
      "pipeline",
      "threads",
      "expect",
      "start-at",
      "host",
      "port",
      "cacert",
    ],
    boolean: ["churn", "json", "tls"],
    alias: {
      c: "connections",
      n: "requests",
      d: "duration",
      w: "warmup",
      P: "pipeline",
      t: "threads",
      e: "expect",
    },
    "--": false,
    unknown: (arg: string) => {
      if (arg.startsWith("-") && !/^-\d/.test(arg)) unknown.push(arg);
      return !arg.startsWith("-");
    },
  }) as Record<string, string | boolean | undefined> & { _: Array<string | number> };
  if (unknown.length > 0) throw new UsageError(`unknown bench option ${unknown[0]}`);
  const str = (name: string) => {
    const value = parsed[name];
    return typeof value === "string" ? value : undefined;
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const value = str(name);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) {
      throw new UsageError(`--${name} must be an integer from ${min} to ${max}: "${value}"`);
    }
    return n;
  };
  const seconds = (name: string, fallback: number) => {
    const value = str(name);
    if (value === undefined) return fallback;
    const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
    if (!(n >= 0 && n <= MAX_SECONDS)) {
      throw new UsageError(`--${name} must be seconds from 0 to ${MAX_SECONDS}: "${value}"`);
    }
    return n;
  };
  const requestWords = parsed._.map(String);
  const request = requestWords.length > 0 ? requestWords.join(" ") : "PING";
  const connections = int("connections", 50, 1, MAX_CONNECTIONS);
  const requests = str("requests") === undefined ? undefined : int("requests", 0, 1, 1e12);
  const churn = parsed.churn === true;
  const pipeline = int("pipeline", 1, 1, MAX_PIPELINE);
  if (churn && pipeline > 1) throw new UsageError("--churn sends one request: no --pipeline");
  const cpus = navigator.hardwareConcurrency || 1;
  const expect = str("expect") ?? (request.trim().toUpperCase() === "PING" ? "OK PONG" : "");
  return {
    host: str("host") ?? DEFAULT_HOST,
    port: int("port", DEFAULT_PORT, 1, 65535),
    connections,
    requests,
    durationS: seconds("duration", 10),
    warmupS: seconds("warmup", requests === undefined ? 1 : 0),
    pipeline,
    churn,
    threads: Math.min(int("threads", cpus, 1, MAX_THREADS), connections),
    request,
    expect,
    startAt: str("start-at") === undefined ? undefined : int("start-at", 0, 0, 2 ** 53),
    json: parsed.json === true,
    tls: parsed.tls === true,
    caCert: tlsCaCert(parsed.tls === true, str("cacert")),
  };
}

/** `--cacert` needs `--tls`, as for the client's own commands. */
function tlsCaCert(tls: boolean, caCert: string | undefined): string | undefined {
  if (caCert !== undefined && !tls) {
    throw new UsageError("--cacert is for TLS connections: add --tls");
  }
  return caCert;
}
