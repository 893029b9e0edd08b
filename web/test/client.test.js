// The client's logic, step by step on a virtual clock: node --test web/test
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import {
  backoffDelay,
  catchUp,
  connect,
  DEFAULTS,
  IDLE_LIMIT_MS,
  MAX_CONNECTION_MS,
  readClaims,
  Sequencer,
  socketUrl,
} from "../boomerang-client.js";
import { Clock, event, FakeChannelHub, FakeLocks, FakePage, FakeServer, fakeToken, settle } from "./fakes.js";

/** A tab: a client with everything injected, recording what it reports. */
function tab(server, clock, { user = "alice", tokens, locks = null, hub = null, page = new FakePage(), ...options } = {}) {
  const seen = [];
  const statuses = [];
  const gaps = [];
  const progress = [];
  let tokenCalls = 0;
  const getToken = async () => {
    tokenCalls += 1;
    return tokens ? tokens(tokenCalls) : server.token(user);
  };
  const client = connect({
    wsUrl: "ws://boomerang.test/ws",
    apiUrl: "http://boomerang.test/",
    getToken,
    onEvent: (e) => seen.push(e.seq),
    onStatus: (s, d) => statuses.push([s, d]),
    onGap: (g) => gaps.push(g),
    onProgress: (p) => progress.push(p.job.progress),
    WebSocket: server.WebSocket,
    fetch: server.fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    random: () => 0.5,
    locks,
    BroadcastChannel: hub?.BroadcastChannel ?? null,
    document: page,
    window: page,
    ...options,
  });
  return {
    client,
    seen,
    statuses,
    gaps,
    progress,
    page,
    get tokenCalls() {
      return tokenCalls;
    },
    get status() {
      return statuses.at(-1)?.[0];
    },
  };
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("backoffDelay", () => {
  const bounds = { baseMs: 500, capMs: 30_000 };

  it("draws from [0, base * 2^attempt), full jitter", () => {
    for (const attempt of [0, 1, 2, 3]) {
      assert.equal(backoffDelay(attempt, bounds, () => 0), 0);
      assert.equal(backoffDelay(attempt, bounds, () => 0.999999), 500 * 2 ** attempt - 1);
    }
  });

  it("never exceeds the cap, however many attempts", () => {
    for (const attempt of [6, 7, 20, 1000]) {
      assert.equal(backoffDelay(attempt, bounds, () => 0.999999), 29_999);
    }
  });
});

describe("Sequencer", () => {
  it("delivers each seq once, in order, across a hole and a replay", () => {
    const s = new Sequencer(0);
    assert.deepEqual(s.accept([event(1), event(2), event(4)]).map((e) => e.seq), [1, 2]);
    assert.equal(s.hasHole, true);
    assert.deepEqual(s.accept([event(2), event(3), event(4), event(1)]).map((e) => e.seq), [3, 4]);
    assert.equal(s.hasHole, false);
    assert.deepEqual(s.accept([event(4), event(3)]), []);
    assert.equal(s.lastSeq, 4);
  });

  it("from now: starts below the first event heard, or at the newest seq", () => {
    const late = new Sequencer(null);
    assert.deepEqual(late.accept([event(9)]), []);
    assert.deepEqual(late.start(10).map((e) => e.seq), [9]);
    assert.equal(late.lastSeq, 9);
    const quiet = new Sequencer(null);
    assert.deepEqual(quiet.start(10), []);
    assert.equal(quiet.lastSeq, 10);
  });

  it("skips over expired seqs and keeps what waits above them", () => {
    const s = new Sequencer(2);
    s.accept([event(8)]);
    assert.deepEqual(s.skipTo(6).map((e) => e.seq), []);
    assert.deepEqual(s.accept([event(7)]).map((e) => e.seq), [7, 8]);
  });
});

describe("catchUp", () => {
  it("pages through GET /events, each event once, in order", async () => {
    const server = new FakeServer();
    for (let i = 0; i < 1234; i++) server.append("alice", { push: false });
    const token = server.token("alice");
    const seen = [];
    const sequencer = new Sequencer(0);
    await catchUp({
      sequencer,
      pageSize: 500,
      getPage: (since, limit) => server.fetch(`http://x/events?since=${since}&limit=${limit}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json()),
      deliver: (e) => seen.push(e.seq),
      onGap: () => assert.fail("no gap"),
    });
    assert.deepEqual(seen, range(1, 1234));
    assert.deepEqual(server.requests, ["/events?since=0&limit=500", "/events?since=500&limit=500", "/events?since=1000&limit=500"]);
  });

  it("reports a gap when events after its position expired, and goes on after them", async () => {
    const server = new FakeServer();
    for (let i = 0; i < 20; i++) server.append("alice", { push: false });
    server.expiredBelow.set("alice", 10);
    const token = server.token("alice");
    const seen = [];
    const gaps = [];
    await catchUp({
      sequencer: new Sequencer(4),
      pageSize: 500,
      getPage: (since, limit) => server.fetch(`http://x/events?since=${since}&limit=${limit}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json()),
      deliver: (e) => seen.push(e.seq),
      onGap: (g) => gaps.push(g),
    });
    assert.deepEqual(gaps, [{ since: 4, resumedAt: 10 }]);
    assert.deepEqual(seen, range(11, 20));
  });
});

describe("readClaims and socketUrl", () => {
  it("read a token's subject and put the token in the query", () => {
    assert.equal(readClaims(fakeToken("bob")).sub, "bob");
    assert.equal(readClaims("not a token"), null);
    assert.equal(socketUrl("wss://h/prod", "a.b c"), "wss://h/prod?token=a.b+c");
    assert.equal(socketUrl("wss://h/prod/", "t"), "wss://h/prod?token=t");
    assert.equal(socketUrl("wss://ws.example.com/", "t"), "wss://ws.example.com/?token=t");
  });
});

/** A job.progress notice: no seq. */
const progressOf = (jobId, progress) => ({
  type: "job.progress",
  at: "2026-12-06T00:00:00.000Z",
  job: { id: jobId, status: "submitted", fileName: "a.txt", size: 1, createdAt: "", updatedAt: "", progress },
});

describe("a tab with its own socket", () => {
  it("hands progress to the page at once, outside the seq order, holes and catch-up", async () => {
    // GIVEN a tab at seq 1, with seq 2 missing from its pushes (3 came)
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    await clock.advance(0);
    server.append("alice");
    server.append("alice", { push: false });
    server.append("alice");
    await clock.advance(0);
    const fetches = server.requests.length;
    // WHEN progress comes while the hole is open
    server.pushTo("alice", progressOf("job-9", 0.25));
    server.pushTo("alice", progressOf("job-9", 0.5));
    await clock.advance(0);
    // THEN the page has it at once; the events are untouched by it
    assert.deepEqual(t.progress, [0.25, 0.5]);
    assert.deepEqual(t.seen, [1]);
    assert.equal(t.client.lastSeq, 1);
    assert.equal(server.requests.length, fetches, "progress asks GET /events for nothing");
    // AND the hole is filled as before, with no progress in it
    await clock.advance(DEFAULTS.holeGraceMs);
    assert.deepEqual(t.seen, [1, 2, 3]);
    assert.deepEqual(t.progress, [0.25, 0.5]);
  });

  it("catches up from `since` once open, then takes live pushes, each once", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    for (let i = 0; i < 3; i++) server.append("alice");
    const t = tab(server, clock, { since: 1 });
    await clock.advance(0);
    assert.equal(t.status, "open");
    assert.deepEqual(t.seen, [2, 3]);
    server.append("alice");
    server.pushTo("alice", event(4)); // a duplicate push
    await clock.advance(0);
    assert.deepEqual(t.seen, [2, 3, 4]);
    assert.equal(t.client.lastSeq, 4);
  });

  it("starts from now when given no position", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    for (let i = 0; i < 5; i++) server.append("alice");
    const t = tab(server, clock);
    await clock.advance(0);
    server.append("alice");
    await clock.advance(0);
    assert.deepEqual(t.seen, [6]);
  });

  it("fills a hole in the pushes from GET /events after a short grace", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    await clock.advance(0);
    server.append("alice", { push: false }); // seq 1 never pushed
    server.append("alice"); // seq 2 pushed
    await clock.advance(0);
    assert.deepEqual(t.seen, []);
    await clock.advance(DEFAULTS.holeGraceMs);
    assert.deepEqual(t.seen, [1, 2]);
  });

  it("reconnects after a drop, with backoff, and catches up what it missed", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    await clock.advance(0);
    server.open("alice")[0].drop(1006);
    server.append("alice"); // while away
    await clock.advance(0);
    assert.equal(t.status, "reconnecting");
    const { delayMs } = t.statuses.at(-1)[1];
    assert.ok(delayMs >= 0 && delayMs < DEFAULTS.backoffBaseMs);
    await clock.advance(delayMs);
    assert.equal(t.status, "open");
    assert.deepEqual(t.seen, [1]);
    assert.equal(server.open("alice").length, 1);
  });

  it("retries a 503 (keys not fetched yet) instead of giving up on its token", async () => {
    // GIVEN a server that cannot check tokens yet: the upgrade fails, and
    // GET /events answers 503
    const server = new FakeServer();
    server.keysUnavailable = true;
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    for (let i = 0; i < 4; i++) await clock.advance(DEFAULTS.backoffCapMs);
    // THEN it keeps trying, never taking the token for refused
    assert.ok(t.statuses.every(([, d]) => d.reason !== "unauthorized"));
    assert.equal(t.status, "reconnecting");
    // AND once the keys are there, it connects with the same token
    server.keysUnavailable = false;
    await clock.advance(DEFAULTS.backoffCapMs);
    assert.equal(t.status, "open");
  });

  it("grows its backoff while the server is down, within the cap", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0, random: () => 0.999 });
    await clock.advance(0);
    server.down = true;
    server.open("alice")[0].drop(1006);
    await clock.advance(10 * 60 * 1000);
    const delays = t.statuses.filter(([s]) => s === "reconnecting").map(([, d]) => d.delayMs);
    assert.ok(delays.length > 8, `${delays.length} attempts`);
    delays.forEach((d, i) => assert.ok(d < Math.min(DEFAULTS.backoffCapMs, DEFAULTS.backoffBaseMs * 2 ** i), `attempt ${i}: ${d}`));
    assert.ok(delays.at(-1) >= DEFAULTS.backoffCapMs * 0.99);
    server.down = false;
    await clock.advance(DEFAULTS.backoffCapMs);
    assert.equal(t.status, "open");
  });

  it("asks getToken again when its token is refused, and connects with the new one", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const fresh = server.token("alice", 2);
    const t = tab(server, clock, { since: 0, tokens: (n) => (n === 1 ? fakeToken("alice", 1) : fresh) });
    await clock.advance(0);
    assert.equal(t.status, "open");
    assert.equal(t.tokenCalls, 2);
    assert.ok(t.statuses.some(([s, d]) => s === "reconnecting" && d.reason === "unauthorized"));
  });

  it("stops and says so when the fresh token is refused too", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    let sockets = 0;
    const Counting = class extends server.WebSocket {
      constructor(url) {
        super(url);
        sockets += 1;
      }
    };
    const t = tab(server, clock, { since: 0, tokens: (n) => fakeToken("alice", n), WebSocket: Counting });
    await clock.advance(60 * 60 * 1000);
    assert.deepEqual(t.statuses.at(-1), ["closed", { reason: "unauthorized", message: "token refused" }]);
    assert.equal(sockets, 2);
    // The app signs in again and asks for a reconnect: one more round.
    t.client.reconnect();
    await clock.advance(60 * 60 * 1000);
    assert.equal(sockets, 4);
    assert.equal(t.status, "closed");
  });

  it("pings inside API Gateway's idle limit and drops a socket that does not answer", async () => {
    assert.ok(DEFAULTS.pingIntervalMs < IDLE_LIMIT_MS / 2);
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    await clock.advance(0);
    const first = server.open("alice")[0];
    await clock.advance(DEFAULTS.pingIntervalMs);
    assert.deepEqual(first.sent, [{ action: "ping" }]);
    server.mutePongs = true;
    await clock.advance(DEFAULTS.pingIntervalMs + DEFAULTS.pongTimeoutMs);
    assert.equal(first.readyState, 3);
    assert.ok(t.statuses.some(([s, d]) => s === "reconnecting" && d.reason === "no answer to ping"));
  });

  it("reconnects on its own before the 2-hour cut, and loses nothing in the swap", async () => {
    assert.ok(DEFAULTS.maxConnectionMs + DEFAULTS.maxConnectionJitterMs < MAX_CONNECTION_MS);
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    await clock.advance(0);
    const first = server.open("alice")[0];
    server.append("alice");
    // random() is 0.5: the cut comes halfway into the jitter window.
    const cut = DEFAULTS.maxConnectionMs + DEFAULTS.maxConnectionJitterMs / 2;
    await clock.advance(cut - 1);
    assert.equal(first.readyState, 1);
    // Pushed to nobody while the sockets swap: comes by catch-up.
    server.append("alice", { push: false });
    await clock.advance(1);
    assert.equal(first.readyState, 3);
    assert.equal(server.open("alice").length, 1);
    assert.notEqual(server.open("alice")[0], first);
    assert.deepEqual(t.seen, [1, 2]);
  });

  it("retries a getToken that fails, with backoff, then connects", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, {
      since: 0,
      tokens: (n) => {
        if (n < 3) throw new Error("auth service down");
        return server.token("alice");
      },
    });
    await clock.advance(0);
    assert.deepEqual(t.statuses.map(([s, d]) => [s, d.reason ?? ""]).slice(0, 2), [["connecting", ""], ["reconnecting", "getToken failed"]]);
    await clock.advance(DEFAULTS.backoffBaseMs * 4);
    assert.equal(t.status, "open");
    assert.equal(server.open("alice").length, 1);
  });

  it("skips the backoff wait when the browser comes back online", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0, random: () => 0.999 });
    await clock.advance(0);
    server.down = true;
    server.open("alice")[0].drop(1006);
    await clock.advance(20_000); // several failed attempts: the next wait is long
    server.down = false;
    t.page.fire("online");
    await clock.advance(0);
    assert.equal(t.status, "open");
  });

  it("goes quiet for good on close()", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const t = tab(server, clock, { since: 0 });
    await clock.advance(0);
    t.client.close();
    server.append("alice");
    await clock.advance(3 * 60 * 60 * 1000);
    assert.equal(t.status, "closed");
    assert.deepEqual(t.seen, []);
    assert.equal(server.sockets.size, 0);
  });
});

