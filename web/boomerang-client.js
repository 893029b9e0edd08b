// @ts-check
// Boomerang browser client: ES modules, no dependencies, no build step;
// this one is the entry point and holds the connection's state machine.
//
// connect() opens the user's WebSocket, delivers each event exactly once in
// seq order, catches up through GET /events after every (re)connect and
// every hole, and shares one socket between the tabs of one user in one
// browser (a Web Lock elects the tab that holds it, a BroadcastChannel
// carries its events to the others). The pure parts (ordering, backoff,
// paging, token reading) are exported so tests can call them directly; the
// WebSocket, fetch, timers and locks are passed in or taken from the page.

import { backoffDelay, channelName, readClaims, socketUrl } from "./client/socket.js";
import { Election } from "./client/election.js";
import { MAX_EVENTS_PAGE, Sequencer, Unauthorized, catchUp, fetchEvents } from "./client/sequencing.js";

export * from "./client/socket.js";
export * from "./client/sequencing.js";
export * from "./client/uploads.js";

export const DEFAULTS = Object.freeze({
  shared: true,
  // Well inside the 10-minute idle limit, even with a hidden tab's timers
  // throttled to one wake-up a minute.
  pingIntervalMs: 4 * 60 * 1000,
  pongTimeoutMs: 10 * 1000,
  // Reconnect on our own before API Gateway's 2-hour cut; the exact point
  // is jittered so the tabs of many users do not reconnect together.
  maxConnectionMs: 110 * 60 * 1000,
  maxConnectionJitterMs: 5 * 60 * 1000,
  backoffBaseMs: 500,
  backoffCapMs: 30 * 1000,
  // A connection that stayed open this long resets the backoff.
  stableAfterMs: 10 * 1000,
  // Pushes of two jobs may cross on the wire: wait this long for a missing
  // seq before asking GET /events for it.
  holeGraceMs: 250,
  pageSize: MAX_EVENTS_PAGE,
  // Follower tabs ask the holder of the socket for a sign of life this
  // often, and take over when one goes unanswered this long: a hung
  // leader is replaced within probe + timeout + probe = 1.5 s.
  leaderProbeMs: 250,
  leaderTimeoutMs: 1000,
});

// ---------------------------------------------------------------------------
// The client

const noop = () => {};

/**
 * Connects to Boomerang. See boomerang-client.d.ts for the options.
 * @returns {import("./boomerang-client.js").BoomerangClient}
 */
export function connect(options) {
  return new Client(options);
}

class Client {
  constructor(options) {
    const o = { ...DEFAULTS, ...options };
    if (typeof o.wsUrl !== "string" || typeof o.apiUrl !== "string") {
      throw new TypeError("connect: wsUrl and apiUrl are required");
    }
    if (typeof o.getToken !== "function") throw new TypeError("connect: getToken is required");
    this.o = o;
    const g = globalThis;
    this.WebSocket = o.WebSocket ?? g.WebSocket;
    this.fetch = o.fetch ?? g.fetch?.bind(g);
    this.setTimeout = o.setTimeout ?? g.setTimeout.bind(g);
    this.clearTimeout = o.clearTimeout ?? g.clearTimeout.bind(g);
    this.now = o.now ?? (() => Date.now());
    this.random = o.random ?? Math.random;
    this.locks = o.locks !== undefined ? o.locks : g.navigator?.locks;
    this.Channel = o.BroadcastChannel !== undefined ? o.BroadcastChannel : g.BroadcastChannel;
    this.doc = o.document !== undefined ? o.document : g.document;
    this.win = o.window !== undefined ? o.window : g.window;
    this.onEvent = o.onEvent ?? noop;
    this.onStatus = o.onStatus ?? noop;
    this.onGap = o.onGap ?? noop;

    this.seq = new Sequencer(Number.isSafeInteger(o.since) && o.since >= 0 ? o.since : null);
    this.status = null;
    this.closed = false;
    /** @type {"solo" | "leader" | "follower" | null} */
    this.role = null;
    this.timers = new Set();
    this.catching = null; // the running catch-up, if any
    this.catchAgain = false;
    this.holeTimer = null;
    this.token = null;
    this.refusals = 0; // consecutive 401s

    // Leader and solo: the socket.
    this.ws = null;
    this.attempt = 0;
    this.openedAt = 0;
    this.pongTimer = null;

    this.start();
  }

  /** The position: the highest seq delivered (0 before any is known). */
  get lastSeq() {
    return this.seq.lastSeq ?? 0;
  }

