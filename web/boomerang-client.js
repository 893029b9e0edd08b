// @ts-check
// Boomerang browser client: ES modules, no dependencies, no build step;
// this one is the entry point.
//
// connect() opens the user's WebSocket, delivers each event exactly once in
// seq order, catches up through GET /events after every (re)connect and
// every hole, and shares one socket between the tabs of one user in one
// browser. Its Client coordinates the tab's role (alone, holding the shared
// socket, or hearing it: client/tabs.js), reconnects, and catch-up; one
// socket's life is a SocketSession (client/session.js). The pure parts
// (ordering, backoff, paging, token reading) are exported so tests can call
// them directly; the WebSocket, fetch, timers and locks are passed in or
// taken from the page (client/options.js).

import { resolveOptions } from "./client/options.js";
import { SocketSession } from "./client/session.js";
import { Sequencer, Unauthorized, catchUp, fetchEvents } from "./client/sequencing.js";
import { channelName, readClaims, socketUrl } from "./client/socket.js";
import { SharedTabs, whenOnline } from "./client/tabs.js";
import { OneAtATime, Timers, safely } from "./client/timers.js";
import { Tokens, refusal } from "./client/tokens.js";

export { DEFAULTS } from "./client/options.js";
export * from "./client/socket.js";
export * from "./client/sequencing.js";
export * from "./client/uploads.js";

/**
 * Connects to Boomerang. See boomerang-client.d.ts for the options.
 * @returns {import("./boomerang-client.js").BoomerangClient}
 */
export function connect(options) {
  return new Client(options);
}

const message = (e) => String(e instanceof Error ? e.message : e);

class Client {
  constructor(options) {
    const env = resolveOptions(options);
    this.o = env.o;
    this.env = env;
    const since = env.o.since;
    this.seq = new Sequencer(Number.isSafeInteger(since) && since >= 0 ? since : null);
    this.status = null;
    this.closed = false;
    /** @type {"solo" | "leader" | "follower" | null} */
    this.role = null;
    /** @type {SharedTabs | null} */
    this.tabs = null;
    this.timers = new Timers(env.setTimeout, env.clearTimeout, () => this.closed);
    this.catchUps = new OneAtATime(() => this.runCatchUp(), () => this.closed);
    this.tokens = new Tokens(env.o.getToken, env.now);
    this.refusals = 0; // consecutive 401s
    // Solo and leader: the socket's session, and reconnects in a row.
    /** @type {SocketSession | null} */
    this.session = null;
    this.attempt = 0;
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
    this.tabs?.leave();
    this.tabs = null;
    this.unwatch?.();
    this.timers.clearAll();
    this.setStatus("closed", { reason: "closed by client" });
  }

  /** Connects again now: after a refused token, or to skip a backoff wait. */
  reconnect() {
    if (this.closed && this.status?.detail?.reason !== "unauthorized") return;
    [this.closed, this.refusals, this.attempt] = [false, 0, 0];
    if (this.role === "follower") return this.setStatus(this.holderStatus?.status ?? "connecting", this.holderStatus?.detail ?? {});
    if (this.role === null) return this.start();
    this.dropSocket(1000, "reconnecting");
    this.openSocket();
  }

  start() {
    if (this.status?.status !== "reconnecting") this.setStatus("connecting", {});
    if (!this.unwatch) this.watchNetwork();
    const env = this.env;
    const solo = () => {
      this.role = "solo";
      this.openSocket();
    };
    if (!(this.o.shared && env.locks?.request && env.Channel)) return solo();
    // The channel is keyed by the user in the token: tabs of two users
    // never share. The first token is fetched for that name alone.
    this.tokens
      .fresh()
      .then((token) => {
        if (this.closed) return;
        // The first socket (or catch-up) uses it: one getToken call, not two.
        this.tokens.keep(token);
        const sub = (this.user = readClaims(token)?.sub);
        if (typeof sub !== "string") return solo();
        this.role = "follower";
        this.tabs = this.shareWithTabs(channelName(this.o.wsUrl, sub));
      })
      .catch((e) => this.retryLater({ reason: "getToken failed", error: message(e) }));
  }

