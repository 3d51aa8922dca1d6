/**
 * A private PostgreSQL for tests: a cluster made with initdb in a temporary
 * folder, on a free port, started with pg_ctl, removed with `await using`.
 * Run as root, PostgreSQL refuses to start, so then everything runs as the
 * `postgres` user (`runuser -u postgres --`) in a folder it owns. The
 * superuser has a password (scram-sha-256 over TCP), so that the tests can
 * check that it is never shown. `.ci/run` installs Debian's postgresql
 * where initdb is missing.
 */
import postgres from "postgres";
import { unusedPort } from "./ports.ts";

/** The superuser's password in every test cluster. */
export const TEST_PASSWORD = "s3cret-Pw-7d1f";
const USER = "postgres";
/** Where Debian's postgresql keeps each version's programs. */
const DEBIAN_DIR = "/usr/lib/postgresql";

/** Where initdb, pg_ctl and psql are; undefined when PostgreSQL is not installed. */
export function postgresBinaries(): string | undefined {
  for (const dir of searchPath()) {
    try {
      // Where the link leads (/usr/local/bin/initdb → /usr/lib/postgresql/15/bin): psql is there too.
      const real = Deno.realPathSync(`${dir}/initdb`).replace(/\/initdb$/, "");
      if (["pg_ctl", "psql"].every((tool) => Deno.statSync(`${real}/${tool}`).isFile)) return real;
    } catch { /* not here */ }
  }
  return undefined;
}

/** PATH, then Debian's folders, newest version first. */
function searchPath(): string[] {
  let versions: string[] = [];
  try {
    versions = [...Deno.readDirSync(DEBIAN_DIR)].map((entry) => entry.name)
      .sort((a, b) => Number(b) - Number(a));
  } catch { /* not Debian's layout */ }
  let path: string[] = [];
  try {
    path = (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "");
  } catch { /* no --allow-env for PATH (the bench): Debian's folders only */ }
  return [...path, ...versions.map((version) => `${DEBIAN_DIR}/${version}/bin`)];
}

/** A running test cluster. */
export class PostgresCluster {
  readonly port: number;
  readonly #dir: string;
  readonly #bin: string;
  readonly #asRoot: boolean;
  #databases = 0;
  /** The processes {@linkcode freeze} stopped. */
  #frozen: number[] = [];

  private constructor(dir: string, bin: string, port: number, asRoot: boolean) {
    this.#dir = dir;
    this.#bin = bin;
    this.port = port;
    this.#asRoot = asRoot;
  }

