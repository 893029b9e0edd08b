// @ts-check
// What connect() is given, with its defaults, and what it takes from the
// page when not given it (tests pass fakes for each).

import { MAX_EVENTS_PAGE } from "./sequencing.js";
import { backoffDelay } from "./socket.js";

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

const noop = () => {};

/**
 * The options with their defaults, checked, and the page's parts the
 * client uses (each one an option may replace).
 */
export function resolveOptions(options) {
  const o = { ...DEFAULTS, ...options };
  if (typeof o.wsUrl !== "string" || typeof o.apiUrl !== "string") {
    throw new TypeError("connect: wsUrl and apiUrl are required");
  }
  if (typeof o.getToken !== "function") throw new TypeError("connect: getToken is required");
  const g = globalThis;
  const given = (name, fallback) => (o[name] !== undefined ? o[name] : fallback);
  const random = o.random ?? Math.random;
  return {
    o,
    WebSocket: o.WebSocket ?? g.WebSocket,
    fetch: o.fetch ?? g.fetch?.bind(g),
    setTimeout: o.setTimeout ?? g.setTimeout.bind(g),
    clearTimeout: o.clearTimeout ?? g.clearTimeout.bind(g),
    now: o.now ?? (() => Date.now()),
    random,
    /** The wait before reconnect `attempt` (0, 1, ...). */
    backoff: (attempt) => backoffDelay(attempt, { baseMs: o.backoffBaseMs, capMs: o.backoffCapMs }, random),
    locks: given("locks", g.navigator?.locks),
    Channel: given("BroadcastChannel", g.BroadcastChannel),
    doc: given("document", g.document),
    win: given("window", g.window),
    onEvent: o.onEvent ?? noop,
    onStatus: o.onStatus ?? noop,
    onGap: o.onGap ?? noop,
    onProgress: o.onProgress ?? noop,
  };
}
