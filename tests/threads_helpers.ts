/**
 * Test helpers for `--threads`: which network thread a connection landed on
 * (with `-v` the server logs `thread=N` with each connection it opens), and
 * a client placed on the thread a test wants. The kernel spreads connections between
 * the threads' listeners by a hash of the addresses and ports, so a test
 * connects until one lands where it must, closing the others first.
 */
import { TestClient, type TestServer } from "./helpers.ts";

/** Two network threads, and `-v`, so that the log says which thread took each connection. */
export const TWO_THREADS: readonly string[] = ["--threads", "2", "-v"];

/** A client and what the server logged when it opened the connection. */
export interface PlacedClient {
  client: TestClient;
  /** The server's connection id. */
  id: number;
  /** The network thread that accepted it. */
  thread: number;
}

/** The client's own port: the server logs it as the connection's address. */
export function localPort(client: TestClient): number {
  return ((client.conn as Deno.Conn).localAddr as Deno.NetAddr).port;
}

/**
 * Connects once and reads, from the log lines after `since`, the id and
 * thread the server gave the connection.
 */
export async function connectPlaced(server: TestServer): Promise<PlacedClient> {
  const since = server.log.length;
  const client = await TestClient.connect(server.port);
  const pattern = new RegExp(
    `connection opened client=(\\d+) address=127\\.0\\.0\\.1:${localPort(client)} thread=(\\d+)$`,
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const line of server.log.slice(since)) {
      const match = pattern.exec(line);
      if (match) return { client, id: Number(match[1]), thread: Number(match[2]) };
    }
    if (Date.now() > deadline) {
      client.close();
      throw new Error(
        `no "connection opened" line for port ${localPort(client)}:\n${server.log.join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A client on network thread `thread`: connects until one lands there. The
 * others are closed, and each is waited for until the server has let it go
 * (closed, or left the queue), so that they hold no slot or queue place.
 */
export async function connectOnThread(server: TestServer, thread: number): Promise<PlacedClient> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const placed = await connectPlaced(server);
    if (placed.thread === thread) return placed;
    placed.client.close();
    await server.waitForLog(
      new RegExp(`(client closed|client left the queue) client=${placed.id}\\b`),
    );
  }
  throw new Error(`64 connections in a row missed network thread ${thread}`);
}
