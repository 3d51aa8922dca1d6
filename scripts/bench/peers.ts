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

/**
 * A password spray: one connection from each of `addresses` (loopback
 * addresses other than 127.0.0.1, so each is its own address to the server),
 * sending `AUTH <name> <wrong password>` one after another with a new name
 * each time, until the server refuses the address or `stop()` is called.
 * Counts the guesses the server checked (answered `wrong name or password`).
 */
export class AuthSpray {
  #stopping = false;
  #checked = 0;
  readonly #sprayers: Promise<void>[];

  constructor(port: number, addresses: readonly string[]) {
    this.#sprayers = addresses.map((address) => this.#spray(port, address));
  }

  /** Guesses answered `wrong name or password` so far. */
  get checked(): number {
    return this.#checked;
  }

  /** Stops after the guesses in flight; resolves once every connection is closed. */
  async stop(): Promise<number> {
    this.#stopping = true;
    await Promise.all(this.#sprayers);
    return this.#checked;
  }

  #spray(port: number, address: string): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress: address });
      let guess = 0;
      let pending = "";
      const next = () => {
        if (this.#stopping) return socket.end();
        socket.write(`AUTH guess${guess++} "not the password"\n`);
      };
      socket.on("connect", next);
      socket.on("data", (chunk: Uint8Array) => {
        pending += new TextDecoder().decode(chunk);
        for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
          const reply = pending.slice(0, end);
          pending = pending.slice(end + 1);
          if (reply.includes("wrong name or password")) this.#checked++;
          if (reply.includes("too many failed attempts")) return socket.end();
          next();
        }
      });
      socket.on("close", () => resolve());
      socket.on("error", () => resolve());
    });
  }
}
