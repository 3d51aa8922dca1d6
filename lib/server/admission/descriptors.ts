/**
 * The descriptor budget (docs/protocol.md#limits-and-bad-input): every connection is a descriptor, and a
 * process that runs out of them cannot even refuse a client politely, so at
 * start the server checks that its limit can hold what its settings may
 * use, and shrinks the queue to fit (Redis does the same with `maxclients`).
 *
 * How many descriptors are still free is found by opening the null device
 * until the limit says no (or enough are open), then closing them again.
 * Deno grants the usual readings (/proc/self/limits, getrlimit) only to
 * --allow-all, which the server must never need; a probe of at most the
 * budget (a thousand or so opens, a few milliseconds) needs only the read
 * access the server has anyway, and counts exactly what is left.
 */

/** Descriptors each running connection may hold: its socket and one file (a PUT's temp file, a GET's file). */
const PER_RUNNING = 2;
/** Descriptors each queued connection holds: its socket. */
const PER_QUEUED = 1;
/**
 * Headroom for what opens later or for a moment: refusing a connection
 * (accept, write `ERR busy`, close), the KV store's journal, a worker
 * replaced after a crash.
 */
const SPARE = 32;
/** The device opened by the probe. */
const NULL_DEVICE = Deno.build.os === "windows" ? "NUL" : "/dev/null";

/**
 * Opens the null device until `enough` are open or the process's limit
 * refuses one, closes them, and returns how many it could open: the free
 * descriptors, up to `enough`. Undefined if the probe cannot run at all.
 */
export function freeDescriptors(enough: number): number | undefined {
  const opened: Deno.FsFile[] = [];
  try {
    while (opened.length < enough) opened.push(Deno.openSync(NULL_DEVICE, { read: true }));
    return opened.length;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === "EMFILE" || code === "ENFILE" ? opened.length : undefined;
  } finally {
    for (const file of opened) file.close();
  }
}

/** What the settings need beyond what is open now, and the queue limit that fits. */
export interface DescriptorBudget {
  /** Descriptors the settings can use at most, beyond those open now. */
  needed: number;
  /** The largest queue limit (at most the configured one) that fits. */
  queueLimit: number;
}

/** What the budget counts: connections, and what else the server holds. */
export interface BudgetSettings {
  maxRunning: number;
  queueLimit: number;
  /** Descriptors held besides the connections (listeners, the metrics endpoint's connections). */
  extra: number;
  /**
   * Descriptors per connection socket; default 1. A TLS connection holds two
   * (lib/server/door/native_socket.ts).
   */
  perConnection?: number;
}

/**
 * The budget for `maxRunning` + `queueLimit` + `extra` (the metrics
 * endpoint's connections) when `free` more descriptors can be opened.
 */
export function descriptorBudget(free: number, settings: BudgetSettings): DescriptorBudget {
  const more = (settings.perConnection ?? 1) - 1;
  const perQueued = PER_QUEUED + more;
  const fixed = SPARE + settings.extra + settings.maxRunning * (PER_RUNNING + more);
  const needed = fixed + settings.queueLimit * perQueued;
  if (needed <= free) return { needed, queueLimit: settings.queueLimit };
  return { needed, queueLimit: Math.max(0, Math.floor((free - fixed) / perQueued)) };
}

/** Descriptors to probe for: the budget of the settings, so the probe stops as soon as they fit. */
export function descriptorsWanted(settings: BudgetSettings): number {
  return descriptorBudget(Infinity, settings).needed;
}
