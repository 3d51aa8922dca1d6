/**
 * The HAProxy setup of docs/several-servers.md#behind-haproxy, read from
 * that page, so that the end-to-end test (tests/haproxy.ts) and the bench
 * (scripts/bench/rows/haproxy.ts) run exactly what a reader copies.
 */

const DOC = new URL("../docs/several-servers.md", import.meta.url);
/** The ports the page uses: HAProxy's, the two servers', their metrics ports. */
export const DOC_PORTS = ["12000", "12001", "12002", "9101", "9102"] as const;
/** Where Debian installs HAProxy, which a non-root PATH may lack; else whatever PATH finds. */
export const HAPROXY_PATHS = ["/usr/sbin/haproxy", "haproxy"] as const;

/** The page's configuration, as text: the haproxy.cfg block and the server command lines. */
export function documentedSetup(): { haproxyConfig: string; serverArgs: string[][] } {
  const page = Deno.readTextFileSync(DOC);
  const section = page.slice(page.indexOf("## Behind HAProxy"));
  const block = (language: string) => {
    const match = new RegExp("```" + language + "\\n([\\s\\S]*?)```").exec(section);
    if (match === null) throw new Error(`no \`\`\`${language} block under "Behind HAProxy"`);
    return match[1]!;
  };
  const serverArgs = block("sh").split("\n")
    .filter((line) => line.startsWith("deno task server --"))
    .map((line) => line.replace(/#.*$/, "").trim().split(/\s+/).slice(3));
  if (serverArgs.length !== 2) throw new Error("expected two `deno task server` lines");
  return { haproxyConfig: block("haproxy"), serverArgs };
}

/** `config` with each of the page's ports replaced by `port(documented)`. */
export function withPorts(config: string, port: (documented: string) => number): string {
  return config.replaceAll(
    new RegExp(`\\b(${DOC_PORTS.join("|")})\\b`, "g"),
    (documented) => String(port(documented)),
  );
}

/** The HAProxy binary to run: the first of {@linkcode HAPROXY_PATHS} that answers `-v`, or undefined. */
export async function findHaproxy(): Promise<string | undefined> {
  for (const path of HAPROXY_PATHS) {
    try {
      const { success } = await new Deno.Command(path, { args: ["-v"], stdout: "null" }).output();
      if (success) return path;
    } catch {
      // not there: try the next
    }
  }
  return undefined;
}
