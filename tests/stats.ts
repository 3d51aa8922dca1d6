/** STATS in tests: every key it reports, and its reply parsed into numbers. */

/** Every key STATS reports. */
export const STAT_KEYS = [
  "uptime_s",
  "max_running",
  "running",
  "queued",
  "accepted_total",
  "served_total",
  "rejected_total",
  "timeouts_total",
  "commands_total",
  "bytes_in",
  "bytes_out",
  "workers",
  "jobs_total",
  "jobs_running",
  "jobs_queued",
  "hashes_total",
  "denied_total",
  "auth_failures_total",
  "tls_failures_total",
  "proxy_errors_total",
] as const;

/** Parsed STATS: every known key is present (or parseStats throws). */
export type StatsRecord = Record<(typeof STAT_KEYS)[number], number>;

/** Parses a rendered STATS reply (`DATA n` + body) into numbers. */
export function parseStats(text: string): StatsRecord {
  const stats: Record<string, number> = {};
  for (const line of text.split("\n").slice(1)) {
    if (!line) continue;
    const [key, value] = line.split(" ");
    stats[key!] = Number(value);
  }
  for (const key of STAT_KEYS) {
    if (!(key in stats)) throw new Error(`STATS has no ${key}:\n${text}`);
  }
  return stats as StatsRecord;
}