  shareWithTabs(name) {
    const stepDown = (reason) => {
      this.dropSocket(1000, reason);
      this.role = "follower";
    };
    return new SharedTabs(this.env, this.o, name, {
      onLead: () => {
        this.role = "leader";
        this.openSocket();
      },
      onDeposed: stepDown,
      // A tab alone keeps its socket through a freeze; the browser decides.
      onFrozen: () => stepDown("tab frozen"),
      onResumed: () => this.requestCatchUp(),
      statusNow: () => ({ status: this.status?.status, detail: this.status?.detail ?? {}, lastSeq: this.seq.lastSeq }),
      onEvent: (msg) => this.receive(msg),
      onHolderStatus: (said) => this.heardHolder(said),
    });
  }

  /** Back online: a socket that waits out its backoff tries at once. */
  watchNetwork() {
    this.unwatch = whenOnline(this.env.win, () => {
      if (this.role !== "follower" && !this.session && !this.closed) this.reconnect();
    });
  }

  /** The holder tells the others where it stands. */
  shareStatus() {
    if (this.role === "leader") this.tabs?.tell();
  }

  /** A follower hears where the holder stands. @param {{status: string, detail: object, lastSeq?: number}} said */
  heardHolder({ status, detail, lastSeq }) {
    if (this.closed || this.role !== "follower") return;
    this.holderStatus = { status, detail };
    // The holder's position first (a follower starting "from now" takes
    // it as its own), so lastSeq is known when onStatus reports "open";
    // a position ahead of ours says we missed something.
    if (typeof lastSeq === "number" && Number.isSafeInteger(lastSeq)) {
      if (this.seq.lastSeq === null) this.seq.start(lastSeq).forEach((e) => this.deliver(e));
      else if (lastSeq > this.seq.lastSeq) this.requestCatchUp();
    }
    if (this.status?.detail?.reason !== "unauthorized") this.setStatus(status, detail);
  }

  async openSocket() {
    if (this.closed) return;
    this.timers.clear("retry");
    // getToken is awaited: a second call meanwhile (online, reconnect())
    // makes this one stand down.
    const generation = (this.generation = (this.generation ?? 0) + 1);
    let token;
    try {
      token = await this.tokens.forSocket();
    } catch (e) {
      if (generation !== this.generation) return;
      return this.retryLater({ reason: "getToken failed", error: message(e) });
    }
    if (this.closed || this.role === "follower" || generation !== this.generation) return;
    if (this.switchedUser(token)) return;
    try {
      this.session = new SocketSession(this.env, this.o, socketUrl(this.o.wsUrl, token), {
        onOpen: () => {
          this.refusals = 0;
          this.setStatus("open", {});
          this.requestCatchUp();
        },
        onMessage: (msg) => this.receive(msg),
        onEnd: (end) => this.sessionEnded(end, token),
      });
    } catch (e) {
      return this.retryLater({ reason: "cannot open the socket", error: message(e) });
    }
  }

  /** What follows a socket's end: a new one at once, a backoff, or a check of the token. */
  sessionEnded(end, token) {
    this.session = null;
    if (this.closed || this.role === "follower") return;
    if (end.cause === "aged") {
      // Before API Gateway's 2-hour cut: another socket at once.
      this.setStatus("reconnecting", { reason: "maximum connection duration", attempt: 0, delayMs: 0 });
      return this.openSocket();
    }
    if (end.cause === "no pong") return this.retryLater({ reason: "no answer to ping" });
    if (end.opened) {
      if (end.openForMs >= this.o.stableAfterMs) this.attempt = 0;
      return this.retryLater({ reason: end.reason || "connection closed", code: end.code });
    }
    // Never opened: the token may be why (a browser hides the status).
    refusal(this.env.fetch, this.o.apiUrl, token).then((why) => {
      if (why === null) this.retryLater({ reason: "could not connect", code: end.code });
      else this.refused(why);
    });
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
    const delayMs = this.env.backoff(this.attempt);
    this.setStatus("reconnecting", { ...detail, attempt: this.attempt, delayMs });
    this.attempt += 1;
    this.timers.set("retry", delayMs, () => {
      // Not started yet (getToken failed before the first socket): start.
      if (this.role === null) return this.start();
      if (this.role === "follower") return;
      this.openSocket();
    });
  }

