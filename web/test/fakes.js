// In-process stand-ins for what the client is given in a page: a Boomerang
// server (its /events route and its sockets), virtual timers, Web Locks and
// BroadcastChannel. The real ones are exercised in Chromium
// (tests/browser); these make the client's logic testable step by step.

/** A JWT-shaped token; the fake server keeps its own list of good ones. */
export function fakeToken(sub, n = 0) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, exp: 4102444800, n })}.sig`;
}

function userOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).sub;
}

export function event(seq, jobId = `job-${seq}`, type = "job.completed") {
  return { seq, type, at: "2026-11-26T00:00:00.000Z", job: { id: jobId, status: type.slice(4), fileName: "a.txt", size: 1, createdAt: "", updatedAt: "" } };
}

/** The server: per-user event logs, tokens it accepts, open sockets. */
export class FakeServer {
  constructor() {
    this.logs = new Map();
    this.good = new Set();
    this.sockets = new Set();
    this.expiredBelow = new Map(); // user -> seqs <= this are gone
    this.requests = [];
    this.down = false;
    const server = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url) {
        super(url, server);
      }
    };
    this.fetch = (url, init) => this.handle(url, init);
  }

  token(sub, n = 0) {
    const t = fakeToken(sub, n);
    this.good.add(t);
    return t;
  }

  /** Appends an event to the user's log; `push` sends it to open sockets. */
  append(user, { push = true, jobId } = {}) {
    const log = this.logs.get(user) ?? [];
    const e = event(log.length + 1, jobId);
    log.push(e);
    this.logs.set(user, log);
    if (push) this.pushTo(user, e);
    return e;
  }

  pushTo(user, e) {
    for (const s of this.sockets) if (s.user === user && s.readyState === 1) s.receive(JSON.stringify(e));
  }

  open(user) {
    return [...this.sockets].filter((s) => s.user === user && s.readyState === 1);
  }

  async handle(url, init) {
    const u = new URL(url);
    const token = (init?.headers?.authorization ?? "").replace(/^Bearer /, "");
    this.requests.push(u.pathname + u.search);
    await Promise.resolve();
    if (this.down) throw new TypeError("fetch failed");
    // An identity provider's keys not fetched yet: 503, not a refusal.
    if (this.keysUnavailable) return response(503, { error: "the identity provider's keys are not available yet; try again" });
    if (!this.good.has(token)) return response(401, { error: "token refused" });
    const user = userOf(token);
    const since = Number(u.searchParams.get("since"));
    const limit = Number(u.searchParams.get("limit"));
    const log = this.logs.get(user) ?? [];
    const gone = this.expiredBelow.get(user) ?? 0;
    const events = log.filter((e) => e.seq > since && e.seq > gone).slice(0, limit);
    return response(200, { events, lastSeq: log.length, gap: since < gone });
  }
}

function response(status, body) {
  return { status, ok: status >= 200 && status < 300, json: async () => body };
}

class FakeSocket {
  constructor(url, server) {
    this.url = url;
    this.server = server;
    this.readyState = 0;
    this.sent = [];
    const token = new URL(url).searchParams.get("token");
    server.sockets.add(this);
    queueMicrotask(() => {
      if (this.readyState !== 0) return;
      if (server.down || server.keysUnavailable || !server.good.has(token)) return this.finish(1006, "");
      this.user = userOf(token);
      this.readyState = 1;
      this.onopen?.({});
    });
  }

  send(data) {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(JSON.parse(data));
    if (JSON.parse(data).action === "ping" && !this.server.mutePongs) {
      queueMicrotask(() => this.receive(JSON.stringify({ type: "pong" })));
    }
  }

  receive(data) {
    if (this.readyState === 1) this.onmessage?.({ data });
  }

  close(code = 1000, reason = "") {
    this.finish(code, reason);
  }

  /** The server side ends the connection (idle, 2 h, a crash). */
  drop(code = 1006, reason = "") {
    this.finish(code, reason);
  }

  finish(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.server.sockets.delete(this);
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }
}

/** Timers on a virtual clock, run by `advance`. */
export class Clock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.next = 1;
    this.setTimeout = (fn, ms) => {
      const id = this.next++;
      this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => this.timers.delete(id);
    this.now = () => this.t;
  }

  /** Moves time forward, running each due timer and letting promises settle. */
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let due = null;
      for (const [id, timer] of this.timers) if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise chains and microtasks run. */
export async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Web Locks, exclusive mode, for one "browser": queued requests are granted
 * in order; `steal` takes the lock and rejects the holder's promise with an
 * AbortError; `signal` withdraws a waiting request.
 */
export class FakeLocks {
  constructor() {
    this.held = new Map(); // name -> holder
    this.queue = new Map(); // name -> [waiters]
  }

  request(name, opts, cb) {
    return new Promise((resolve, reject) => {
      const w = { cb, resolve, reject };
      if (opts.signal) {
        opts.signal.addEventListener("abort", () => {
          const q = this.queue.get(name) ?? [];
          const i = q.indexOf(w);
          if (i >= 0) {
            q.splice(i, 1);
            reject(abortError());
          }
        });
      }
      if (opts.steal) {
        const old = this.held.get(name);
        if (old) {
          this.held.delete(name);
          old.reject(abortError());
        }
        this.grant(name, w);
        return;
      }
      const q = this.queue.get(name) ?? [];
      q.push(w);
      this.queue.set(name, q);
      this.pump(name);
    });
  }

  pump(name) {
    if (this.held.has(name)) return;
    const q = this.queue.get(name) ?? [];
    const w = q.shift();
    if (w) this.grant(name, w);
  }

  grant(name, w) {
    this.held.set(name, w);
    Promise.resolve()
      .then(() => w.cb({ name, mode: "exclusive" }))
      .then(
        (v) => this.release(name, w, () => w.resolve(v)),
        (e) => this.release(name, w, () => w.reject(e)),
      );
  }

  release(name, w, settleWaiter) {
    if (this.held.get(name) !== w) return; // stolen: already rejected
    this.held.delete(name);
    settleWaiter();
    this.pump(name);
  }
}

function abortError() {
  const e = new Error("aborted");
  e.name = "AbortError";
  return e;
}

/** Delivers like a browser's BroadcastChannel: to every other open object of the same name, asynchronously, in order. */
export class FakeChannelHub {
  constructor() {
    this.members = new Set();
    const hub = this;
    this.BroadcastChannel = class {
      constructor(name) {
        this.name = name;
        this.onmessage = null;
        hub.members.add(this);
      }
      postMessage(data) {
        const copy = structuredClone(data);
        for (const m of hub.members) {
          if (m !== this && m.name === this.name) setImmediate(() => hub.members.has(m) && m.onmessage?.({ data: copy }));
        }
      }
      close() {
        hub.members.delete(this);
      }
    };
  }
}

/** A fake document/window pair whose lifecycle events the test fires. */
export class FakePage {
  constructor() {
    this.listeners = new Map();
    this.addEventListener = (type, fn) => this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
    this.removeEventListener = (type, fn) => this.listeners.set(type, (this.listeners.get(type) ?? []).filter((f) => f !== fn));
  }

  fire(type, detail = {}) {
    for (const fn of this.listeners.get(type) ?? []) fn({ type, ...detail });
  }
}
