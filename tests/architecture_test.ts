/**
 * The import graph of lib/, as `deno info --json` resolves it (`import type`
 * included): no module imports itself through others, and arrows point
 * only down a floor (docs/architecture.md#layout). The wire format
 * (lib/protocol/) and what both programs share (lib/*.ts) know nothing of
 * either program; the client and the server do not import each other.
 */
import { assertEquals } from "@std/assert";
import { repoPath, run, tempDir } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url).href;

/** One import: `from` imports `to` (paths relative to the repository), at run time or for types. */
interface Arrow {
  from: string;
  to: string;
  kind: "code" | "type";
}

/** Every import between lib/ modules. */
async function importGraph(): Promise<Arrow[]> {
  const modules: string[] = [];
  for await (const path of walk(repoPath("lib"))) modules.push(path);
  await using scratch = await tempDir();
  const all = `${scratch.path}/all.ts`;
  await Deno.writeTextFile(all, modules.map((path) => `import "file://${path}";\n`).join(""));
  const info = await run(Deno.execPath(), [
    "info",
    "--json",
    "--config",
    repoPath("deno.json"),
    all,
  ]);
  assertEquals(info.code, 0, info.stderr);
  const graph: {
    modules: Array<{
      specifier: string;
      dependencies?: Array<{ code?: { specifier: string }; type?: { specifier: string } }>;
    }>;
  } = JSON.parse(info.stdout);
  const inLib = (specifier: string | undefined) =>
    specifier?.startsWith(`${ROOT}lib/`) ? specifier.slice(ROOT.length) : undefined;
  const arrows: Arrow[] = [];
  for (const module of graph.modules) {
    const from = inLib(module.specifier);
    if (from === undefined) continue;
    for (const dependency of module.dependencies ?? []) {
      for (const kind of ["code", "type"] as const) {
        const to = inLib(dependency[kind]?.specifier);
        if (to !== undefined) arrows.push({ from, to, kind });
      }
    }
  }
  return arrows;
}

/** The .ts files under `dir`, recursively. */
async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The floor a module lives on: `server`, `client`, `protocol`, … or `top` for lib/*.ts. */
function floor(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? parts[1]! : "top";
}

/** Every cycle's modules (strongly connected components of more than one, or a self-import). */
function cycles(arrows: readonly Arrow[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of arrows) next.set(from, [...next.get(from) ?? [], to]);
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!;; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || next.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The arrows that point where they may not. */
function wrongWay(arrows: readonly Arrow[]): string[] {
  const programs = ["server", "client", "bench"];
  return arrows.filter(({ from, to }) => {
    const [a, b] = [floor(from), floor(to)];
    if ((a === "protocol" || a === "top") && programs.includes(b)) return true;
    return (a === "client" && b === "server") || (a === "server" && b === "client");
  }).map(({ from, to, kind }) => `${from} -> ${to} (${kind})`);
}

Deno.test("lib/ has no import cycle and no arrow from the shared floors or between the programs", async () => {
  const arrows = await importGraph();
  // The graph is really there: a protocol module and a server module with their imports.
  assertEquals(arrows.some((a) => a.from === "lib/protocol/mod.ts"), true);
  assertEquals(arrows.some((a) => a.from === "lib/server/server.ts" && a.kind === "code"), true);
  assertEquals(cycles(arrows), []);
  assertEquals(wrongWay(arrows), []);
});

Deno.test("the architecture checks find a cycle and an arrow the wrong way when there is one", () => {
  const arrows: Arrow[] = [
    { from: "lib/protocol/framing.ts", to: "lib/server/connection/buffer_pool.ts", kind: "type" },
    { from: "lib/io.ts", to: "lib/client/output.ts", kind: "code" },
    { from: "lib/client/shell.ts", to: "lib/server/log.ts", kind: "code" },
    { from: "lib/server/server.ts", to: "lib/client/args.ts", kind: "code" },
    { from: "lib/jobs/a.ts", to: "lib/jobs/b.ts", kind: "code" },
    { from: "lib/jobs/b.ts", to: "lib/commands/c.ts", kind: "code" },
    { from: "lib/commands/c.ts", to: "lib/jobs/a.ts", kind: "type" },
    { from: "lib/server/server.ts", to: "lib/protocol/mod.ts", kind: "code" },
  ];
  assertEquals(cycles(arrows), [["lib/commands/c.ts", "lib/jobs/a.ts", "lib/jobs/b.ts"]]);
  assertEquals(wrongWay(arrows), [
    "lib/protocol/framing.ts -> lib/server/connection/buffer_pool.ts (type)",
    "lib/io.ts -> lib/client/output.ts (code)",
    "lib/client/shell.ts -> lib/server/log.ts (code)",
    "lib/server/server.ts -> lib/client/args.ts (code)",
  ]);
});
