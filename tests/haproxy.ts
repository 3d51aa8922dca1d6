/**
 * Two switchboard servers behind a real HAProxy, set up exactly as
 * docs/several-servers.md#behind-haproxy says: its `haproxy.cfg` block and
 * its server command lines are read from that page, with free ports and a
 * scratch folder put in for the ones it names. `await using` stops
 * HAProxy and both servers and removes the folder.
 */
import { TestClient, TestServer } from "./helpers.ts";
import { ADA, authLine, writeUsers } from "./users_fixtures.ts";
import { unusedPorts } from "./ports.ts";
import { DOC_PORTS, documentedSetup, findHaproxy, withPorts } from "./haproxy_config.ts";

/** Options of the page's server commands whose values are paths (made absolute in the scratch folder). */
const PATH_OPTIONS = new Set(["--users", "--data", "--root"]);

/** Options of {@linkcode HaproxySetup.start}. */
export interface SetupOptions {
  /** The `--store` URL that replaces the page's (a test cluster's database, tests/postgres.ts). */
  store: string;
  /** Added to both servers' command lines (e.g. `--max-per-ip 1`). */
  serverArgs?: string[];
}

/** HAProxy on `port` in front of `servers`, all as the page configures them. */
export class HaproxySetup {
  /** The `server` names of the page's backend, in the order of {@linkcode servers}. */
  static readonly NAMES = ["one", "two"] as const;
  /** HAProxy's port: where clients connect. */
  readonly port: number;
  readonly servers: TestServer[];
  /** The servers' metrics ports (their `/healthz`), in the order of {@linkcode servers}. */
  readonly metricsPorts: number[] = [];
  readonly #haproxy: Deno.ChildProcess;
  /** HAProxy's stderr lines so far (it reports servers going DOWN and UP there). */
  readonly haproxyLog: string[] = [];
  readonly #haproxyLogDone: Promise<void>;
  readonly #dir: string;

  private constructor(
    port: number,
    servers: TestServer[],
    haproxy: Deno.ChildProcess,
    dir: string,
  ) {
    this.port = port;
    this.servers = servers;
    this.#haproxy = haproxy;
    this.#dir = dir;
    this.#haproxyLogDone = (async () => {
      let partial = "";
      for await (const chunk of haproxy.stderr.pipeThrough(new TextDecoderStream())) {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop()!;
        this.haproxyLog.push(...lines);
      }
      if (partial) this.haproxyLog.push(partial);
    })();
  }

  /** Resolves when HAProxy has logged a line matching `pattern`; throws with its log after `timeoutMs`. */
  async waitForHaproxyLog(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.haproxyLog.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (Date.now() > deadline) {
        throw new Error(
          `HAProxy logged nothing matching ${pattern}:\n${this.haproxyLog.join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Writes the users file, starts both servers, then HAProxy, and waits until it accepts. */
  static async start(options: SetupOptions): Promise<HaproxySetup> {
    const { haproxyConfig, serverArgs } = documentedSetup();
    const free = unusedPorts(DOC_PORTS.length);
    const ports = new Map(DOC_PORTS.map((documented, i) => [documented, free[i]!]));
    const port = (documented: string) => String(ports.get(documented as typeof DOC_PORTS[number]));
    const dir = await Deno.makeTempDir({ prefix: "switchboard-haproxy-" });
    const servers: TestServer[] = [];
    try {
      await writeUsers(`${dir}/users.passwd`, [ADA]);
      for (const args of serverArgs) {
        const local = args.map((word, i) => {
          if (ports.has(word as typeof DOC_PORTS[number])) return port(word);
          if (word.startsWith("postgres://")) return options.store;
          return PATH_OPTIONS.has(args[i - 1] ?? "") ? `${dir}/${word}` : word;
        });
        servers.push(
          await TestServer.start([...local, ...options.serverArgs ?? []], {
            positional: true,
            dir,
          }),
        );
      }
      const config = withPorts(haproxyConfig, (documented) => Number(port(documented)));
      await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
      const binary = await findHaproxy();
      if (binary === undefined) throw new Error("no haproxy: .ci/run installs Debian's haproxy");
      const haproxy = new Deno.Command(binary, {
        args: ["-db", "-f", `${dir}/haproxy.cfg`],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const setup = new HaproxySetup(Number(port("12000")), servers, haproxy, dir);
      setup.metricsPorts.push(Number(port("9101")), Number(port("9102")));
      await setup.#waitForHaproxy();
      return setup;
    } catch (error) {
      for (const server of servers) await server[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Polls HAProxy's port until it accepts; fails with HAProxy's output if it exited. */
  async #waitForHaproxy(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port })).close();
        return;
      } catch {
        if (Date.now() > deadline) {
          throw new Error(`HAProxy did not accept on ${this.port} within 10 s`);
        }
        const exited = await Promise.race([
          this.#haproxy.status.then((s) => s),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
        ]);
        if (exited !== undefined) {
          await this.#haproxyLogDone;
          throw new Error(`HAProxy exited (${exited.code}):\n${this.haproxyLog.join("\n")}`);
        }
      }
    }
  }

  /** `/healthz` of server `index`: status and body. */
  async health(index: number): Promise<[number, string]> {
    const response = await fetch(`http://127.0.0.1:${this.metricsPorts[index]}/healthz`);
    return [response.status, await response.text()];
  }

  /** A client through HAProxy from `from` (127.0.0.2 etc.: a distinct client), signed in as ada. */
  async client(from: string): Promise<TestClient> {
    const client = await TestClient.connectFrom(this.port, from);
    const welcome = await client.ask(authLine(ADA));
    if (welcome !== "OK welcome ada write") {
      client.close();
      throw new Error(`AUTH through HAProxy from ${from} answered ${JSON.stringify(welcome)}`);
    }
    return client;
  }

  /**
   * WHO of `server`, asked over a direct connection from 127.0.0.9 (not
   * HAProxy's address, so an ordinary client, with no PROXY header).
   */
  async who(server: TestServer): Promise<string[]> {
    using direct = await TestClient.connectFrom(server.port, "127.0.0.9");
    await direct.ask(authLine(ADA));
    const who = await direct.ask("WHO");
    return who.split("\n").slice(1).filter((line) => !line.includes(" 127.0.0.9:"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#haproxy.kill("SIGTERM");
    } catch { /* already gone */ }
    await this.#haproxy.status;
    await this.#haproxyLogDone;
    for (const server of this.servers) await server[Symbol.asyncDispose]();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
