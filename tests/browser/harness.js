// What the browser scenarios share: a real boomerang-local on a fresh data
// folder, Debian's Chromium driven by playwright-core, a third party that
// signs its webhooks the Standard Webhooks way, and waits with deadlines.
import { spawn } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target");
export const BINARY = process.env.BOOMERANG_LOCAL_BIN ?? path.join(TARGET, "debug", "boomerang-local");
export const SHOTS = path.join(TARGET, "browser");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export const JWT_SECRET = "browser-tests-jwt-secret-of-32-bytes!!";
export const WEBHOOK_KEY = randomBytes(32);
export const WEBHOOK_SECRET = `whsec_${WEBHOOK_KEY.toString("base64")}`;

/** Polls `check` until it returns a truthy value, or fails after `ms`. */
export async function waitFor(what, check, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts boomerang-local and resolves once it prints its ready line.
 * `addr` pins the port (a restart on the same folder reuses it).
 */
export async function startStack({ dataDir, addr = "127.0.0.1:0", env = {} } = {}) {
  dataDir ??= mkdtempSync(path.join(tmpdir(), "boomerang-browser-"));
  const child = spawn(BINARY, [], {
    env: {
      ...process.env,
      BOOMERANG_ADDR: addr,
      BOOMERANG_DATA_DIR: dataDir,
      BOOMERANG_JWT_SECRET: JWT_SECRET,
      BOOMERANG_WEBHOOK_SECRET: WEBHOOK_SECRET,
      BOOMERANG_SIM_DELAY_MS: "300",
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const lines = readline.createInterface({ input: child.stdout });
  const url = await Promise.race([
    new Promise((resolve) => lines.on("line", (l) => l.startsWith("ready: ") && resolve(l.slice(7).trim()))),
    exited.then(({ code, signal }) => {
      throw new Error(`boomerang-local exited before it was ready (${code ?? signal}); is ${BINARY} built?`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error("boomerang-local not ready in 30 s")), 30_000).unref()),
  ]);
  return {
    url,
    addr: new URL(url).host,
    dataDir,
    exited,
    /** SIGTERM, and wait for a clean exit. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
    /** SIGKILL: nothing gets to finish. */
    async kill() {
      child.kill("SIGKILL");
      return exited;
    },
    /** `boomerang_connections` from /metrics: the sockets the stack holds. */
    async connections() {
      const text = await (await fetch(`${url}/metrics`)).text();
      const m = /^boomerang_connections (\d+)$/m.exec(text);
      if (!m) throw new Error("no boomerang_connections in /metrics");
      return Number(m[1]);
    },
    cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * moto (tools/moto_server.py, from the project's virtualenv) on a free
 * port: AWS's wire protocols for the aws backend. Resolves once it answers.
 */
export async function startMoto() {
  const port = await new Promise((resolve) => {
    const probe = http.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const python = path.join(ROOT, process.env.VENV ?? ".venv", "bin", "python");
  const child = spawn(python, [path.join(ROOT, "tools", "moto_server.py"), "127.0.0.1", String(port)], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await waitFor("moto answers", async () => {
    try {
      await fetch(url);
      return true;
    } catch {
      return false;
    }
  });
  return {
    url,
    /** What the stack needs to run on it, as `make run-aws` sets it. */
    env: {
      BOOMERANG_BACKEND: "aws",
      BOOMERANG_CREATE_RESOURCES: "true",
      AWS_ENDPOINT_URL: url,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    },
    stop() {
      child.kill();
    },
  };
}

/** An HS256 token, minted here with the stack's secret. */
export function mintToken(sub, expiresInSeconds) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + expiresInSeconds })}`;
  return `${body}.${createHmac("sha256", JWT_SECRET).update(body).digest("base64url")}`;
}

export async function launch() {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root, without the sandbox; and no calls home, which a closed
    // network would refuse.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Runs `body` with a fresh stack and a fresh browser context (one
 * "browser": its tabs share Web Locks and channels), and cleans both up.
 * `body` may replace `s.stack` (a restart); the one left is stopped.
 */
export async function withStack(browser, { env = {}, context = {} } = {}, body) {
  const s = { stack: await startStack({ env }) };
  try {
    s.context = await browser.newContext(context);
    return await body(s);
  } finally {
    await s.context?.close();
    await s.stack.stop();
    s.stack.cleanup();
  }
}

/** Opens the demo page in a new tab of `context` and signs in as `user`. */
export async function openTab(context, stack, user) {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${user}] page error:`, e));
  await page.goto(stack.url);
  await page.getByLabel("Your name").fill(user);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('#status[data-status="open"]').waitFor({ timeout: 15_000 });
  return page;
}

/** Uploads through the page's form, as a user would. */
export async function uploadThroughPage(page, name, content) {
  const buffer = Buffer.isBuffer(content) ? content : Buffer.from(content);
  await page.getByLabel("File", { exact: true }).setInputFiles({ name, mimeType: "text/plain", buffer });
  await page.getByRole("button", { name: "Upload" }).click();
}

/** Uploads a file from disk through the page's form (large files: by path). */
export async function uploadPathThroughPage(page, filePath) {
  await page.getByLabel("File", { exact: true }).setInputFiles(filePath);
  await page.getByRole("button", { name: "Upload" }).click();
}

/** The seqs of the events a tab shows in its activity feed, oldest first. */
export async function seqsShown(page) {
  const seqs = await page.locator("#activity li").evaluateAll((lis) => lis.map((li) => Number(li.dataset.seq)));
  return seqs.reverse();
}

export const sha256 = (text) => createHash("sha256").update(text).digest("hex");

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * A third party nobody here wrote would look like this: it takes the file,
 * answers 202 at once, and later POSTs a signed result to the callback URL,
 * retrying until it gets a 2xx.
 */
export async function startThirdParty({ status = 202 } = {}) {
  const received = new Map(); // job_id -> { callbackUrl, text }
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (status >= 300) return res.writeHead(status, { "content-type": "application/json" }).end('{"error":"we are closed"}');
    const form = await new Request("http://third.party/", { method: "POST", headers: req.headers, body: Buffer.concat(chunks) }).formData();
    const file = form.get("file");
    received.set(String(form.get("job_id")), { callbackUrl: String(form.get("callback_url")), text: await file.text() });
    res.writeHead(status, { "content-type": "application/json" }).end("{}");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    received,
    /**
     * Delivers the result of `jobId`; `onSent` runs once the first attempt's
     * request is on the wire. Retries (same webhook-id) until a 2xx.
     */
    async deliver(jobId, { onSent } = {}) {
      const job = received.get(jobId);
      const text = job.text;
      const body = JSON.stringify({ job_id: jobId, status: "completed", result: { bytes: Buffer.byteLength(text), sha256: sha256(text) } });
      const id = `msg_${randomBytes(8).toString("hex")}`;
      let first = true;
      return waitFor(
        `a 2xx for the webhook of ${jobId}`,
        async () => {
          const ts = String(Math.floor(Date.now() / 1000));
          const sig = createHmac("sha256", WEBHOOK_KEY).update(`${id}.${ts}.${body}`).digest("base64");
          const status = await post(job.callbackUrl, body, { "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": `v1,${sig}` }, first ? onSent : undefined);
          first = false;
          return status >= 200 && status < 300;
        },
        60_000,
      );
    },
    /** Reports progress on `jobId`, once, signed; answers the status. */
    async progress(jobId, progress, message) {
      const body = JSON.stringify({ job_id: jobId, status: "processing", progress, message });
      const id = `msg_${randomBytes(8).toString("hex")}`;
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = createHmac("sha256", WEBHOOK_KEY).update(`${id}.${ts}.${body}`).digest("base64");
      return post(received.get(jobId).callbackUrl, body, { "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": `v1,${sig}` });
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

function post(url, body, headers, onSent) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(body, () => onSent?.());
  });
}
