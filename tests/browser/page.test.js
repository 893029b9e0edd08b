// The demo page as a user meets it: upload progress, a file over the limit,
// a third party that refuses. Real Chromium, a real boomerang-local.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";

import { launch, openTab, shot, startThirdParty, uploadThroughPage, withStack } from "./harness.js";

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
    await withStack(browser, { env: { BOOMERANG_MAX_UPLOAD_BYTES: String(limit) } }, async ({ stack, context }) => {
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
});
