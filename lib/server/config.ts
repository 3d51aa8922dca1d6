/**
 * The server's command line (docs/server.md#server-options) turned into a checked configuration.
 * Nothing is overridden silently: an unknown option, an option given twice,
 * or a value out of range is a {@linkcode UsageError} naming it and what is
 * allowed. Printing and exiting is the entry point's job, not this module's.
 */
import { parseArgs } from "@std/cli/parse-args";
import {
  DEFAULT_BACKLOG,
  DEFAULT_DATA_DIR,
  DEFAULT_DRAIN_TIMEOUT_S,
  DEFAULT_HOST,
  DEFAULT_IDLE_TIMEOUT_S,
  DEFAULT_MAX_FILE_SIZE,
  DEFAULT_MAX_LINE,
  DEFAULT_MAX_PER_IP,
  DEFAULT_MAX_RUNNING,
  DEFAULT_MIN_RATE,
  DEFAULT_PORT,
  DEFAULT_QUEUE_LIMIT,
  DEFAULT_QUEUE_TIMEOUT_S,
  DEFAULT_REQUEST_TIMEOUT_S,
  DEFAULT_ROOT_DIR,
  defaultWorkers,
  LIMITS,
} from "../defaults.ts";
import type { LogFormat, LogLevel } from "./log.ts";
import {
  type AddressList,
  type AddressPolicy,
  parseAddressList,
} from "../security/address_list.ts";
import { UsageError } from "../usage_error.ts";
import { meantOption } from "../suggest.ts";
import { parseStoreUrl, type PostgresUrl } from "../stores/postgres/url.ts";
import { defaultThreads, reusePortUnavailable } from "./door/reuse_port.ts";

/** Everything the server runs with. */
export interface ServerConfig {
  host: string;
  port: number;
  maxRunning: number;
  queueLimit: number;
  queueTimeoutS: number;
  idleTimeoutS: number;
  /** A request line must arrive whole within this many seconds of its first byte (docs/protocol.md#limits-and-bad-input). */
  requestTimeoutS: number;
  /** Bytes a second a payload or download must move over each request-timeout window. */
  minRate: number;
  maxPerIp: number;
  maxLine: number;
  drainTimeoutS: number;
  /** Directory served by FILE. */
  rootDir: string;
  /** Largest FILE PUT. */
  maxFileSize: number;
  /** Directory of the KV store's database. */
  dataDir: string;
  /** `--store`: KV and FILE in this PostgreSQL database instead of `dataDir` and `rootDir`; undefined: embedded. */
  store: PostgresUrl | undefined;
  /** Worker threads for CPU-heavy jobs (COUNT). */
  workers: number;
  /** Network threads, each with a listener on the port (docs/architecture.md#threads). */
  threads: number;
  echo: boolean;
  /** Where `/metrics` is served (`--metrics-port`); undefined when off. */
  metrics: { hostname: string; port: number } | undefined;
  /** `--users`: the users file; with it every client must AUTH first. Undefined: no users. */
  usersFile: string | undefined;
  /** `--allow` and `--deny`, parsed; both empty when not given. */
  addresses: AddressPolicy;
  /** `--insecure`: protected mode off (only matters without `usersFile`). */
  insecure: boolean;
  /** `--tls-cert` and `--tls-key`: the port speaks TLS only; undefined for plain TCP. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** `--proxy-protocol`: the balancers' addresses, whose connections begin with a PROXY header; undefined: off. */
  proxyProtocol: AddressList | undefined;
  /** SPEC `--backlog`: the kernel's listen queue for connections not yet accepted. */
  backlog: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** What the command line asks for. */
export type ServerArgs =
  | { kind: "run"; config: ServerConfig }
  | { kind: "help" }
  | { kind: "version" };

const VALUE_OPTIONS = [
  "host",
  "port",
  "max-running",
  "queue-limit",
  "queue-timeout",
  "idle-timeout",
  "max-per-ip",
  "max-line",
  "request-timeout",
  "min-rate",
  "drain-timeout",
  "workers",
  "threads",
  "data",
  "root",
  "store",
  "max-file-size",
  "log-format",
  "metrics-port",
  "users",
  "allow",
  "deny",
  "tls-cert",
  "tls-key",
  "proxy-protocol",
  "backlog",
] as const;
const FLAG_OPTIONS = ["echo", "insecure", "verbose", "quiet", "help", "version"] as const;
const ALIASES = { v: "verbose", q: "quiet", h: "help" } as const;

/** Parses `switchboard-server [PORT [MAX_RUNNING]] [options]`. */
export function parseServerArgs(args: readonly string[]): ServerArgs {
  const unknown: string[] = [];
  const parsed: Record<string, unknown> & { _: Array<string | number> } = parseArgs(
    joinValues(args),
    {
      string: [...VALUE_OPTIONS],
      boolean: [...FLAG_OPTIONS],
      collect: [...VALUE_OPTIONS, ...FLAG_OPTIONS],
      alias: ALIASES,
      unknown: (arg: string) => {
        if (arg.startsWith("-")) unknown.push(arg);
        return !arg.startsWith("-");
      },
    },
  );
  if (unknown.length > 0) throw unknownOption(unknown[0]!);

  const values = new Map<string, string>();
  for (const name of VALUE_OPTIONS) {
    const given = parsed[name] as string[] | undefined ?? [];
    if (given.length > 1) throw new UsageError(`--${name} is given twice`);
    if (given[0] === NO_VALUE) throw new UsageError(`--${name} needs a value`);
    if (given.length === 1) values.set(name, given[0]!);
  }
  const flags = new Set<string>();
  for (const name of FLAG_OPTIONS) {
    const given = (parsed[name] as boolean[] | undefined ?? []).filter(Boolean);
    if (given.length > 1) throw new UsageError(`--${name} is given twice`);
    if (given.length === 1) flags.add(name);
  }
  if (flags.has("help")) return { kind: "help" };
  if (flags.has("version")) return { kind: "version" };

  const positionals = parsed._.map(String);
  if (positionals.length > 2) {
    throw new UsageError(
      `too many arguments: ${positionals.slice(2).join(" ")} (expected [PORT [MAX_RUNNING]])`,
    );
  }
  for (const [index, name] of ["port", "max-running"].entries()) {
    const value = positionals[index];
    if (value === undefined) continue;
    if (values.has(name)) {
      throw new UsageError(`${name} is given twice (as ${value} and --${name})`);
    }
    values.set(name, value);
  }
  if (flags.has("verbose") && flags.has("quiet")) {
    throw new UsageError("--verbose and --quiet cannot be combined");
  }
  const logFormat = values.get("log-format") ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new UsageError(`--log-format must be text or json: received "${logFormat}"`);
  }

