// Reference server for `deno task bench`: Node's `net` line echo, the way a
// Node programmer writes it — split each chunk into lines, one
// `socket.write` per line. usage: node scripts/bench/node_echo.mjs PORT
import net from "node:net";

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) !== -1) {
      socket.write(pending.slice(0, newline + 1), "latin1");
      pending = pending.slice(newline + 1);
    }
  });
  socket.on("error", () => socket.destroy());
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