describe("tabs sharing one socket", () => {
  /** One browser: shared locks and channels. */
  function browser() {
    return { locks: new FakeLocks(), hub: new FakeChannelHub() };
  }

  /** Two tabs of alice in one browser, settled: one leads, one follows. */
  async function twoTabs(options = {}) {
    const server = new FakeServer();
    const clock = new Clock();
    const b = browser();
    const a1 = tab(server, clock, { ...b, since: 0, ...options });
    const a2 = tab(server, clock, { ...b, since: 0, ...options });
    await clock.advance(100);
    const [leader, follower] = a1.client.mode === "leader" ? [a1, a2] : [a2, a1];
    return { server, clock, hub: b.hub, leader, follower };
  }

  it("a user switch without close() leaves the last user's tabs, socket and position", async () => {
    // GIVEN two of alice's tabs sharing her socket, each at seq 2
    const server = new FakeServer();
    const clock = new Clock();
    const b = browser();
    let who = "alice";
    const tokens = () => server.token(who);
    const t1 = tab(server, clock, { ...b, since: 0, tokens });
    const t2 = tab(server, clock, { ...b, since: 0, user: "alice" });
    await clock.advance(100);
    server.append("alice");
    server.append("alice");
    await clock.advance(100);
    assert.deepEqual(t1.seen, [1, 2]);
    // WHEN the page behind the first signs bob in, and its socket drops
    who = "bob";
    server.append("bob");
    for (const s of server.open("alice")) s.drop(1006);
    await clock.advance(5000);
    // THEN it says so, and follows bob from now: none of alice's later
    // events reach it, and bob's next one does
    assert.ok(t1.statuses.some(([, d]) => d.reason === "the signed-in user changed"));
    server.append("alice");
    server.append("bob");
    await clock.advance(1000);
    assert.deepEqual(t1.seen, [1, 2, 2]);
    assert.equal(t1.client.lastSeq, 2);
    // AND alice's other tab still hears alice, on her own socket
    assert.deepEqual(t2.seen, [1, 2, 3]);
    assert.equal(server.open("alice").length, 1);
    assert.equal(server.open("bob").length, 1);
  });

  it("the holder forwards progress to every follower tab, and not to another user's", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const b = browser();
    const a1 = tab(server, clock, { ...b, since: 0 });
    const a2 = tab(server, clock, { ...b, since: 0 });
    const bob = tab(server, clock, { ...b, user: "bob", since: 0 });
    await clock.advance(100);
    server.pushTo("alice", progressOf("job-1", 0.75));
    await clock.advance(100);
    assert.deepEqual(a1.progress, [0.75]);
    assert.deepEqual(a2.progress, [0.75]);
    assert.deepEqual(bob.progress, []);
    assert.deepEqual([a1.seen, a2.seen], [[], []]);
  });

  it("hold one socket per user; every tab gets every event once; users never share", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const b = browser();
    const a1 = tab(server, clock, { ...b, since: 0 });
    const a2 = tab(server, clock, { ...b, since: 0 });
    const bob = tab(server, clock, { ...b, user: "bob", since: 0 });
    await clock.advance(100);
    assert.equal(server.open("alice").length, 1);
    assert.equal(server.open("bob").length, 1);
    assert.deepEqual([a1.client.mode, a2.client.mode].sort(), ["follower", "leader"]);
    for (let i = 0; i < 5; i++) server.append("alice");
    server.append("bob");
    await clock.advance(100);
    assert.deepEqual(a1.seen, range(1, 5));
    assert.deepEqual(a2.seen, range(1, 5));
    assert.deepEqual(bob.seen, [1]);
    assert.equal(a2.status, "open");
    assert.equal(a1.client.lastSeq, 5);
    assert.equal(a2.client.lastSeq, 5);
  });

  it("hand over when the leader tab closes: the next takes the socket and catches up", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const b = browser();
    const tabs = [tab(server, clock, { ...b, since: 0 }), tab(server, clock, { ...b, since: 0 }), tab(server, clock, { ...b, since: 0 })];
    await clock.advance(100);
    server.append("alice");
    await clock.advance(100);
    const leader = tabs.find((t) => t.client.mode === "leader");
    leader.client.close();
    server.append("alice", { push: false }); // while nobody holds a socket
    await clock.advance(1000);
    const rest = tabs.filter((t) => t !== leader);
    assert.equal(rest.filter((t) => t.client.mode === "leader").length, 1);
    assert.equal(server.open("alice").length, 1);
    server.append("alice");
    await clock.advance(100);
    for (const t of rest) assert.deepEqual(t.seen, [1, 2, 3]);
    assert.deepEqual(leader.seen, [1]);
  });

  it("hand over when the leader tab freezes, and the frozen tab follows on resume", async () => {
    const { server, clock, leader, follower } = await twoTabs();
    leader.page.fire("freeze");
    await clock.advance(500);
    assert.equal(follower.client.mode, "leader");
    assert.equal(server.open("alice").length, 1);
    server.append("alice");
    await clock.advance(100);
    leader.page.fire("resume");
    await clock.advance(1000);
    assert.equal(leader.client.mode, "follower");
    assert.deepEqual(follower.seen, [1]);
    assert.deepEqual(leader.seen, [1]);
  });

  it("take over from a leader that went silent, within two seconds", async () => {
    const { server, clock, hub, leader, follower } = await twoTabs();
    // A hung tab hears nothing on its channel.
    const ch = leader.client.tabs.election.channel;
    hub.members.delete(ch);
    await clock.advance(2000);
    hub.members.add(ch);
    assert.equal(follower.client.mode, "leader");
    assert.equal(leader.client.mode, "follower");
    assert.equal(server.open("alice").length, 1);
    server.append("alice");
    await clock.advance(100);
    assert.deepEqual(follower.seen, [1]);
    assert.deepEqual(leader.seen, [1]);
  });

  it("do not take over from a healthy leader when a hidden tab's timers run late", async () => {
    // Chrome may wake a tab hidden for 5 minutes once a minute.
    const { server, clock, leader } = await twoTabs({ leaderProbeMs: 60_000 });
    const first = server.open("alice")[0];
    await clock.advance(30 * 60 * 1000);
    assert.equal(leader.client.mode, "leader");
    assert.equal(server.open("alice")[0], first);
  });

  it("fall back to a socket per tab without Web Locks", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const hub = new FakeChannelHub();
    const a1 = tab(server, clock, { hub, since: 0 });
    const a2 = tab(server, clock, { hub, since: 0 });
    await clock.advance(0);
    assert.equal(a1.client.mode, "solo");
    assert.equal(server.open("alice").length, 2);
    server.append("alice");
    await clock.advance(0);
    assert.deepEqual(a1.seen, [1]);
    assert.deepEqual(a2.seen, [1]);
  });
});