  const int = (name: string, fallback: number, min: number, max: number) =>
    integerOption(name, values.get(name), fallback, min, max);
  const seconds = (name: string, fallback: number) =>
    secondsOption(name, values.get(name), fallback);
  const host = values.get("host") ?? DEFAULT_HOST;
  if (host === "") throw new UsageError(`--host must be an address such as 127.0.0.1 or ::`);
  const usersFile = fileOption("users", values.get("users"));
  if (usersFile !== undefined && flags.has("echo")) {
    throw new UsageError("--users cannot be combined with --echo: echo mode has no AUTH");
  }
  const addressList = (name: "allow" | "deny" | "proxy-protocol") => {
    const value = values.get(name);
    return value === undefined ? [] : parseAddressList(value, `--${name}`);
  };

  return {
    kind: "run",
    config: {
      host,
      port: int("port", DEFAULT_PORT, 0, 65535),
      maxRunning: int("max-running", DEFAULT_MAX_RUNNING, 1, LIMITS.maxRunning),
      queueLimit: int("queue-limit", DEFAULT_QUEUE_LIMIT, 0, LIMITS.queueLimit),
      queueTimeoutS: seconds("queue-timeout", DEFAULT_QUEUE_TIMEOUT_S),
      idleTimeoutS: seconds("idle-timeout", DEFAULT_IDLE_TIMEOUT_S),
      requestTimeoutS: seconds("request-timeout", DEFAULT_REQUEST_TIMEOUT_S),
      minRate: int("min-rate", DEFAULT_MIN_RATE, 0, Number.MAX_SAFE_INTEGER),
      maxPerIp: int("max-per-ip", DEFAULT_MAX_PER_IP, 0, LIMITS.maxRunning),
      maxLine: int("max-line", DEFAULT_MAX_LINE, 1, LIMITS.maxLine),
      drainTimeoutS: seconds("drain-timeout", DEFAULT_DRAIN_TIMEOUT_S),
      workers: int("workers", defaultWorkers(), 1, LIMITS.workers),
      threads: threadsOption(values.get("threads")),
      dataDir: directoryOption("data", values.get("data"), DEFAULT_DATA_DIR),
      rootDir: directoryOption("root", values.get("root"), DEFAULT_ROOT_DIR),
      store: values.has("store") ? parseStoreUrl(values.get("store")!) : undefined,
      maxFileSize: int("max-file-size", DEFAULT_MAX_FILE_SIZE, 0, Number.MAX_SAFE_INTEGER),
      echo: flags.has("echo"),
      metrics: metricsOption(values.get("metrics-port")),
      usersFile,
      addresses: { allow: addressList("allow"), deny: addressList("deny") },
      insecure: flags.has("insecure"),
      tls: tlsOption(
        fileOption("tls-cert", values.get("tls-cert")),
        fileOption("tls-key", values.get("tls-key")),
      ),
      proxyProtocol: values.has("proxy-protocol") ? addressList("proxy-protocol") : undefined,
      backlog: int("backlog", DEFAULT_BACKLOG, 1, LIMITS.backlog),
      logLevel: flags.has("verbose") ? "debug" : flags.has("quiet") ? "quiet" : "info",
      logFormat,
    },
  };
}

