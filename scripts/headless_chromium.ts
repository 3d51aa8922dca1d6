/**
 * Debian's chromium, headless, driven over the DevTools protocol (a
 * WebSocket): the live page's browser test and scripts/screenshot.ts. Never
 * a browser download: `.ci/run` installs the `chromium` package when it is
 * missing.
 *
 * Why not playwright-core: it works under Deno only with `--allow-all` (it
 * reads /proc/sys/fs/binfmt_misc, which Deno grants to nothing less), and
 * `deno task test` runs without it. The few protocol calls the tests need
 * (open a tab, navigate, evaluate, take a screenshot) are below.
 */
import { deadline } from "@std/async/deadline";

/** Where Debian's package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** No sandbox (CI runs as root), no GPU, and nothing fetched from the network on its own. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-quic",
  "--no-first-run",
  "--disable-sync",
  "--remote-debugging-address=127.0.0.1",
  "--remote-debugging-port=0",
];
/** Every wait on the browser ends by then, saying what it waited for. */
const TIMEOUT_MS = 30_000;

/** A page's size in CSS pixels. */
export interface Viewport {
  width: number;
  height: number;
}

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  method: string;
}

/** A headless chromium and its DevTools connection; `await using` closes both. */
export class Chromium implements AsyncDisposable {
  readonly #process: Deno.ChildProcess;
  readonly #socket: WebSocket;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(method: string, sessionId: string | undefined) => void>();
  #nextId = 1;

  private constructor(process: Deno.ChildProcess, socket: WebSocket, profile: string) {
    this.#process = process;
    this.#socket = socket;
    this.#profile = profile;
    socket.onmessage = (event) => this.#receive(JSON.parse(String(event.data)));
  }

  /** Starts the browser and connects to it. */
  static async launch(): Promise<Chromium> {
    try {
      await Deno.stat(CHROMIUM);
    } catch {
      throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
    }
    const profile = await Deno.makeTempDir({ prefix: "switchboard-chromium-" });
    const process = new Deno.Command(CHROMIUM, {
      args: [...ARGS, `--user-data-dir=${profile}`, "about:blank"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const url = await deadline(devToolsUrl(process.stderr), TIMEOUT_MS).catch((error: unknown) => {
      process.kill("SIGKILL");
      throw new Error(`chromium did not print its DevTools address: ${error}`);
    });
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot connect to chromium at ${url}`));
    });
    return new Chromium(process, socket, profile);
  }

  /** A new tab of `viewport` size (default 1280 × 800). */
  async newPage(viewport: Viewport = { width: 1280, height: 800 }): Promise<CdpPage> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new CdpPage(this, String(sessionId), String(targetId));
    await page.send("Page.enable");
    await page.resize(viewport);
    return page;
  }

  /** One protocol call (on a tab's session when `sessionId` is given). */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const message = { id, method, params, ...(sessionId ? { sessionId } : {}) };
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
    });
    this.#socket.send(JSON.stringify(message));
    return deadline(reply, TIMEOUT_MS).catch((error: unknown) => {
      this.#pending.delete(id);
      throw new Error(`chromium did not answer ${method}: ${error}`);
    });
  }

  /** Resolves at the next event `method` of session `sessionId`. */
  event(method: string, sessionId: string): Promise<void> {
    const seen = new Promise<void>((resolve) => {
      const listener = (name: string, session: string | undefined) => {
        if (name !== method || session !== sessionId) return;
        this.#listeners.delete(listener);
        resolve();
      };
      this.#listeners.add(listener);
    });
    return deadline(seen, TIMEOUT_MS).catch(() => {
      throw new Error(`no ${method} from chromium within ${TIMEOUT_MS} ms`);
    });
  }

  #receive(message: {
    id?: number;
    method?: string;
    sessionId?: string;
    result?: Record<string, unknown>;
    error?: { message: string };
  }): void {
    if (message.id === undefined) {
      for (const listener of [...this.#listeners]) {
        listener(message.method ?? "", message.sessionId);
      }
      return;
    }
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    if (message.error) pending.reject(new Error(`${pending.method}: ${message.error.message}`));
    else pending.resolve(message.result ?? {});
  }

  /** Closes the browser and removes its profile. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#socket.close();
    } catch { /* closed */ }
    try {
      this.#process.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#process.status;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** One tab. */
export class CdpPage {
  constructor(
    readonly browser: Chromium,
    readonly sessionId: string,
    readonly targetId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Loads `url` and waits for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = this.browser.event("Page.loadEventFired", this.sessionId);
    const { errorText } = await this.send("Page.navigate", { url });
    if (errorText) throw new Error(`cannot load ${url}: ${errorText}`);
    await loaded;
  }

  /** The value of a JavaScript expression evaluated in the page (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    }) as { result?: { value: T }; exceptionDetails?: { text: string } };
    if (exceptionDetails) throw new Error(`the page threw: ${exceptionDetails.text}`);
    return result!.value;
  }

  /** Sets the viewport (a width under 600 px emulates a phone). */
  async resize(viewport: Viewport): Promise<void> {
    await this.send("Emulation.setDeviceMetricsOverride", {
      ...viewport,
      deviceScaleFactor: 1,
      mobile: viewport.width < 600,
    });
  }

  /** A PNG of the viewport, or of the whole page with `fullPage`. */
  async screenshot(path: string, options: { fullPage?: boolean } = {}): Promise<void> {
    if (options.fullPage) {
      const width = await this.evaluate<number>("document.documentElement.clientWidth");
      const height = await this.evaluate<number>("document.documentElement.scrollHeight");
      await this.resize({ width, height });
    }
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    await Deno.writeFile(path, Uint8Array.from(atob(String(data)), (c) => c.charCodeAt(0)));
  }

  /** Closes the tab. */
  async close(): Promise<void> {
    await this.browser.send("Target.closeTarget", { targetId: this.targetId });
  }
}

/** The `ws://…` address chromium prints on stderr once it listens. */
async function devToolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`chromium exited: ${text.slice(-500)}`);
    text += value;
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(text);
    if (match) {
      // The rest of its stderr is drained so that chromium never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* dropped */ }
      })().catch(() => {});
      return match[1]!;
    }
  }
}
