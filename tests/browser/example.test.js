// examples/react, as its README runs it: built by Vite, served by `vite
// preview` with its proxy to a real boomerang-local, in real Chromium. One
// upload through the app, its result in two tabs of the same user.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";

import { ROOT, launch, shot, startThirdParty, waitFor, withStack } from "./harness.js";

const APP = path.join(ROOT, "examples", "react");

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function freePort() {
  return new Promise((resolve) => {
    const probe = http.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** `vite preview` of the built app, proxying /boomerang to `stackUrl`. */
async function preview(stackUrl) {
  const port = await freePort();
  const child = spawn(
    path.join(APP, "node_modules", ".bin", "vite"),
    ["preview", "--host", "127.0.0.1", "--port", String(port), "--strictPort"],
    { cwd: APP, env: { ...process.env, BOOMERANG_URL: stackUrl }, stdio: "ignore" },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor("vite preview answers", async () => {
    try {
      return (await fetch(url)).ok;
    } catch {
      return false;
    }
  });
  return { url, stop: () => child.kill() };
}

describe("examples/react", () => {
  it("signs in, uploads with the hook's app, and shows progress, then the result, in two tabs", async () => {
    const thirdParty = await startThirdParty();
    await withStack(browser, { env: { BOOMERANG_THIRD_PARTY_URL: thirdParty.url } }, async ({ stack, context }) => {
      const app = await preview(stack.url);
      try {
        const tabs = [];
        for (let i = 0; i < 2; i++) {
          const page = await context.newPage();
          page.on("pageerror", (e) => console.error("[example] page error:", e));
          await page.goto(app.url);
          await page.getByLabel("Your name").fill("jill");
          await page.getByRole("button", { name: "Sign in" }).click();
          await page.getByTestId("status").filter({ hasText: "open" }).waitFor({ timeout: 15_000 });
          tabs.push(page);
        }
        await tabs[0].getByLabel("File").setInputFiles({ name: "from-react.txt", mimeType: "text/plain", buffer: Buffer.from("hello from a React app\n") });
        await waitFor("the file at the third party", async () => thirdParty.received.size === 1);
        const [jobId] = [...thirdParty.received.keys()];
        assert.equal(await thirdParty.progress(jobId, 0.4, "thinking"), 200);
        for (const tab of tabs) {
          const bar = tab.getByLabel("from-react.txt progress");
          await waitFor("the hook's progress", async () => (await bar.count()) === 1 && Number(await bar.getAttribute("value")) === 0.4);
        }
        await shot(tabs[1], "example-react-progress");
        await thirdParty.deliver(jobId);
        for (const tab of tabs) {
          await tab.locator('li[data-status="completed"]', { hasText: "from-react.txt" }).waitFor({ timeout: 15_000 });
        }
        // Both tabs share one socket (the client's tab election).
        await waitFor("one connection for two tabs", async () => (await stack.connections()) === 1);
        assert.equal(await tabs[1].locator("li", { hasText: "from-react.txt" }).count(), 1);
        await shot(tabs[1], "example-react");
      } finally {
        app.stop();
      }
    }).finally(() => thirdParty.close());
  });
});