/** Stands for the value of a value option that ends the command line (`--port` and nothing). */
const NO_VALUE = "\0";

/**
 * `--max-running -1` is the option and its (bad) value, not two options:
 * std's parser would read `-1` as a short option. So a value option takes
 * the next argument whatever it looks like, joined as `--name=value`, and
 * the range check then names the bad value.
 */
function joinValues(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      joined.push(...args.slice(i));
      break;
    }
    const isValueOption = (VALUE_OPTIONS as readonly string[]).includes(arg.slice(2));
    if (arg.startsWith("--") && isValueOption) {
      joined.push(`${arg}=${args[i + 1] ?? NO_VALUE}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

/** An option the server does not have, with the one it probably meant (`-p` → `--port`). */
function unknownOption(arg: string): UsageError {
  const meant = meantOption(arg, [...VALUE_OPTIONS, ...FLAG_OPTIONS]);
  const name = arg.split("=", 1)[0]!;
  return new UsageError(
    `unknown option ${name}${meant === undefined ? "" : ` (did you mean ${meant}?)`}`,
  );
}

/** `--threads N`: above 1 only where listeners can share the port (door/reuse_port.ts). */
function threadsOption(value: string | undefined): number {
  const threads = integerOption("threads", value, defaultThreads(), 1, LIMITS.threads);
  const unavailable = threads > 1 ? reusePortUnavailable() : undefined;
  if (unavailable !== undefined) {
    throw new UsageError(`--threads ${threads} is not possible here: ${unavailable}`);
  }
  return threads;
}

function integerOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}: received "${value}"`);
  }
  return n;
}

/**
 * `--metrics-port P` binds P on 127.0.0.1, whatever `--host` is: the
 * counters say who is connected and how busy the server is, which is for
 * the machine's own monitoring, not for whoever can reach the service port
 * (docs/security.md). `--metrics-port ADDR:P` (IPv6 as `[::1]:P`) names another
 * address, e.g. a private interface a Prometheus server scrapes.
 */
function metricsOption(value: string | undefined): { hostname: string; port: number } | undefined {
  if (value === undefined) return undefined;
  const match = /^(?:\[([^\]]+)\]:|([^:\[\]]+):)?(\d+)$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(
      `--metrics-port must be PORT or ADDRESS:PORT (port 0 to 65535): received "${value}"`,
    );
  }
  return { hostname: match[1] ?? match[2] ?? DEFAULT_HOST, port };
}

/** A file path option; undefined when not given. */
function fileOption(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === "" || value.includes("\0")) {
    throw new UsageError(`--${name} must be a file path: received "${value}"`);
  }
  return value;
}

/** `--tls-cert` and `--tls-key` come together: a certificate without its key (or the reverse) is a mistake. */
function tlsOption(
  certFile: string | undefined,
  keyFile: string | undefined,
): { certFile: string; keyFile: string } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) {
    throw new UsageError("--tls-key needs --tls-cert (its certificate chain)");
  }
  if (keyFile === undefined) throw new UsageError("--tls-cert needs --tls-key (its private key)");
  return { certFile, keyFile };
}

function directoryOption(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (value === "" || value.includes("\0")) {
    throw new UsageError(`--${name} must be a directory path: received "${value}"`);
  }
  return value;
}

function secondsOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n > LIMITS.timeoutS) {
    throw new UsageError(
      `--${name} must be a number of seconds from 0 to ${LIMITS.timeoutS}: received "${value}"`,
    );
  }
  return n;
}