  /** This tab's part: "leader" holds the shared socket, "follower" hears it. */
  get mode() {
    return this.role;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.dropSocket(1000, "closed by client");
    this.leaveElection();
    for (const t of this.timers) this.clearTimeout(t);
    this.timers.clear();
    this.setStatus("closed", { reason: "closed by client" });
  }

  /** Connects again now: after a refused token, or to skip a backoff wait. */
  reconnect() {
    if (this.closed && this.status?.detail?.reason !== "unauthorized") return;
    this.closed = false;
    this.refusals = 0;
    this.attempt = 0;
    if (this.role === "follower") {
      this.setStatus(this.leaderStatus?.status ?? "connecting", this.leaderStatus?.detail ?? {});
      return;
    }
    if (this.role === null) return this.start();
    this.dropSocket(1000, "reconnecting");
    this.openSocket();
  }

  // --- roles -------------------------------------------------------------

  start() {
    if (this.status?.status !== "reconnecting") this.setStatus("connecting", {});
    if (!this.unlistenLifecycle) this.listenLifecycle();
    const sharable = this.o.shared && this.locks?.request && this.Channel;
    if (!sharable) {
      this.role = "solo";
      this.openSocket();
      return;
    }
    // The channel is keyed by the user in the token: tabs of two users
    // never share. The first token is fetched for that name alone.
    this.tokenNow()
      .then((token) => {
        if (this.closed) return;
        // The first socket (or catch-up) uses it: one getToken call, not two.
        this.firstToken = { token, at: this.now() };
        const sub = readClaims(token)?.sub;
        if (typeof sub !== "string") {
          this.role = "solo";
          this.openSocket();
          return;
        }
        this.joinElection(channelName(this.o.wsUrl, sub));
      })
      .catch((e) => this.retryLater({ reason: "getToken failed", error: String(e instanceof Error ? e.message : e) }));
  }

  joinElection(name) {
    this.role = "follower";
    this.election = new Election({
      name,
      locks: this.locks,
      Channel: this.Channel,
      now: this.now,
      setTimeout: this.setTimeout,
      clearTimeout: this.clearTimeout,
      probeMs: this.o.leaderProbeMs,
      timeoutMs: this.o.leaderTimeoutMs,
      onLead: () => {
        this.role = "leader";
        this.openSocket();
      },
      onDeposed: (reason) => {
        this.dropSocket(1000, reason);
        this.role = "follower";
      },
      onMessage: (m) => this.onChannel(m),
    });
  }

  leaveElection() {
    if (this.role === "leader") this.post({ t: "status", status: "reconnecting", detail: { reason: "the tab holding the connection left" } });
    this.election?.leave();
    this.election = null;
    this.unlistenLifecycle?.();
    this.unlistenLifecycle = null;
  }

  /**
   * A frozen tab runs no code but keeps its lock: give the lock up on
   * `freeze` and queue again on `resume`; say goodbye on `pagehide`.
   */
  listenLifecycle() {
    const doc = this.doc;
    const win = this.win;
    // A tab alone keeps its socket through a freeze; the browser decides.
    const onFreeze = () => {
      if (!this.election) return;
      if (this.role === "leader") {
        this.post({ t: "status", status: "reconnecting", detail: { reason: "the tab holding the connection froze" } });
        this.dropSocket(1000, "tab frozen");
      }
      this.election.freeze();
      this.role = "follower";
    };
    const onResume = () => {
      if (!this.election?.frozen || this.closed) return;
      this.election.resume();
      this.requestCatchUp();
    };
    const onHide = (e) => {
      if (this.role === "leader" && !e.persisted) {
        this.post({ t: "status", status: "reconnecting", detail: { reason: "the tab holding the connection left" } });
      }
    };
    const onOnline = () => {
      if (this.role !== "follower" && !this.ws && !this.closed) this.reconnect();
    };
    doc?.addEventListener?.("freeze", onFreeze);
    doc?.addEventListener?.("resume", onResume);
    win?.addEventListener?.("pagehide", onHide);
    win?.addEventListener?.("online", onOnline);
    this.unlistenLifecycle = () => {
      doc?.removeEventListener?.("freeze", onFreeze);
      doc?.removeEventListener?.("resume", onResume);
      win?.removeEventListener?.("pagehide", onHide);
      win?.removeEventListener?.("online", onOnline);
    };
  }

  // --- the channel between tabs -------------------------------------------

  post(message) {
    this.election?.post(message);
  }

  /** The holder tells the others where it stands. */
  shareStatus() {
    if (this.role === "leader") this.post({ t: "status", status: this.status?.status, detail: this.status?.detail ?? {}, lastSeq: this.seq.lastSeq });
  }

