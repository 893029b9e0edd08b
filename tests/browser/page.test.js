// The demo page as a user meets it: upload progress, a file over the limit,
// a third party that refuses. Real Chromium, a real boomerang-local.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { createHash } from "node:crypto";
import net from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { launch, openTab, seqsShown, sha256, shot, startMoto, waitFor, startThirdParty, uploadPathThroughPage, uploadThroughPage, withStack } from "./harness.js";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("the demo page", () => {
  it("shows an upload's progress in bytes, and refuses a file over the limit with a clear message", async () => {
    const limit = 3 * 1024 * 1024;
    // Both limits: over the form's, a file goes straight to storage, whose
    // limit refuses it too.
    const env = { BOOMERANG_MAX_UPLOAD_BYTES: String(limit), BOOMERANG_MAX_FILE_BYTES: String(limit) };
    await withStack(browser, { env }, async ({ stack, context }) => {
      const page = await openTab(context, stack, "erin");
      // Every value the progress bar takes, as the page sets it.
      await page.evaluate(() => {
        window.progress = [];
        const bar = document.getElementById("progress");
        new MutationObserver(() => window.progress.push([Number(bar.value), Number(bar.max)])).observe(bar, { attributes: true });
      });
      const size = 2 * 1024 * 1024;
      await uploadThroughPage(page, "two-megabytes.bin", Buffer.alloc(size, 7));
      await page.locator("#jobs li.job[data-job-id]", { hasText: "two-megabytes.bin" }).waitFor();
      const progress = await page.evaluate(() => window.progress);
      const sent = progress.filter(([, max]) => max === size).map(([v]) => v);
      assert.ok(sent.length > 0, `progress ${JSON.stringify(progress)}`);
      assert.equal(sent.at(-1), size, "the bar ends at the file's size");
      assert.deepEqual(
        sent,
        [...sent].sort((a, b) => a - b),
        "the bar never goes back",
      );
      assert.equal(await page.locator("#progress-box").isHidden(), true);

      await uploadThroughPage(page, "too-big.bin", Buffer.alloc(limit + 1, 1));
      await page.getByRole("alert").filter({ hasText: "too-big.bin is too large" }).waitFor();
      assert.equal(await page.locator("#jobs li", { hasText: "too-big.bin" }).count(), 0);
      await shot(page, "upload-too-large");
    });
  });

  it("sends a 50 MB file straight to storage with a progress bar, and its result appears in every tab", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "boomerang-big-"));
    const file = path.join(dir, "fifty-megabytes.csv");
    const line = "a,b,c,some words here\n";
    const content = Buffer.from(line.repeat(Math.ceil((50 * 1024 * 1024) / line.length))).subarray(0, 50 * 1024 * 1024);
    writeFileSync(file, content);
    try {
      await withStack(browser, {}, async ({ stack, context }) => {
        const tabs = [await openTab(context, stack, "gina"), await openTab(context, stack, "gina")];
        const other = await openTab(context, stack, "hugo");
        const page = tabs[0];
        await page.evaluate(() => {
          window.progress = [];
          const bar = document.getElementById("progress");
          new MutationObserver(() => window.progress.push(Number(bar.value))).observe(bar, { attributes: true });
        });
        // What the page asks the API for, and where the bytes go.
        const requests = [];
        page.on("request", (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
        // Over loopback 50 MB can leave in one progress event; a link of
        // 25 MB/s (Chromium's own throttling) makes the upload take about two
        // seconds, and XHR reports progress at least every 50 ms while it runs.
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.enable");
        await cdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: 25 * 1024 * 1024,
        });
        await uploadPathThroughPage(page, file);
        const label = await page.locator("#progress-label").textContent();
        assert.match(label, /straight to storage/);
        const hash = createHash("sha256").update(content).digest("hex");
        for (const tab of tabs) {
          const card = tab.locator('#jobs li.job[data-status="completed"]', { hasText: "fifty-megabytes.csv" });
          await card.waitFor({ timeout: 60_000 });
          assert.equal(await card.locator('dd[data-key="sha256"]').textContent(), hash);
          assert.equal(await card.locator('dd[data-key="bytes"]').textContent(), String(content.length));
        }
        assert.equal(await other.locator("#jobs li.job").count(), 0, "hugo sees nothing of gina's");
        const progress = await page.evaluate(() => window.progress);
        assert.equal(progress.at(-1), content.length, "the bar ends at the file's size");
        assert.ok(progress.some((v) => v > 0 && v < content.length), `progress ${JSON.stringify(progress.slice(0, 20))}`);
        assert.deepEqual(progress, [...progress].sort((a, b) => a - b), "the bar never goes back");
        assert.ok(requests.includes("POST /uploads"), requests.join(", "));
        assert.ok(
          requests.some((r) => r.startsWith("PUT /files/uploads/direct/")),
          requests.join(", "),
        );
        await shot(page, "large-file-done");
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("moves a job's progress bar in two tabs as the third party reports, then shows the result", async () => {
    const thirdParty = await startThirdParty();
    const env = { BOOMERANG_THIRD_PARTY_URL: thirdParty.url };
    try {
      await withStack(browser, { env }, async ({ stack, context }) => {
        const tabs = [await openTab(context, stack, "grace"), await openTab(context, stack, "grace")];
        const text = "slow work\n";
        await uploadThroughPage(tabs[0], "slow.txt", text);
        const cards = tabs.map((page) => page.locator("#jobs li.job", { hasText: "slow.txt" }));
        for (const card of cards) await card.locator(".waiting").waitFor();
        const [jobId] = [...thirdParty.received.keys()];
        // The bar appears, then moves, in both tabs, with the message.
        for (const [fraction, message] of [[0.3, "reading"], [0.7, "writing"]]) {
          assert.equal(await thirdParty.progress(jobId, fraction, message), 200);
          for (const card of cards) {
            const bar = card.locator("progress.job-progress");
            await waitFor(`the bar at ${fraction}`, async () => (await bar.count()) === 1 && Number(await bar.getAttribute("value")) === fraction);
            assert.match(await card.locator(".progress-message").textContent(), new RegExp(`${fraction * 100} % · ${message}`));
          }
          if (fraction === 0.7) await shot(tabs[1], "progress-follower-tab");
        }
        // Progress is no event: the activity feed shows only the log's.
        for (const page of tabs) assert.deepEqual(await seqsShown(page), [1]);
        // The result replaces the bar.
        await thirdParty.deliver(jobId);
        for (const [i, page] of tabs.entries()) {
          const card = page.locator('#jobs li.job[data-status="completed"]', { hasText: "slow.txt" });
          await card.waitFor({ timeout: 15_000 });
          assert.equal(await card.locator('dd[data-key="sha256"]').textContent(), sha256(text));
          assert.equal(await card.locator("progress").count(), 0);
          assert.deepEqual(await seqsShown(page), [1, 2]);
          if (i === 0) await shot(page, "progress-then-result");
        }
      });
    } finally {
      await thirdParty.close();
    }
  });

  it("shows a job the third party refused as failed, with the reason, in every tab", async () => {
    const thirdParty = await startThirdParty({ status: 503 });
    const env = { BOOMERANG_THIRD_PARTY_URL: thirdParty.url, BOOMERANG_THIRD_PARTY_BACKOFF_MS: "10" };
    try {
      await withStack(browser, { env }, async ({ stack, context }) => {
        const tabs = [await openTab(context, stack, "frank"), await openTab(context, stack, "frank")];
        await uploadThroughPage(tabs[0], "refused.txt", "no thanks\n");
        for (const page of tabs) {
          const card = page.locator('#jobs li.job[data-status="failed"]', { hasText: "refused.txt" });
          await card.waitFor();
          assert.match(await card.locator(".failure").textContent(), /\S/);
          assert.equal(await card.locator(".badge").textContent(), "Failed");
        }
        await tabs[0]
          .getByRole("alert")
          .filter({ hasText: /third party/i })
          .waitFor();
        await shot(tabs[0], "third-party-refused");
      });
    } finally {
      await thirdParty.close();
    }
  });

  it("never sends a signed-in tab's token to a socket URL a link names", async () => {
    // An attacker's socket, which records every connection made to it.
    const connections = [];
    const attacker = net.createServer((socket) => {
      connections.push(socket.remoteAddress);
      socket.destroy();
    });
    await new Promise((r) => attacker.listen(0, "127.0.0.1", r));
    const evil = `ws://127.0.0.1:${attacker.address().port}/`;
    try {
      await withStack(browser, {}, async ({ stack, context }) => {
        // GIVEN alice signed in on the demo page
        const page = await openTab(context, stack, "alice");
        // WHEN a link sends her tab to the page with a foreign ?ws=
        await page.goto(new URL(`/?ws=${encodeURIComponent(evil)}`, stack.url).href);
        // THEN the page keeps no session for that pair of URLs: it asks her
        // to sign in, and says where it would connect
        await page.locator("#sign-in").waitFor();
        assert.equal(await page.locator("#app").isHidden(), true);
        assert.equal(await page.locator("#ws-url-sign-in").textContent(), evil);
        // AND if she signs in there anyway, the page's policy blocks the socket
        await page.evaluate(() => {
          window.blocked = [];
          document.addEventListener("securitypolicyviolation", (e) => window.blocked.push(e.blockedURI));
        });
        await page.getByLabel("Your name").fill("alice");
        await page.getByRole("button", { name: "Sign in" }).click();
        await waitFor("the policy blocks the foreign socket", async () => (await page.evaluate(() => window.blocked.length)) > 0);
        assert.ok((await page.evaluate(() => window.blocked)).every((uri) => uri.startsWith("ws://127.0.0.1")));
        // AND the page says why it does not connect
        await page.locator("#blocked").waitFor();
        const said = await page.locator("#blocked").textContent();
        assert.match(said, /security policy blocks ws:\/\/127\.0\.0\.1:\d+:/);
        assert.doesNotMatch(said, /token/, "the socket's token is not shown");
        // AND nothing ever reached the attacker's socket
        assert.deepEqual(connections, []);
        await shot(page, "foreign-socket-refused");
      });
    } finally {
      await new Promise((r) => attacker.close(r));
    }
  });

  it("completes a 50 MB file sent straight to S3 on the aws backend, its event taking AWS's road", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "boomerang-big-"));
    const file = path.join(dir, "fifty-megabytes-s3.csv");
    const content = Buffer.alloc(50 * 1024 * 1024, "s3 ");
    writeFileSync(file, content);
    const moto = await startMoto();
    try {
      // GIVEN `make run-aws`: the stack on moto, which routes S3's events
      // through EventBridge (nobody posts them by hand)
      await withStack(browser, { env: moto.env }, async ({ stack, context }) => {
        const tabs = [await openTab(context, stack, "ivan"), await openTab(context, stack, "ivan")];
        const requests = [];
        tabs[0].on("request", (r) => requests.push(`${r.method()} ${new URL(r.url()).origin}`));
        // WHEN ivan sends a 50 MB file through the page
        await uploadPathThroughPage(tabs[0], file);
        // THEN it goes to S3 (moto) and its result reaches both his tabs
        const hash = createHash("sha256").update(content).digest("hex");
        for (const tab of tabs) {
          const card = tab.locator('#jobs li.job[data-status="completed"]', { hasText: "fifty-megabytes-s3.csv" });
          await card.waitFor({ timeout: 60_000 });
          assert.equal(await card.locator('dd[data-key="sha256"]').textContent(), hash);
        }
        assert.ok(requests.includes(`PUT ${moto.url}`), requests.join(", "));
        await shot(tabs[0], "large-file-on-s3-done");
      });
    } finally {
      moto.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
