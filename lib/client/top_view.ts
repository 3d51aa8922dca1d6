/**
 * What `switchboard-client top` shows (docs/client.md#top): one sample of the
 * server from STATS and WHO, and the three ways to print it — a screen
 * redrawn in place, one line per sample (`redis-cli --stat` style), or one
 * JSON object per sample. Pure functions of the samples; the terminal and
 * the connection are top.ts's.
 */
import type { WhoEntry } from "./reply_shapes.ts";

/** One look at the server. */
export interface TopSample {
  /** Unix milliseconds when the replies arrived. */
  at: number;
  /** The STATS lines as numbers (docs/protocol.md#commands). */
  stats: Record<string, number>;
  /** WHO: running connections first, then the queue in order. */
  connections: WhoEntry[];
}

/** STATS keys that are gauges, not counters: shown without a rate. */
const GAUGES = new Set([
  "uptime_s",
  "max_running",
  "running",
  "queued",
  "workers",
  "threads",
  "jobs_running",
  "jobs_queued",
]);

/** Per-second rates of the counters between two samples (none for the first one). */
export function ratesOf(
  sample: TopSample,
  previous: TopSample | undefined,
): Record<string, number> {
  const rates: Record<string, number> = {};
  if (previous === undefined || sample.at <= previous.at) return rates;
  const seconds = (sample.at - previous.at) / 1000;
  for (const [key, value] of Object.entries(sample.stats)) {
    const before = previous.stats[key];
    if (GAUGES.has(key) || before === undefined) continue;
    rates[key] = Math.round((value - before) / seconds);
  }
  return rates;
}

/** The `--json` object of a sample: one line each. */
export function jsonLine(sample: TopSample, rates: Record<string, number>): string {
  return JSON.stringify({
    at: new Date(sample.at).toISOString(),
    stats: sample.stats,
    rates,
    connections: sample.connections,
  });
}

/** Columns of the line-per-sample form (stdout not a terminal). */
const LINE_COLUMNS: ReadonlyArray<[title: string, width: number]> = [
  ["time", 8],
  ["running", 11],
  ["queued", 7],
  ["cmd/s", 8],
  ["accept/s", 8],
  ["reject/s", 8],
  ["in/s", 8],
  ["out/s", 8],
];

/** The header of the line-per-sample form. */
export function lineHeader(): string {
  return LINE_COLUMNS.map(([title, width], i) =>
    i === 0 ? title.padEnd(width) : title.padStart(width)
  )
    .join(" ");
}

/** One sample as one line, under {@linkcode lineHeader}. */
export function sampleLine(sample: TopSample, rates: Record<string, number>): string {
  const s = sample.stats;
  const rate = (key: string) => key in rates ? count(rates[key]!) : "-";
  const byteRate = (key: string) => key in rates ? bytes(rates[key]!) : "-";
  const cells = [
    clock(sample.at),
    `${s.running ?? "?"}/${s.max_running ?? "?"}`,
    String(s.queued ?? "?"),
    rate("commands_total"),
    rate("accepted_total"),
    rate("rejected_total"),
    byteRate("bytes_in"),
    byteRate("bytes_out"),
  ];
  return cells.map((cell, i) => {
    const width = LINE_COLUMNS[i]![1];
    return i === 0 ? cell.padEnd(width) : cell.padStart(width);
  }).join(" ");
}

/** Where the screen is drawn: its size, and the server's name for the title. */
export interface ScreenShape {
  columns: number;
  rows: number;
  where: string;
}

/** The whole screen for one sample, as lines no wider than `shape.columns`. */
export function screenLines(
  sample: TopSample,
  rates: Record<string, number>,
  shape: ScreenShape,
): string[] {
  const s = sample.stats;
  const running = s.running ?? 0;
  const max = s.max_running ?? 0;
  const lines = [
    `switchboard top  ${shape.where}  ${clock(sample.at)}  up ${
      duration((s.uptime_s ?? 0) * 1000)
    }` +
    "   q quits",
    "",
    `running ${running} of ${max}  ${slotBar(running, max, shape.columns - 24)}`,
    `queued  ${s.queued ?? 0}    connections listed ${sample.connections.length}`,
    "",
    `${"counter".padEnd(22)}${"total".padStart(14)}${"per second".padStart(12)}`,
  ];
  for (const [key, value] of Object.entries(s)) {
    if (GAUGES.has(key)) continue;
    const rate = key in rates ? String(rates[key]) : "";
    lines.push(`${key.padEnd(22)}${String(value).padStart(14)}${rate.padStart(12)}`);
  }
  lines.push(
    "",
    `${"id".padStart(6)}  ${"address".padEnd(22)} ${"state".padEnd(8)} ${
      "name".padEnd(20)
    } connected for`,
  );
  const room = Math.max(1, shape.rows - lines.length - 1);
  const shown = sample.connections.length > room ? room - 1 : room;
  for (const entry of sample.connections.slice(0, shown)) {
    const host = entry.address.includes(":") ? `[${entry.address}]` : entry.address;
    const since = Date.parse(entry.connected_since);
    lines.push(
      `${String(entry.id).padStart(6)}  ${`${host}:${entry.port}`.padEnd(22)} ${
        entry.state.padEnd(8)
      } ` +
        `${visible(entry.name ?? "-").padEnd(20)} ${duration(Math.max(0, sample.at - since))}`,
    );
  }
  const hidden = sample.connections.length - shown;
  if (hidden > 0) lines.push(`   …and ${hidden} more`);
  return lines.map((line) => line.length > shape.columns ? line.slice(0, shape.columns) : line);
}

/** `[####----]`: filled slots and free ones, when they fit in `width`; otherwise nothing. */
function slotBar(running: number, max: number, width: number): string {
  if (max === 0 || max + 2 > width) return "";
  return `[${"#".repeat(Math.min(running, max))}${"-".repeat(Math.max(0, max - running))}]`;
}

/**
 * A name as the terminal may show it: HELLO names have no control
 * characters, but may have line separators or bidirectional overrides,
 * which would reorder the rest of the row; those are written as `\u{…}`.
 */
export function visible(text: string): string {
  return text.replace(
    /[\u0085\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u{${c.charCodeAt(0).toString(16)}}`,
  );
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function count(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : String(n);
}

function bytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}K`;
  return `${(n / 1024 / 1024).toFixed(1)}M`;
}
