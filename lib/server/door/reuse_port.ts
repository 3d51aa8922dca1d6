/**
 * Whether network threads can share one port here (`--threads`,
 * docs/server.md#server-options): each thread's listener binds the port with
 * SO_REUSEPORT and the kernel spreads new connections between them. Deno
 * offers the option on Linux only (elsewhere it is ignored, and macOS would
 * hand every connection to one listener), and only with `--unstable-net`.
 */

/** Why listeners cannot share a port in this process, or undefined if they can. */
export function reusePortUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") {
    return `listeners can share a port (SO_REUSEPORT) only on Linux, not on ${Deno.build.os}`;
  }
  // Deno defines its unstable network API only under the flag.
  if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    return "listeners sharing a port (SO_REUSEPORT) need Deno's --unstable-net flag";
  }
  return undefined;
}

/** `--threads` by default: one per CPU core where threads can share the port, else 1. */
export function defaultThreads(): number {
  if (reusePortUnavailable() !== undefined) return 1;
  return Math.max(1, navigator.hardwareConcurrency || 1);
}
