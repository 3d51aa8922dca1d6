/**
 * The live page, `GET /` on the metrics port (docs/observability.md#live-view): one
 * HTML file with its style and script inline, nothing loaded from anywhere
 * else, so it works offline and behind any firewall. Its data comes from
 * `/events` (live_stream.ts).
 *
 * The Content-Security-Policy allows exactly this page's own style and
 * script (by their hashes) and a connection back to the same origin: even a
 * bug that put a client's text into the page as HTML could run nothing.
 */
import { createHash } from "node:crypto";
import { LIVE_PAGE_SCRIPT } from "./live_page_script.ts";

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5b6570; --line: #d0d7de;
  --bg: #ffffff; --panel: #f6f8fa; --run: #1a7f37; --run-bg: #dafbe1; --wait: #9a6700;
  --wait-bg: #fff8c5; --lost: #cf222e; --lost-bg: #ffebe9; --focus: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --bg: #0d1117; --panel: #151b23;
    --run: #3fb950; --run-bg: #12261e; --wait: #d29922; --wait-bg: #272115; --lost: #f85149;
    --lost-bg: #2d1517; --focus: #4493f8; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center;
  padding: .75rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 1rem; margin: 0 0 .5rem; }
.status { margin: 0; padding: .15rem .6rem; border-radius: 1rem; border: 1px solid var(--line); }
.status.live { color: var(--run); background: var(--run-bg); }
.status.note { color: var(--wait); background: var(--wait-bg); }
.status.lost { color: var(--lost); background: var(--lost-bg); }
button { font: inherit; padding: .2rem .8rem; border: 1px solid var(--line); border-radius: .4rem;
  background: var(--bg); color: var(--fg); cursor: pointer; margin-left: auto; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
main { display: grid; gap: 1rem; padding: 1rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 60rem) {
  main { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
  #connections-section { grid-column: 1 / -1; }
}
section { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem; min-width: 0; }
.count { color: var(--muted); font-weight: normal; }
ol { list-style: none; margin: 0; padding: 0; }
.slots { display: grid; gap: .4rem; grid-template-columns: repeat(auto-fill, minmax(7.5rem, 1fr)); }
.slot { border-radius: .4rem; padding: .35rem .5rem; min-height: 2.4rem; overflow-wrap: anywhere; }
.slot.filled { background: var(--run-bg); border: 2px solid var(--run); }
.slot.free { border: 2px dashed var(--line); color: var(--muted); }
.queue { display: flex; flex-direction: column; gap: .3rem; counter-reset: place; }
.waiting { display: flex; flex-wrap: wrap; gap: 0 .75rem; justify-content: space-between;
  background: var(--wait-bg); border-left: 4px solid var(--wait); padding: .3rem .5rem;
  counter-increment: place; overflow-wrap: anywhere; }
.waiting::before { content: counter(place) "."; color: var(--wait); font-weight: bold; }
.waiting .who { flex: 1; }
.wait, .none, .note { color: var(--muted); }
.name { font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .25rem .4rem; border-bottom: 1px solid var(--line);
  white-space: nowrap; }
td { overflow-wrap: anywhere; }
tbody th { font-weight: normal; font-family: ui-monospace, monospace; }
.num td, .num th:not(:first-child) { text-align: right; }
tr.running td:nth-child(3) { color: var(--run); font-weight: 600; }
tr.queued td:nth-child(3) { color: var(--wait); font-weight: 600; }
.busy { font-weight: 600; }
.note { margin: .4rem 0 0; min-height: 1.2em; }
footer { padding: 0 1rem 1rem; color: var(--muted); }
@media (max-width: 40rem) {
  main { padding: .5rem; gap: .5rem; }
  section { padding: .5rem; }
  table { font-size: .85rem; }
  th, td { padding: .2rem .3rem; }
}
`;

const BODY = `
<header>
  <h1>switchboard live</h1>
  <p id="status" class="status" role="status" aria-live="polite">Connecting…</p>
  <button id="pause" type="button" aria-pressed="false">Pause</button>
</header>
<main>
  <section aria-labelledby="running-title">
    <h2 id="running-title">Running <span class="count" id="running-count"></span></h2>
    <ol id="slots" class="slots" aria-label="running slots"></ol>
    <p class="note" id="slots-more"></p>
  </section>
  <section aria-labelledby="queue-title">
    <h2 id="queue-title">Queue, first in line first <span class="count" id="queued-count"></span></h2>
    <ol id="queue" class="queue" aria-label="queue in order"></ol>
    <p class="note" id="queue-note"></p>
  </section>
  <section id="connections-section" aria-labelledby="connections-title">
    <h2 id="connections-title">Connections</h2>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="connections-title">
      <table>
        <thead><tr><th scope="col">id</th><th scope="col">address</th><th scope="col">state</th>
          <th scope="col">name</th><th scope="col">command</th><th scope="col">in this state</th></tr></thead>
        <tbody id="connections"></tbody>
      </table>
    </div>
    <p class="note" id="connections-more"></p>
  </section>
  <section aria-labelledby="counters-title">
    <h2 id="counters-title">Counters</h2>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="counters-title">
      <table class="num">
        <thead><tr><th scope="col">STATS key</th><th scope="col">value</th><th scope="col">per second</th></tr></thead>
        <tbody id="counters"></tbody>
      </table>
    </div>
  </section>
  <section aria-labelledby="latency-title">
    <h2 id="latency-title">Latency by command, over the last 10 seconds</h2>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="latency-title">
      <table class="num">
        <thead><tr><th scope="col">command</th><th scope="col">per second</th><th scope="col">p50</th>
          <th scope="col">p90</th><th scope="col">p99</th><th scope="col">all requests</th></tr></thead>
        <tbody id="latency"></tbody>
      </table>
    </div>
    <p class="note" id="latency-note"></p>
  </section>
</main>
<footer>
  <p id="updated"></p>
  <p id="paused" role="status"></p>
  <p>Percentiles are the upper bound of the histogram bucket they fall in (as in /metrics), over
  the requests answered in the last 10 seconds (or since the page opened, if that is shorter).
  Counter rates are over the last second. The same numbers: <a href="/metrics">/metrics</a>,
  <code>switchboard-client top</code>.</p>
</footer>
`;

function sha256Source(text: string): string {
  return `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
}

/** The whole page. */
export const LIVE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchboard live</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${LIVE_PAGE_SCRIPT}</script>
</body>
</html>
`;

/** Response headers of the page: its own style and script only, data from its own origin. */
export const LIVE_PAGE_HEADERS: readonly string[] = [
  "content-security-policy: default-src 'none'; " +
  `style-src ${sha256Source(STYLE)}; script-src ${sha256Source(LIVE_PAGE_SCRIPT)}; ` +
  "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "cache-control: no-store",
  "x-content-type-options: nosniff",
  "referrer-policy: no-referrer",
];