  onChannel(m) {
    if (this.closed) return;
    if (this.role === "leader") {
      if (m.t === "hello" || m.t === "ping") this.shareStatus();
      return;
    }
    if (this.role !== "follower") return;
    if (m.t === "event") {
      this.take([m.event]);
    } else if (m.t === "status" && typeof m.status === "string") {
      this.leaderStatus = { status: m.status, detail: m.detail ?? {} };
      // The holder's position first (a follower starting "from now" takes
      // it as its own), so lastSeq is known when onStatus reports "open";
      // a position ahead of ours says we missed something.
      if (Number.isSafeInteger(m.lastSeq)) {
        if (this.seq.lastSeq === null) this.seq.start(m.lastSeq).forEach((e) => this.deliver(e));
        else if (m.lastSeq > this.seq.lastSeq) this.requestCatchUp();
      }
      if (this.status?.detail?.reason !== "unauthorized") this.setStatus(m.status, m.detail ?? {});
    }
  }

  // --- the socket (solo and leader) ----------------------------------------

  async openSocket() {
    if (this.closed) return;
    this.clearTimer("retry");
    // getToken is awaited: a second call meanwhile (online, reconnect())
    // makes this one stand down.
    const generation = (this.generation = (this.generation ?? 0) + 1);
    let token;
    try {
      const first = this.firstToken;
      this.firstToken = null;
      // A follower that takes over much later asks for a fresh one.
      token = first && this.now() - first.at < 5000 ? first.token : await this.tokenNow();
    } catch (e) {
      if (generation !== this.generation) return;
      return this.retryLater({ reason: "getToken failed", error: String(e instanceof Error ? e.message : e) });
    }
    if (this.closed || this.role === "follower" || generation !== this.generation) return;
    let ws;
    try {
      ws = new this.WebSocket(socketUrl(this.o.wsUrl, token));
    } catch (e) {
      return this.retryLater({ reason: "cannot open the socket", error: String(e instanceof Error ? e.message : e) });
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.openedAt = this.now();
      this.refusals = 0;
      this.setStatus("open", {});
      this.schedulePing();
      const age = this.o.maxConnectionMs + Math.floor(this.random() * this.o.maxConnectionJitterMs);
      // Before API Gateway's 2-hour cut: reconnect, catch up, lose nothing.
      this.setTimer("age", age, () => this.cycle("maximum connection duration"));
      this.requestCatchUp();
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg?.type === "pong") {
        this.clearTimer("pong");
      } else if (Number.isSafeInteger(msg?.seq) && typeof msg.type === "string") {
        this.take([msg]);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearSocketTimers();
      if (this.closed || this.role === "follower") return;
      if (opened) {
        if (this.now() - this.openedAt >= this.o.stableAfterMs) this.attempt = 0;
        this.retryLater({ reason: ev.reason || "connection closed", code: ev.code });
      } else {
        // A browser hides the upgrade's status: ask the API whether the
        // token is the reason before trying again.
        this.checkRefusal(token, ev.code);
      }
    };
  }

  async checkRefusal(token, code) {
    try {
      await fetchEvents({ fetch: this.fetch, apiUrl: this.o.apiUrl, token, since: Number.MAX_SAFE_INTEGER, limit: 1 });
      this.retryLater({ reason: "could not connect", code });
    } catch (e) {
      if (e instanceof Unauthorized) this.refused(e.message);
      else this.retryLater({ reason: "could not connect", code });
    }
  }

  /**
   * A refused token gets one immediate retry with a fresh one from
   * getToken (it may just have expired); refused twice, the client stops
   * and says so, instead of hammering the server with a bad token.
   */
  refused(message) {
    this.refusals += 1;
    if (this.refusals >= 2) {
      this.dropSocket(1000, "unauthorized");
      this.setStatus("closed", { reason: "unauthorized", message });
      return;
    }
    if (this.role === "follower") return this.requestCatchUp();
    this.setStatus("reconnecting", { reason: "unauthorized", message, attempt: this.attempt, delayMs: 0 });
    this.dropSocket(1000, "token refused");
    this.openSocket();
  }

  retryLater(detail) {
    if (this.closed) return;
    const delayMs = backoffDelay(this.attempt, { baseMs: this.o.backoffBaseMs, capMs: this.o.backoffCapMs }, this.random);
    this.setStatus("reconnecting", { ...detail, attempt: this.attempt, delayMs });
    this.attempt += 1;
    this.setTimer("retry", delayMs, () => {
      // Not started yet (getToken failed before the first socket): start.
      if (this.role === null) return this.start();
      if (this.role === "follower") return;
      this.openSocket();
    });
  }

