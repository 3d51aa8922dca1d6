/**
 * Reference server for `deno task bench`: a line echo written the obvious
 * Deno way — `for await` over the listener, one async loop per connection,
 * `conn.read` into a buffer, split lines, one `await conn.write` per line.
 * Built-ins only. It is the baseline docs/performance.md compares switchboard with.
 *
 * usage: deno run --allow-net scripts/bench/deno_echo.ts PORT
 */
const port = Number(Deno.args[0] ?? 0);
const listener = Deno.listen({ hostname: "127.0.0.1", port });
console.log(`listening on 127.0.0.1:${listener.addr.port}`);

async function handle(conn: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  try {
    for (;;) {
      if (end === buffer.length) {
        buffer.copyWithin(0, start, end);
        end -= start;
        start = 0;
        if (end === buffer.length) return; // a line longer than the buffer
      }
      const n = await conn.read(buffer.subarray(end));
      if (n === null) return;
      end += n;
      const filled = buffer.subarray(0, end);
      let newline;
      while ((newline = filled.indexOf(10, start)) !== -1) {
        const line = buffer.subarray(start, newline + 1);
        for (let off = 0; off < line.length;) off += await conn.write(line.subarray(off));
        start = newline + 1;
      }
      if (start === end) start = end = 0;
    }
  } catch {
    // The peer went away.
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

for await (const conn of listener) {
  conn.setNoDelay(true);
  handle(conn);
}
