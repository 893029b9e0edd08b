// The app talks to Boomerang under its own origin: /boomerang/* (HTTP and
// the WebSocket) goes to BOOMERANG_URL, the local stack by default. Same
// origin, so no CORS to set up while developing; against a deployed
// stack, set VITE_BOOMERANG_API_URL and VITE_BOOMERANG_WS_URL instead.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const target = process.env.BOOMERANG_URL ?? "http://127.0.0.1:3000";
// The Host header passes as the browser sent it (no changeOrigin): the
// stack's development endpoints (/dev/token) answer loopback names only,
// so a page reached from another machine cannot mint tokens through here.
// Never serve this with `vite --host`.
const proxy = {
  "/boomerang": {
    target,
    ws: true,
    rewrite: (path) => path.replace(/^\/boomerang/, ""),
  },
};

export default defineConfig({
  plugins: [react()],
  // One React: @boomerang-push/client/react imports it too (and, linked from
  // ../../web here, would find that folder's own copy).
  resolve: { dedupe: ["react", "react-dom"] },
  server: { proxy },
  preview: { proxy },
});