  /** Closes this socket and opens a new one at once (the 2-hour cut). */
  cycle(reason) {
    this.dropSocket(1000, reason);
    this.setStatus("reconnecting", { reason, attempt: 0, delayMs: 0 });
    this.openSocket();
  }

  schedulePing() {
    this.setTimer("ping", this.o.pingIntervalMs, () => {
      const ws = this.ws;
      if (!ws) return;
      try {
        ws.send(JSON.stringify({ action: "ping" }));
      } catch {
        return;
      }
      // No pong: the network went away without a close (a laptop lid).
      this.setTimer("pong", this.o.pongTimeoutMs, () => {
        if (this.ws !== ws) return;
        this.dropSocket(4000, "no pong");
        this.retryLater({ reason: "no answer to ping" });
      });
      this.schedulePing();
    });
  }

  dropSocket(code, reason) {
    const ws = this.ws;
    this.ws = null;
    this.clearSocketTimers();
    if (!ws) return;
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // Already closing.
    }
  }

  clearSocketTimers() {
    this.clearTimer("ping");
    this.clearTimer("pong");
    this.clearTimer("age");
  }

  // --- ordering and catching up --------------------------------------------

  /** Events from the socket or the holder tab, in any order. */
  take(events) {
    this.seq.accept(events).forEach((e) => this.deliver(e));
    if (this.seq.hasHole || this.seq.lastSeq === null) {
      this.setTimer("hole", this.o.holeGraceMs, () => {
        if (this.seq.hasHole || this.seq.lastSeq === null) this.requestCatchUp();
      });
    } else {
      this.clearTimer("hole");
    }
  }

  deliver(event) {
    if (this.role === "leader") this.post({ t: "event", event });
    try {
      this.onEvent(event);
    } catch (e) {
      console.error("boomerang: onEvent threw", e);
    }
  }

  /** One catch-up at a time; a request during one runs another after it. */
  requestCatchUp() {
    if (this.closed) return;
    if (this.catching) {
      this.catchAgain = true;
      return;
    }
    this.catching = this.runCatchUp().finally(() => {
      this.catching = null;
      if (this.catchAgain && !this.closed) {
        this.catchAgain = false;
        this.requestCatchUp();
      }
    });
  }

  async runCatchUp() {
    try {
      // The socket's token, while it is good; a 401 gets a fresh one.
      const token = this.refusals === 0 && this.token ? this.token : await this.tokenNow();
      await catchUp({
        sequencer: this.seq,
        pageSize: this.o.pageSize,
        getPage: (since, limit) => fetchEvents({ fetch: this.fetch, apiUrl: this.o.apiUrl, token, since, limit }),
        deliver: (e) => this.deliver(e),
        onGap: (detail) => {
          this.shareStatus();
          try {
            this.onGap(detail);
          } catch (e) {
            console.error("boomerang: onGap threw", e);
          }
        },
      });
      this.refusals = 0;
      this.shareStatus();
    } catch (e) {
      if (this.closed) return;
      if (e instanceof Unauthorized) return this.refused(e.message);
      // The socket's next event or reconnect asks again; a hole retries.
      this.setTimer("catchup", backoffDelay(2, { baseMs: this.o.backoffBaseMs, capMs: this.o.backoffCapMs }, this.random) + 100, () => {
        if (this.seq.hasHole || this.seq.lastSeq === null) this.requestCatchUp();
      });
    }
  }

  // --- small helpers -------------------------------------------------------

  async tokenNow() {
    const token = await this.o.getToken();
    if (typeof token !== "string" || token.length === 0) throw new Error("getToken returned no token");
    this.token = token;
    return token;
  }

  setStatus(status, detail) {
    if (this.status && this.status.status === status && sameDetail(this.status.detail, detail)) return;
    this.status = { status, detail };
    this.shareStatus();
    try {
      this.onStatus(status, detail);
    } catch (e) {
      console.error("boomerang: onStatus threw", e);
    }
  }

  setTimer(name, ms, fn) {
    this.clearTimer(name);
    const t = this.setTimeout(() => {
      this.timers.delete(t);
      if (this[`timer_${name}`] === t) this[`timer_${name}`] = null;
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
    this[`timer_${name}`] = t;
  }

  clearTimer(name) {
    const t = this[`timer_${name}`];
    if (t == null) return;
    this.clearTimeout(t);
    this.timers.delete(t);
    this[`timer_${name}`] = null;
  }
}

function sameDetail(a, b) {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}
