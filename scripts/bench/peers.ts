/**
 * Peers that misbehave on purpose, for the fault rows of `deno task bench`
 * and the fault tests (tests/faults/): a connection that resets (RST, not
 * FIN) right after its first bytes, as a crashed or hostile peer does.
 */
import net from "node:net";

/** Connects, sends `bytes`, then resets the connection; resolves either way, never rejects. */
export function sendAndReset(port: number, bytes: Uint8Array | string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(bytes, () => {
        socket.resetAndDestroy();
        resolve();
      });
    });
    socket.on("error", () => resolve());
  });
}