  /**
   * Whether `token` is another user's than this client's (the page signed
   * someone else in without close()): then nothing of the last user's is
   * kept (their tabs' channel, socket, position) and the client starts
   * again as the new one, saying so.
   */
  switchedUser(token) {
    const sub = readClaims(token)?.sub;
    if (this.user === undefined) this.user = sub;
    if (sub === this.user) return false;
    this.dropSocket(1000, "user changed");
    this.tabs?.leave();
    [this.tabs, this.role, this.user, this.attempt, this.refusals] = [null, null, sub, 0, 0];
    this.seq = new Sequencer(null);
    this.tokens.keep(token);
    this.setStatus("reconnecting", { reason: "the signed-in user changed", attempt: 0, delayMs: 0 });
    this.start();
    return true;
  }

  dropSocket(code, reason) {
    this.session?.close(code, reason);
    this.session = null;
  }


  /** From the socket or the holder tab: an event of the log, or progress (no seq: at once, around the sequencing). */
  receive(msg) {
    if (msg?.type === "job.progress" && typeof msg.job === "object") this.deliver(msg, "onProgress");
    else if (Number.isSafeInteger(msg?.seq) && typeof msg.type === "string") this.take([msg]);
  }

  /** Events from the socket or the holder tab, in any order. */
  take(events) {
    this.seq.accept(events).forEach((e) => this.deliver(e));
    if (this.seq.hasHole || this.seq.lastSeq === null) {
      this.timers.set("hole", this.o.holeGraceMs, () => {
        if (this.seq.hasHole || this.seq.lastSeq === null) this.requestCatchUp();
      });
    } else {
      this.timers.clear("hole");
    }
  }

  /** To the page (`onEvent`, or `onProgress`) and, holding the socket, to the other tabs. */
  deliver(msg, to = "onEvent") {
    if (this.role === "leader") this.tabs?.passOn(msg);
    safely(to, this.env[to], msg);
  }

  /** One catch-up at a time; a request during one runs another after it. */
  requestCatchUp() {
    this.catchUps.request();
  }

  async runCatchUp() {
    try {
      // The socket's token, while it is good; a 401 gets a fresh one.
      const current = this.tokens.current;
      const token = this.refusals === 0 && current ? current : await this.tokens.fresh();
      if (this.switchedUser(token)) return;
      await catchUp({
        sequencer: this.seq,
        pageSize: this.o.pageSize,
        getPage: (since, limit) => fetchEvents({ fetch: this.env.fetch, apiUrl: this.o.apiUrl, token, since, limit }),
        deliver: (e) => this.deliver(e),
        onGap: (detail) => {
          this.shareStatus();
          safely("onGap", this.env.onGap, detail);
        },
      });
      this.refusals = 0;
      this.shareStatus();
    } catch (e) {
      if (this.closed) return;
      if (e instanceof Unauthorized) return this.refused(e.message);
      // The socket's next event or reconnect asks again; a hole retries.
      this.timers.set("catchup", this.env.backoff(2) + 100, () => {
        if (this.seq.hasHole || this.seq.lastSeq === null) this.requestCatchUp();
      });
    }
  }

  setStatus(status, detail) {
    if (this.status && this.status.status === status && sameDetail(this.status.detail, detail)) return;
    this.status = { status, detail };
    this.shareStatus();
    safely("onStatus", this.env.onStatus, status, detail);
  }
}

function sameDetail(a, b) {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}
