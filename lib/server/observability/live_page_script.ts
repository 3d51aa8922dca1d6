/**
 * The live page's script (docs/observability.md#live-view), inlined into the page
 * by live_page.ts. It opens `/events` once and draws each sample; every
 * text from the server goes in with `textContent` (never as HTML), and
 * names sit in `<bdi>` so that a right-to-left override in one cannot
 * reorder the rest of its row.
 *
 * Honest by construction: what is drawn is the last sample, rebuilt
 * whole, so a connection that closed is simply not there; nothing moves
 * unless the server said so, and a stale or lost stream is said in words.
 */
export const LIVE_PAGE_SCRIPT = String.raw`
"use strict";
const $ = (id) => document.getElementById(id);
/** Slots drawn at most; a larger --max-running is summed up below them. */
const MAX_SLOTS = 256;
/** Queue entries drawn at most. */
const MAX_QUEUE = 100;
/** Latency percentiles are over the requests of this many milliseconds. */
const LATENCY_WINDOW_MS = 10000;
/** Counters that are gauges: shown without a rate. */
const GAUGES = new Set(["uptime_s", "max_running", "running", "queued", "workers", "threads",
  "jobs_running", "jobs_queued"]);

let source;
let latest;
let history = [];
/** Samples of the last LATENCY_WINDOW_MS, oldest first: the latency window starts at the first. */
let windowed = [];
let startedAt;
let lostAt = 0;
let lastAt = 0;
let paused = false;
let stale = false;
let retry;
/** Connection id -> slot index: a client keeps its slot while it runs, as it does on the server. */
const slotOf = new Map();

function say(kind, text) {
  const status = $("status");
  status.className = "status " + kind;
  status.textContent = text;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function duration(ms) {
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function bound(ms) {
  if (ms === null) return "> 10 s";
  return ms >= 1000 ? "≤ " + ms / 1000 + " s" : "≤ " + ms + " ms";
}

function milliseconds(ms) {
  if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 0 : 1) + " s";
  return ms.toFixed(ms >= 100 ? 0 : ms >= 10 ? 1 : 2) + " ms";
}

function count(n) {
  return n.toLocaleString("en-US");
}

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) node.append(child);
  return node;
}

function who(row) {
  const label = el("span", "who", "#" + row.id);
  if (row.name !== null) label.append(" ", el("bdi", "name", row.name));
  return label;
}

function connect() {
  clearTimeout(retry);
  source = new EventSource("/events");
  source.onmessage = (event) => receive(JSON.parse(event.data));
  source.onerror = () => {
    if (lostAt === 0) {
      lostAt = Date.now();
      say("lost", "Connection to the server lost at " + clock(lostAt) + "; reconnecting…");
    }
    // A network error leaves the EventSource retrying by itself (CONNECTING); a refused
    // stream (503: too many viewers) closes it, and only we try again.
    if (source.readyState === EventSource.CLOSED) {
      say("lost", "The server refused the stream (it takes at most 48 viewers at once); " +
        "trying again in 5 s…");
      retry = setTimeout(connect, 5000);
    }
  };
}

function receive(sample) {
  lastAt = performance.now();
  const restarted = startedAt !== undefined && sample.startedAt !== startedAt;
  if (restarted) {
    history = [];
    windowed = [];
    slotOf.clear();
    say("note", "Reconnected at " + clock(Date.now()) + ": the server restarted at " +
      clock(sample.startedAt) + ", so its counters began again.");
  } else if (lostAt !== 0) {
    say("live", "Reconnected at " + clock(Date.now()) + " (the same server).");
  } else if (stale) {
    say("live", "Live again at " + clock(Date.now()) + ".");
  } else if (startedAt === undefined) {
    say("live", "Live: updated 5 times a second.");
  }
  lostAt = 0;
  stale = false;
  startedAt = sample.startedAt;
  history.push(sample);
  while (history.length > 2 && sample.at - history[1].at >= 1000) history.shift();
  windowed.push(sample);
  while (windowed.length > 2 && sample.at - windowed[1].at >= LATENCY_WINDOW_MS) windowed.shift();
  latest = sample;
  if (!paused) render(sample);
}

function render(sample) {
  renderSlots(sample);
  renderQueue(sample);
  renderConnections(sample);
  renderCounters(sample);
  renderLatency(sample);
  $("updated").textContent = "Sample of " + clock(sample.at) + ", server up " +
    duration(sample.counters.uptime_s * 1000) + ".";
}

function renderSlots(sample) {
  const running = sample.connections.filter((row) => row.state === "running");
  const ids = new Set(running.map((row) => row.id));
  for (const id of slotOf.keys()) if (!ids.has(id)) slotOf.delete(id);
  const taken = new Set(slotOf.values());
  let free = 0;
  for (const row of running) {
    if (slotOf.has(row.id)) continue;
    while (taken.has(free)) free++;
    slotOf.set(row.id, free);
    taken.add(free);
  }
  const byIndex = new Map();
  for (const row of running) byIndex.set(slotOf.get(row.id), row);
  const shown = Math.min(sample.maxRunning, MAX_SLOTS);
  const items = [];
  for (let i = 0; i < shown; i++) {
    const row = byIndex.get(i);
    if (row === undefined) {
      items.push(el("li", "slot free", "free"));
      continue;
    }
    const item = el("li", "slot filled", who(row));
    item.dataset.id = row.id;
    items.push(item);
  }
  $("slots").replaceChildren(...items);
  $("running-count").textContent = count(sample.running) + " of " + count(sample.maxRunning);
  const hidden = sample.maxRunning - shown;
  $("slots-more").textContent = hidden > 0
    ? "…and " + count(hidden) + " more slots; " + count(sample.running) + " filled in all."
    : "";
}

function renderQueue(sample) {
  const queued = sample.connections.filter((row) => row.state === "queued").slice(0, MAX_QUEUE);
  $("queue").replaceChildren(...queued.map((row) => {
    const item = el("li", "waiting", who(row), el("span", "wait", "waited " + duration(row.stateMs)));
    item.dataset.id = row.id;
    return item;
  }));
  $("queued-count").textContent = count(sample.queued);
  const hidden = sample.queued - queued.length;
  $("queue-note").textContent = sample.queued === 0
    ? "Nobody is waiting."
    : hidden > 0 ? "…and " + count(hidden) + " more behind them." : "";
}

function renderConnections(sample) {
  $("connections").replaceChildren(...sample.connections.map((row) => {
    const tr = el("tr", row.state);
    tr.dataset.id = row.id;
    const host = row.address.includes(":") ? "[" + row.address + "]" : row.address;
    const name = row.name === null ? el("span", "none", "–") : el("bdi", "", row.name);
    const doing = row.command !== null
      ? el("span", "busy", row.command + " for " + duration(row.commandMs))
      : el("span", "none", row.last === null ? "–" : "idle, last " + row.last);
    for (const cell of [String(row.id), host + ":" + row.port, row.state, name, doing,
      duration(row.stateMs)]) tr.append(el("td", "", cell));
    return tr;
  }));
  const hidden = sample.running + sample.queued - sample.connections.length;
  $("connections-more").textContent = hidden > 0
    ? "…and " + count(hidden) + " more connections (the table shows the first " +
      count(sample.connections.length) + ")."
    : sample.connections.length === 0 ? "No connections." : "";
}

function renderCounters(sample) {
  const old = history[0];
  const seconds = old === sample ? 0 : (sample.at - old.at) / 1000;
  $("counters").replaceChildren(...Object.entries(sample.counters).map(([key, value]) => {
    let rate = "";
    if (!GAUGES.has(key) && seconds > 0 && key in old.counters) {
      rate = count(Math.round((value - old.counters[key]) / seconds));
    }
    return el("tr", "", el("th", "", key), el("td", "", count(value)), el("td", "", rate));
  }));
}

/** The upper bound (ms) of the bucket holding quantile q of counts; null past the last bound. */
function quantile(counts, total, q, bounds) {
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < bounds.length; i++) {
    seen += counts[i];
    if (seen >= rank) return bounds[i];
  }
  return null;
}

function renderLatency(sample) {
  const old = windowed[0];
  const seconds = (sample.at - old.at) / 1000;
  const before = new Map(old === sample ? [] : old.latency.map((row) => [row.command, row]));
  $("latency").replaceChildren(...sample.latency.map((row) => {
    const earlier = before.get(row.command);
    const counts = row.counts.map((n, i) => n - (earlier ? earlier.counts[i] : 0));
    // The first sample has nothing to subtract: its window is empty, not "since the start".
    const recent = old === sample ? 0 : row.count - (earlier ? earlier.count : 0);
    const cell = (q) => recent === 0 ? "–" : bound(quantile(counts, recent, q, sample.bucketsMs));
    const rate = seconds > 0 ? count(Math.round(recent / seconds)) : "–";
    return el("tr", "", el("th", "", row.command), el("td", "", rate), el("td", "", cell(0.5)),
      el("td", "", cell(0.9)), el("td", "", cell(0.99)), el("td", "", count(row.count)));
  }));
  $("latency-note").textContent = sample.latency.length === 0
    ? "No requests yet."
    : "Mean since the server started: " + sample.latency.map((row) =>
      row.command + " " + milliseconds(row.meanMs)).join(", ") + ".";
}

$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume" : "Pause";
  $("paused").textContent = paused ? "Paused: the server goes on; the page shows the sample of " +
    clock(latest ? latest.at : Date.now()) + "." : "";
  if (!paused && latest) render(latest);
});

// A stream that is open but silent (a stopped server that has not closed it) is said so.
setInterval(() => {
  if (lostAt !== 0 || lastAt === 0) return;
  const silent = performance.now() - lastAt;
  if (silent < 2000) return;
  stale = true;
  say("lost", "No update for " + duration(silent) + "; waiting for the server…");
}, 1000);

connect();
`;
