// The original design, kept recognisable: Express for HTTP, Socket.IO for
// the sockets, a map of user id -> socket ids, and a webhook that emits the
// result to each of the user's sockets. Like the blog post it trusts the
// user id from the handshake and keeps nothing on disk: it does less than
// Boomerang (no token, no signature, no durable store, no event log), so a
// comparison is conservative in its favour. WebSocket transport only, as
// Boomerang's.
const http = require("node:http");
const express = require("express");
const { Server } = require("socket.io");

const app = express();
app.use(express.json({ limit: "1mb" }));
const server = http.createServer(app);
const io = new Server(server, { transports: ["websocket"], serveClient: false });

const socketsByUser = new Map();

io.on("connection", (socket) => {
  const user = String(socket.handshake.query.id ?? "");
  if (!socketsByUser.has(user)) socketsByUser.set(user, new Set());
  socketsByUser.get(user).add(socket.id);
  socket.on("disconnect", () => {
    const ids = socketsByUser.get(user);
    if (!ids) return;
    ids.delete(socket.id);
    if (ids.size === 0) socketsByUser.delete(user);
  });
});

app.post("/webhook", (req, res) => {
  const { user, result } = req.body ?? {};
  for (const id of socketsByUser.get(String(user)) ?? []) io.to(id).emit("result", result);
  res.json({ ok: true });
});

app.get("/healthz", (_req, res) => res.json({ status: "ok" }));

const port = Number(process.env.PORT ?? 0);
server.listen(port, "127.0.0.1", () => {
  console.log(`ready: http://127.0.0.1:${server.address().port}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
