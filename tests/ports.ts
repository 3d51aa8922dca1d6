/**
 * Ports for processes that a test starts on a port it names (PostgreSQL,
 * HAProxy, a server started from a documented command line): free when
 * picked, and taken from below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 on Linux). A port
 * from `listen(port 0)` comes from that range, so while a test's process
 * is not yet listening on it, or is stopped and restarted, any outgoing
 * connection of the tests running beside it could take it as its source
 * port, and the bind fails with "address in use".
 */

/** Below Linux's default ephemeral range, above the well-known and most registered services. */
const LOW = 20_000;
const HIGH = 32_768;
/** Ports handed out by this process, never handed out twice. */
const given = new Set<number>();

/** One port nobody listens on now, outside the ephemeral range; throws if none is found. */
export function unusedPort(): number {
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue; // taken
    }
    given.add(port);
    return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after 1,000 tries`);
}

/** `n` distinct unused ports (see {@linkcode unusedPort}). */
export function unusedPorts(n: number): number[] {
  return Array.from({ length: n }, unusedPort);
}