  /** Makes and starts a cluster (throws, saying so, when PostgreSQL is not installed). */
  static async start(): Promise<PostgresCluster> {
    const bin = postgresBinaries();
    if (bin === undefined) {
      throw new Error(
        `PostgreSQL is not installed (no initdb in ${
          searchPath().join(", ")
        }); .ci/run installs it`,
      );
    }
    const dir = await Deno.makeTempDir({ prefix: "switchboard-pg-" });
    // `id -u`, not Deno.uid(): that needs --allow-sys, which neither the tests nor the bench have.
    const asRoot = (await capture("id", ["-u"])).trim() === "0";
    if (asRoot) await exec("chown", [USER, dir]);
    const cluster = new PostgresCluster(dir, bin, unusedPort(), asRoot);
    try {
      await Deno.writeTextFile(`${dir}/pw`, `${TEST_PASSWORD}\n`);
      if (asRoot) await exec("chown", [USER, `${dir}/pw`]);
      await cluster.#run("initdb", [
        "-D",
        `${dir}/data`,
        "-U",
        USER,
        "-E",
        "UTF8",
        "--locale=C",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        `--pwfile=${dir}/pw`,
      ]);
      await cluster.startServer();
      return cluster;
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** `postgres://postgres[:password]@127.0.0.1:port/database`. */
  url(database: string, options: { password?: string | false } = {}): string {
    const password = options.password === undefined ? TEST_PASSWORD : options.password;
    const auth = password === false ? USER : `${USER}:${encodeURIComponent(password)}`;
    return `postgres://${auth}@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates a fresh database (with psql over the cluster's socket) and returns its name. */
  async createDatabase(): Promise<string> {
    const name = `test${++this.#databases}`;
    const socket = ["-h", this.#dir, "-p", String(this.port), "-U", USER, "-d", "postgres"];
    await this.#run("psql", [...socket, "-q", "-c", `CREATE DATABASE ${name}`]);
    return name;
  }

  /**
   * Another server's transaction, played by the test: it holds KV row `key`
   * of `database` (`SELECT … FOR UPDATE`) for `holdMs`. Resolves once the
   * lock is taken, with when (`Date.now()`) and the transaction's end.
   */
  async holdKvRow(
    database: string,
    key: string,
    holdMs: number,
  ): Promise<{ lockedAt: number; released: Promise<void> }> {
    const { promise: locked, resolve: lockTaken, reject: lockFailed } = Promise.withResolvers<
      number
    >();
    const released = this.query(
      (sql) =>
        sql.begin(async (tx) => {
          await tx`SELECT 1 FROM switchboard_kv WHERE key = ${new TextEncoder().encode(key)}
                   FOR UPDATE`;
          lockTaken(Date.now());
          await new Promise((resolve) => setTimeout(resolve, holdMs));
        }),
      database,
    ).then(() => {}, (error) => {
      lockFailed(error);
      throw error;
    });
    const timer = setTimeout(() => lockFailed(new Error(`no lock on ${key} within 10 s`)), 10_000);
    try {
      return { lockedAt: await locked, released };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs `work` with a connection to `database` (for checking what the server stored). */
  async query<T>(work: (sql: postgres.Sql) => Promise<T>, database: string): Promise<T> {
    const sql = postgres({
      host: "127.0.0.1",
      port: this.port,
      database,
      username: USER,
      password: TEST_PASSWORD,
      max: 1,
      onnotice: () => {},
    });
    try {
      return await work(sql);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  /** Starts the server (again), waiting until it accepts connections. */
  async startServer(): Promise<void> {
    try {
      await this.#run("pg_ctl", [
        "-D",
        `${this.#dir}/data`,
        "-l",
        `${this.#dir}/log`,
        "-w",
        "-t",
        "30",
        "-o",
        `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1`,
        "start",
      ]);
    } catch (error) {
      const log = await Deno.readTextFile(`${this.#dir}/log`).catch(() => "");
      throw new Error(
        `${(error as Error).message}\nits log ends:\n${log.split("\n").slice(-15).join("\n")}`,
      );
    }
  }

  /**
   * Stops the server: `fast` as an administrator would, `immediate` as a
   * crash (no checkpoint; what was committed must be replayed from the WAL).
   */
  async stopServer(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await this.#run("pg_ctl", ["-D", `${this.#dir}/data`, "-m", mode, "-w", "stop"]);
  }

  /**
   * `kill -9` of PostgreSQL: the postmaster and every process it started, at
   * once, as a crash of its machine would; the next start replays the WAL.
   */
  async kill9(): Promise<void> {
    const pids = await this.#processes();
    for (const pid of pids) signal(pid, "SIGKILL");
    // Gone once a signal finds none of them (ESRCH); unreaped zombies may stay, for at most 5 s.
    const deadline = Date.now() + 5_000;
    while (pids.some((pid) => signal(pid, "SIGKILL")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // A zombie postmaster not yet reaped would look alive to the next start's lock-file checks.
    for (const lock of ["data/postmaster.pid", `.s.PGSQL.${this.port}.lock`]) {
      await Deno.remove(`${this.#dir}/${lock}`).catch(() => {});
    }
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) all of PostgreSQL: a database that takes requests and never answers. */
  async freeze(frozen: boolean): Promise<void> {
    if (frozen) this.#frozen = await this.#processes();
    for (const pid of this.#frozen) signal(pid, frozen ? "SIGSTOP" : "SIGCONT");
  }

  /**
   * The postmaster and every process it started (each in a session of its
   * own, so no process group holds them all), as PostgreSQL lists them;
   * asked with psql, since reading /proc needs --allow-all.
   */
  async #processes(): Promise<number[]> {
    const postmaster = (await Deno.readTextFile(`${this.#dir}/data/postmaster.pid`)).split("\n")[0];
    const socket = ["-h", this.#dir, "-p", String(this.port), "-U", USER, "-d", "postgres"];
    const listed = await this.#capture("psql", [
      ...socket,
      "-At",
      "-c",
      "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    ]);
    return [postmaster, ...listed.split("\n")].filter((line) => /^\d+$/.test(line ?? ""))
      .map(Number);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stopServer("immediate").catch(() => {});
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  async #run(tool: string, args: string[]): Promise<void> {
    await this.#capture(tool, args);
  }

  #capture(tool: string, args: string[]): Promise<string> {
    const path = `${this.#bin}/${tool}`;
    return this.#asRoot
      ? capture("runuser", ["-u", USER, "--", path, ...args])
      : capture(path, args);
  }
}

/** Sends `name` to `pid`; false when there is no such process any more. */
function signal(pid: number, name: Deno.Signal): boolean {
  try {
    Deno.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

async function exec(cmd: string, args: string[]): Promise<void> {
  await capture(cmd, args);
}

/** Runs `cmd`; its stdout, or an error with everything it printed. */
async function capture(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + stdout;
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${text}`);
  }
  return stdout;
}
