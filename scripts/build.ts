/**
 * Release builds (docs/architecture.md, docs/build.md), run as `deno task compile` and `deno task bundle`:
 *
 * - `compile [OUTDIR]`: `deno compile` of the server and the client for every
 *   target into OUTDIR (default `dist/`), with the narrowest permissions
 *   embedded and the version from deno.json in the file names.
 * - `bundle [OUTDIR]`: `deno bundle --platform deno` single-file builds of
 *   both, which need no network to build and run with `deno run`.
 *
 * `deno compile` downloads Deno's runtime (denort) for each target; where
 * that cannot be reached the task says so in one line and points at the
 * bundle instead of printing Deno's error chain.
 */
import project from "../deno.json" with { type: "json" };
import { CLIENT_ENV_PERMISSION } from "../lib/client/environment.ts";
import { SERVER_RUN_FLAGS } from "../lib/server/environment.ts";

const ROOT = new URL("..", import.meta.url);

/** Every platform we ship, as `deno compile --target` names it. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** What each executable is built from and may do: network and files, never -A, run or ffi. */
export const EXECUTABLES = [
  {
    name: "switchboard-server",
    entry: "server.ts",
    permissions: SERVER_RUN_FLAGS,
  },
  {
    name: "switchboard-client",
    entry: "client.ts",
    permissions: ["--allow-net", "--allow-read", "--allow-write", CLIENT_ENV_PERMISSION],
  },
] as const;

const decoder = new TextDecoder();

async function deno(args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT.pathname,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  return { ok: out.success, stderr: decoder.decode(out.stderr) };
}

/** The download of denort failed: Deno's error names the release URL and the base binary step. */
function isRuntimeDownloadFailure(stderr: string): boolean {
  return /dl\.deno\.land|denort|Setting up base binary/.test(stderr) &&
    /error sending request|dns error|Connect|timed out|404/i.test(stderr);
}

async function compile(outDir: string): Promise<number> {
  await Deno.mkdir(outDir, { recursive: true });
  for (const target of TARGETS) {
    for (const exe of EXECUTABLES) {
      const suffix = target.includes("windows") ? ".exe" : "";
      const output = `${outDir}/${exe.name}-${project.version}-${target}${suffix}`;
      console.error(`compile ${exe.entry} → ${output}`);
      const result = await deno([
        "compile",
        "--no-prompt",
        ...exe.permissions,
        "--target",
        target,
        "--output",
        output,
        exe.entry,
      ]);
      if (result.ok) continue;
      if (isRuntimeDownloadFailure(result.stderr)) {
        console.error(
          `error: deno compile could not download Deno's runtime for ${target} ` +
            `(dl.deno.land is unreachable); run \`deno task bundle\` for offline single-file builds`,
        );
      } else {
        console.error(result.stderr.trimEnd());
        console.error(`error: deno compile failed for ${exe.entry} (${target})`);
      }
      return 1;
    }
  }
  console.error(`built ${TARGETS.length * EXECUTABLES.length} executables in ${outDir}`);
  return 0;
}

async function bundle(outDir: string): Promise<number> {
  await Deno.mkdir(outDir, { recursive: true });
  for (const exe of EXECUTABLES) {
    const output = `${outDir}/${exe.name}.js`;
    const result = await deno(["bundle", "--quiet", "--platform", "deno", "-o", output, exe.entry]);
    if (!result.ok) {
      console.error(result.stderr.trimEnd());
      console.error(`error: deno bundle failed for ${exe.entry}`);
      return 1;
    }
    console.error(
      `bundled ${exe.entry} → ${output}; run: deno run ${exe.permissions.join(" ")} ${output}`,
    );
  }
  return 0;
}

if (import.meta.main) {
  const [mode, outDir = new URL("dist", ROOT).pathname] = Deno.args;
  if (mode === "compile") Deno.exit(await compile(outDir));
  if (mode === "bundle") Deno.exit(await bundle(outDir));
  console.error("usage: deno run -A scripts/build.ts compile|bundle [OUTDIR]");
  Deno.exit(2);
}
