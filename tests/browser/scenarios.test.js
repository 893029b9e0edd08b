// The demo page and the client module in real Chromium, against a real
// boomerang-local, each scenario on a fresh stack. Screenshots of each end
// state go to target/browser/.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { launch, mintToken, openTab, seqsShown, sha256, shot, SHOTS, startStack, startThirdParty, uploadThroughPage, waitFor, withStack } from "./harness.js";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A job card in a tab, once it shows `status`. */
async function jobShown(page, fileName, status) {
  const card = page.locator("#jobs li.job", { hasText: fileName });
  await card.and(page.locator(`[data-status="${status}"]`)).waitFor({ timeout: 15_000 });
  return card;
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("in Chromium", () => {
  it("a result reaches both of alice's tabs, by itself, and never bob's", async () => {
    await withStack(browser, { context: { viewport: { width: 720, height: 900 }, reducedMotion: "reduce" } }, async ({ stack, context }) => {
      const alice1 = await openTab(context, stack, "alice");
      const alice2 = await openTab(context, stack, "alice");
      const bob = await openTab(context, stack, "bob");
      const text = "hello boomerang\nfrom a real browser\n";

      await uploadThroughPage(alice1, "hello.txt", text);

      for (const page of [alice1, alice2]) {
        const card = await jobShown(page, "hello.txt", "completed");
        assert.equal(await card.locator('dd[data-key="sha256"]').textContent(), sha256(text));
        assert.deepEqual(await seqsShown(page), [1, 2]);
      }
      // bob's tab shares the browser, not the stream: nothing of alice's.
      assert.deepEqual(await seqsShown(bob), []);
      assert.equal(await bob.locator("#jobs li").count(), 0);
      // The list survives a reload, from GET /jobs.
      await alice2.reload();
      await jobShown(alice2, "hello.txt", "completed");

      await shot(alice1, "two-tabs-alice-1");
      await shot(alice2, "two-tabs-alice-2");
      await shot(bob, "two-tabs-bob");
      await sideBySide(context, ["two-tabs-alice-1", "two-tabs-alice-2"], "demo");
    });
  });

  it("three tabs of alice hold one server connection, and hand it over when its tab closes", async () => {
    await withStack(browser, {}, async ({ stack, context }) => {
      const tabs = [];
      for (let i = 0; i < 3; i++) tabs.push(await openTab(context, stack, "alice"));
      await waitFor("one connection for three tabs", async () => (await stack.connections()) === 1);
      const modes = await Promise.all(tabs.map((p) => p.evaluate(() => window.boomerang.mode)));
      assert.deepEqual(modes.filter((m) => m === "leader").length, 1, `modes ${modes}`);

      await uploadThroughPage(tabs[2], "first.txt", "one two three\n");
      for (const page of tabs) await jobShown(page, "first.txt", "completed");
      for (const page of tabs) assert.deepEqual(await seqsShown(page), [1, 2]);

      const leader = tabs[modes.indexOf("leader")];
      const rest = tabs.filter((p) => p !== leader);
      await leader.close({ runBeforeUnload: true });
      await waitFor("another tab to take the connection", async () => {
        const m = await Promise.all(rest.map((p) => p.evaluate(() => window.boomerang.mode)));
        return m.includes("leader") && (await stack.connections()) === 1;
      });

      await uploadThroughPage(rest[0], "second.txt", "four five\n");
      for (const page of rest) await jobShown(page, "second.txt", "completed");
      for (const page of rest) assert.deepEqual(await seqsShown(page), range(1, 4));
      assert.equal(await stack.connections(), 1);
      await shot(rest[0], "three-tabs-after-handover");
    });
  });

  it("a leader tab that stops running hands over; when it runs again it follows, each event once", async () => {
    await withStack(browser, {}, async ({ stack, context }) => {
      const tabs = [await openTab(context, stack, "alice"), await openTab(context, stack, "alice")];
      const modes = await Promise.all(tabs.map((p) => p.evaluate(() => window.boomerang.mode)));
      const leader = tabs[modes.indexOf("leader")];
      const follower = tabs[modes.indexOf("follower")];
      // The leader runs no more code, as a frozen or hung tab: headless
      // Chromium will not freeze a visible page, but the debugger can stop
      // one (the harder case: no `freeze` event to step down on).
      const cdp = await context.newCDPSession(leader);
      await cdp.send("Debugger.enable");
      await cdp.send("Debugger.pause");
      await waitFor("the follower to take over", () => follower.evaluate(() => window.boomerang.mode === "leader"));
      await follower.locator('#status[data-status="open"]').waitFor({ timeout: 15_000 });

      await uploadThroughPage(follower, "while-frozen.txt", "nobody home\n");
      await jobShown(follower, "while-frozen.txt", "completed");
      await cdp.send("Debugger.resume");
      await jobShown(leader, "while-frozen.txt", "completed");
      for (const page of tabs) assert.deepEqual(await seqsShown(page), [1, 2]);
      assert.equal(await leader.evaluate(() => window.boomerang.mode), "follower");
      await waitFor("one connection", async () => (await stack.connections()) === 1);
    });
  });

  it("the stack is killed while a webhook is delivered, restarts, and every tab shows the result once", async () => {
    const thirdParty = await startThirdParty();
    const env = { BOOMERANG_THIRD_PARTY_URL: thirdParty.url };
    try {
      await withStack(browser, { env }, async (s) => {
        const tabs = [await openTab(s.context, s.stack, "alice"), await openTab(s.context, s.stack, "alice")];
        const text = "delivered across a crash\n";
        await uploadThroughPage(tabs[0], "crash.txt", text);
        for (const page of tabs) await jobShown(page, "crash.txt", "submitted");
        const [jobId] = [...thirdParty.received.keys()];

        const killed = s.stack;
        const delivered = thirdParty.deliver(jobId, { onSent: () => killed.kill() });
        await killed.exited;
        for (const page of tabs) await page.locator('#status:not([data-status="open"])').waitFor({ timeout: 15_000 });
        s.stack = await startStack({ dataDir: killed.dataDir, addr: killed.addr, env });
        await delivered;

        for (const page of tabs) {
          await page.locator('#status[data-status="open"]').waitFor({ timeout: 40_000 });
          const card = await jobShown(page, "crash.txt", "completed");
          assert.equal(await card.locator('dd[data-key="sha256"]').textContent(), sha256(text));
          assert.deepEqual(await seqsShown(page), [1, 2]);
        }
        await shot(tabs[0], "after-crash");
      });
    } finally {
      await thirdParty.close();
    }
  });

  it("an expired token: the client asks getToken again and connects", async () => {
    await withStack(browser, {}, async ({ stack, context }) => {
      const page = await context.newPage();
      const tokens = [mintToken("carol", -60)];
      let asked = 0;
      await page.exposeFunction("nextToken", () => {
        asked += 1;
        return tokens.shift() ?? mintToken("carol", 3600);
      });
      await page.goto(stack.url);
      // The module as an app would import it, with its own getToken.
      await page.evaluate(
        async ({ wsUrl, apiUrl }) => {
          const { connect } = await import("/boomerang-client.js");
          window.seen = [];
          window.statuses = [];
          window.client = connect({
            wsUrl,
            apiUrl,
            since: 0,
            getToken: () => window.nextToken(),
            onEvent: (e) => window.seen.push(e.seq),
            onStatus: (s, d) => window.statuses.push([s, d.reason ?? ""]),
          });
        },
        { wsUrl: stack.url.replace("http", "ws") + "/ws", apiUrl: stack.url },
      );

      await page.waitForFunction(() => window.statuses.at(-1)?.[0] === "open", null, { timeout: 15_000 });
      const statuses = await page.evaluate(() => window.statuses);
      assert.ok(
        statuses.some(([s, r]) => s === "reconnecting" && r === "unauthorized"),
        JSON.stringify(statuses),
      );
      assert.ok(asked >= 2, `getToken asked ${asked} times`);

      // And the connection it made works: carol's upload comes back.
      const token = mintToken("carol", 3600);
      const form = new FormData();
      form.append("file", new Blob(["carol's file\n"]), "carol.txt");
      const res = await fetch(`${stack.url}/uploads`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
      assert.equal(res.status, 202);
      await page.waitForFunction(() => window.seen.length >= 2, null, { timeout: 15_000 });
      assert.deepEqual(await page.evaluate(() => window.seen), [1, 2]);
      await shot(page, "expired-token");
    });
  });

  it("a network that repeats and reorders messages: each event once, in order", async () => {
    await withStack(browser, {}, async ({ stack, context }) => {
      const page = await context.newPage();
      const token = mintToken("dave", 3600);
      await page.goto(stack.url);
      await page.evaluate(
        async ({ wsUrl, apiUrl, token }) => {
          const { connect } = await import("/boomerang-client.js");
          // Every message twice, and each pair swapped (a lone one comes late).
          class Hostile extends WebSocket {
            set onmessage(fn) {
              let held = null;
              const twice = (m) => {
                fn(m);
                fn(m);
              };
              super.onmessage = (m) => {
                if (held) {
                  twice(m);
                  twice(held);
                  held = null;
                  return;
                }
                held = m;
                setTimeout(() => held === m && ((held = null), twice(m)), 100);
              };
            }
          }
          window.seen = [];
          window.client = connect({ wsUrl, apiUrl, since: 0, WebSocket: Hostile, getToken: async () => token, onEvent: (e) => window.seen.push(e.seq) });
        },
        { wsUrl: stack.url.replace("http", "ws") + "/ws", apiUrl: stack.url, token },
      );
      await waitFor("the socket", async () => (await stack.connections()) === 1);

      for (const name of ["a.txt", "b.txt", "c.txt"]) {
        const form = new FormData();
        form.append("file", new Blob([`${name}\n`]), name);
        const res = await fetch(`${stack.url}/uploads`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
        assert.equal(res.status, 202);
      }
      // A repeat of an earlier seq would come before 6; one of 6, with it.
      await page.waitForFunction(() => window.seen.includes(6), null, { timeout: 15_000 });
      assert.deepEqual(await page.evaluate(() => window.seen), range(1, 6));
    });
  });
});

/** Two screenshots side by side, composed in the browser itself. */
async function sideBySide(context, names, out) {
  const imgs = names.map((n) => `data:image/png;base64,${readFileSync(`${SHOTS}/${n}.png`).toString("base64")}`);
  const page = await context.newPage();
  await page.setViewportSize({ width: 1480, height: 900 });
  await page.setContent(
    `<body style="margin:0;background:#c9ced8;display:flex;gap:16px;padding:16px;align-items:flex-start">${imgs
      .map((src) => `<img src="${src}" style="width:720px;border-radius:8px;box-shadow:0 2px 10px #0003">`)
      .join("")}</body>`,
  );
  await page.screenshot({ path: `${SHOTS}/${out}.png`, fullPage: true });
  await page.close();
}
