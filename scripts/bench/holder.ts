/**
 * A process of the HOLD row (rows/hold.ts): opens COUNT idle connections to
 * PORT on 127.0.0.1 from source address FROM (node:net binds the local side;
 * Deno.connect cannot), prints one JSON line when all are open, and holds
 * them until its stdin closes. One process per source address keeps each
 * under its descriptor limit and its ports under the 28,000 a source
 * address has.
 *
 * deno run --allow-net scripts/bench/holder.ts PORT FROM COUNT
 */
import net from "node:net";

/** Connections opened at once: more would overflow the server's listen backlog. */
const CONNECT_BATCH = 500;

const [port, from, wanted] = [Number(Deno.args[0]), Deno.args[1]!, Number(Deno.args[2])];
const sockets: net.Socket[] = [];
let opened = 0;
let failed = 0;
let refused = 0;

function open(): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
    socket.once("connect", () => {
      opened++;
      resolve();
    });
    // An idle connection gets no bytes; any reply is the server turning it away.
    socket.once("data", () => refused++);
    socket.on("error", () => {
      failed++;
      resolve();
    });
    sockets.push(socket);
  });
}

for (let i = 0; i < wanted; i += CONNECT_BATCH) {
  await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, wanted - i) }, open));
}
console.log(JSON.stringify({ opened, failed }));
// Holds until the row closes stdin, then reports what the server said meanwhile.
for await (const _ of Deno.stdin.readable) { /* wait for the end */ }
console.log(JSON.stringify({ opened, failed, refused }));
for (const socket of sockets) socket.destroy();
Deno.exit(0);
