/**
 * `deno task screenshot`: the live page (docs/observability.md#live-view) with a small
 * demo load, saved as PNG into docs/ — one wide (docs/live_page.png) and one
 * phone-sized (docs/live_page_phone.png) — so that the pictures in the docs
 * can be made again after the page changes. Needs Debian's chromium
 * (scripts/headless_chromium.ts).
 *
 * The load: `--max-running 3`; Ada runs a slow COUNT, Grace sends a steady
 * stream of PING, CALC and KV SET, Linus has said HELLO and waits; three
 * more clients wait in the queue.
 */
import { delay } from "@std/async/delay";
import { writeAll } from "../lib/io.ts";
import { NET_THREAD_PERMISSION } from "../lib/server/net_thread.ts";
import { DENO, freePort, REPO_ROOT, waitListening } from "./bench/system.ts";
import { Chromium } from "./headless_chromium.ts";

const encoder = new TextEncoder();
/** How long the load runs before the pictures are taken: long enough for rates and waits. */
const WARM_UP_MS = 2_500;

/** A client that sends `lines` and reads (and drops) whatever comes back. */
async function client(port: number, lines: string[]): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (lines.length > 0) await writeAll(conn, encoder.encode(lines.join("\n") + "\n"));
  conn.readable.pipeTo(new WritableStream()).catch(() => {});
  return conn;
}

async function main(): Promise<void> {
  const port = freePort();
  const metricsPort = freePort();
  const dir = await Deno.makeTempDir({ prefix: "switchboard-screenshot-" });
  const server = new Deno.Command(DENO, {
    args: [
      "run",
      "--unstable-kv",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      NET_THREAD_PERMISSION,
      `${REPO_ROOT}/server.ts`,
      String(port),
      "3",
      "--metrics-port",
      String(metricsPort),
      "--data",
      `${dir}/data`,
      "--root",
      `${dir}/files`,
      "-q",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const conns: Deno.Conn[] = [];
  let steady: ReturnType<typeof setInterval> | undefined;
  try {
    await waitListening(port, server);
    conns.push(await client(port, ["HELLO Ada 1001 ada", "COUNT 0 1000 20"]));
    const grace = await client(port, ["HELLO Grace 1002 grace"]);
    conns.push(grace);
    conns.push(await client(port, ["HELLO Linus 1003 linus"]));
    await delay(100);
    for (const id of [1004, 1005, 1006]) {
      conns.push(await client(port, [`HELLO Student${id} ${id} s${id}`]));
      await delay(300);
    }
    let n = 0;
    steady = setInterval(() => {
      const batch = [];
      for (let i = 0; i < 40; i++, n++) {
        batch.push("PING", `CALC mul ${n} 7`, `KV SET demo:${n % 50} ${n}`);
      }
      writeAll(grace, encoder.encode(batch.join("\n") + "\n")).catch(() => {});
    }, 50);
    await delay(WARM_UP_MS);
    await using browser = await Chromium.launch();
    const url = `http://127.0.0.1:${metricsPort}/`;
    for (
      const [file, viewport] of [
        ["live_page.png", { width: 1280, height: 860 }],
        ["live_page_phone.png", { width: 390, height: 844 }],
      ] as const
    ) {
      const page = await browser.newPage(viewport);
      await page.goto(url);
      await delay(1_500); // a second of samples, so that the rates are there
      const filled = await page.evaluate<number>(
        `document.querySelectorAll("#slots li.filled").length`,
      );
      if (filled !== 3) throw new Error(`the page shows ${filled} running clients, not 3`);
      const path = `${REPO_ROOT}/docs/${file}`;
      await page.screenshot(path, { fullPage: file.includes("phone") });
      console.log(`saved ${path}`);
      await page.close();
    }
  } finally {
    clearInterval(steady);
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    server.kill("SIGTERM");
    await server.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
