/**
 * A connection from a chosen source address: node:net can bind the local
 * side (Deno.connect cannot), so a test can play a peer from 127.0.0.2.
 */
import net from "node:net";
import type { TestConn } from "./test_client.ts";

/** A node:net socket with the read/write shape of a Deno.Conn (reads pull from what arrived). */
export class NodeConn implements TestConn {
  readonly #socket: net.Socket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: () => void = () => {};

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    const wake = () => this.#wake();
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk));
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      wake();
    });
  }

  static connect(port: number, localAddress: string): Promise<NodeConn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress });
      socket.once("connect", () => resolve(new NodeConn(socket)));
      socket.once("error", reject);
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0 && !this.#ended && this.#error === undefined) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks.shift();
    if (chunk === undefined) {
      if (this.#error !== undefined) throw this.#error;
      return null;
    }
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n < chunk.length) this.#chunks.unshift(chunk.subarray(n));
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#socket.write(p, (error) => error ? reject(error) : resolve(p.length))
    );
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  close(): void {
    this.#socket.destroy();
  }
}
