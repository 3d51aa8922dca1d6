/**
 * Debian's chromium, headless, driven with playwright-core: the live page's
 * browser test and scripts/screenshot.ts. Never a browser download:
 * `.ci/run` installs the `chromium` package when it is missing.
 */
import { type Browser, chromium } from "playwright-core";

/** Where Debian's package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** No sandbox (CI runs as root), no GPU, and nothing fetched from the network on its own. */
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-quic",
  "--no-first-run",
  "--disable-sync",
];

/** A headless chromium; `await using` closes it. */
export async function launchChromium(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}
