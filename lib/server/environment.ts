/**
 * The environment variables the server may read, as one `--allow-env` flag
 * (docs/build.md: environment access only to the variables named in the
 * docs): the network thread's scheduling settings (net_thread.ts), what the
 * PostgreSQL driver of `--store` reads (lib/stores/postgres/database.ts),
 * and `INIT_CWD`, where the server's relative paths start
 * (docs/server.md#paths).
 */
import { SCHEDULING } from "./net_thread.ts";
import { POSTGRES_VARIABLES } from "../stores/postgres/database.ts";
import { localPath } from "../paths.ts";
import type { ServerConfig } from "./config.ts";

/** Every variable the server reads. */
export const SERVER_ENV_VARIABLES: readonly string[] = [
  ...Object.keys(SCHEDULING),
  ...POSTGRES_VARIABLES,
  // The directory `deno task server` was run from: where relative paths start.
  "INIT_CWD",
];

/** The permission flag that grants exactly those. */
export const SERVER_ENV_PERMISSION = `--allow-env=${SERVER_ENV_VARIABLES.join(",")}`;

/**
 * What the server runs with, wherever it runs (the executable, the tests'
 * and the bench's servers; `deno task server` in deno.json says the same):
 * the unstable APIs it uses (Deno KV, SO_REUSEPORT), network and files,
 * and exactly its environment variables — never -A, run or ffi
 * (docs/build.md).
 */
export const SERVER_RUN_FLAGS: readonly string[] = [
  // Each V8 isolate's young generation may grow to 16 MiB semi-spaces while
  // connections arrive, and keeps them: 10,000 idle connections took the
  // server to 227–233 MiB with --threads 1 (194–214 with 2); capped at 4
  // MiB, 195 and 194, with S1 and S6 unchanged (120,951 against 119,966 and
  // 1,058,786 against 1,035,162 requests per core, deno task bench --only
  // S1 / S6, one after the other on a quiet machine, 2026-12-06).
  "--v8-flags=--max-semi-space-size=4",
  "--unstable-kv",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  SERVER_ENV_PERMISSION,
];

/**
 * The directory the user ran the command from, when the process runs
 * elsewhere: `deno task` runs in the project folder and says where it was
 * started in `INIT_CWD`. Undefined (paths stay as typed) without the
 * permission to read it, or when it is not set.
 */
export function initialDirectory(): string | undefined {
  const variable = "INIT_CWD";
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return undefined;
  const value = Deno.env.get(variable);
  return value === "" ? undefined : value;
}

/** `config` with `--root`, `--data`, `--users` and `--tls-*` starting at `cwd` when relative. */
export function pathsFrom(config: ServerConfig, cwd: string | undefined): ServerConfig {
  const at = (path: string) => localPath(path, { cwd }).resolved;
  return {
    ...config,
    rootDir: at(config.rootDir),
    dataDir: at(config.dataDir),
    usersFile: config.usersFile === undefined ? undefined : at(config.usersFile),
    tls: config.tls === undefined
      ? undefined
      : { certFile: at(config.tls.certFile), keyFile: at(config.tls.keyFile) },
  };
}
