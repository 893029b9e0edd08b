// @ts-check
// One user's tabs in one browser sharing one socket: the election (which
// tab holds it), what the tabs tell each other over the channel, and the
// page's lifecycle (a frozen tab gives the socket up). The Client decides
// what each role does; this says when a role changes and what was heard.

import { Election } from "./election.js";

/**
 * @typedef {object} TabsHooks
 * @property {() => void} onLead this tab now holds the socket
 * @property {(reason: string) => void} onDeposed another tab took it
 * @property {() => void} onFrozen this tab froze (it gave the socket up)
 * @property {() => void} onResumed this tab woke from a freeze
 * @property {() => {status: any, detail: object, lastSeq: number | null}} statusNow
 *   where the holder stands (its status, and its position)
 * @property {(event: any) => void} onEvent the holder passed on an event (or progress)
 * @property {(said: {status: string, detail: object, lastSeq?: number}) => void} onHolderStatus
 */

export class SharedTabs {
  /**
   * Joins the election for `name`, and watches the page: a frozen tab runs
   * no code but keeps its lock, so it gives the lock up until it resumes.
   * @param {any} env the page's parts (client/options.js)
   * @param {{leaderProbeMs: number, leaderTimeoutMs: number}} o
   * @param {string} name the lock's and the channel's name
   * @param {TabsHooks} hooks
   */
  constructor(env, o, name, hooks) {
    this.hooks = hooks;
    this.leading = false;
    this.election = new Election({
      name,
      locks: env.locks,
      Channel: env.Channel,
      now: env.now,
      setTimeout: env.setTimeout,
      clearTimeout: env.clearTimeout,
      probeMs: o.leaderProbeMs,
      timeoutMs: o.leaderTimeoutMs,
      onLead: () => {
        this.leading = true;
        hooks.onLead();
      },
      onDeposed: (reason) => {
        this.leading = false;
        hooks.onDeposed(reason);
      },
      onMessage: (m) => this.heard(m),
    });
    this.unwatch = watchPage(env.doc, env.win, {
      freeze: () => this.freeze(),
      resume: () => this.resume(),
      hide: (/** @type {any} */ e) => {
        if (!e.persisted) this.sayGoing("the tab holding the connection left");
      },
    });
  }

  /** The holder passes each event it delivers, and progress, on to the others. */
  passOn(event) {
    if (this.leading) this.election.post({ t: "event", event });
  }

  /** The holder says where it stands (`hooks.statusNow()`). */
  tell() {
    if (this.leading) this.election.post({ t: "status", ...this.hooks.statusNow() });
  }

  /** The holder is going: the others are told to expect another. */
  sayGoing(reason) {
    if (this.leading) this.election.post({ t: "status", status: "reconnecting", detail: { reason } });
  }

  freeze() {
    if (this.election.left) return;
    if (this.leading) this.sayGoing("the tab holding the connection froze");
    this.leading = false;
    this.election.freeze();
    this.hooks.onFrozen();
  }

  resume() {
    if (!this.election.frozen || this.election.left) return;
    this.election.resume();
    this.hooks.onResumed();
  }

  leave() {
    if (this.leading) this.sayGoing("the tab holding the connection left");
    this.leading = false;
    this.election.leave();
    this.unwatch();
  }

  heard(m) {
    if (this.leading) {
      if (m.t === "hello" || m.t === "ping") this.tell();
    } else if (m.t === "event") {
      this.hooks.onEvent(m.event);
    } else if (m.t === "status" && typeof m.status === "string") {
      this.hooks.onHolderStatus({ status: m.status, detail: m.detail ?? {}, lastSeq: m.lastSeq });
    }
  }
}

/**
 * Listens to the page's lifecycle; returns what stops listening.
 * @param {any} doc
 * @param {any} win
 * @param {{freeze: () => void, resume: () => void, hide: (e: any) => void}} on
 */
function watchPage(doc, win, on) {
  doc?.addEventListener?.("freeze", on.freeze);
  doc?.addEventListener?.("resume", on.resume);
  win?.addEventListener?.("pagehide", on.hide);
  return () => {
    doc?.removeEventListener?.("freeze", on.freeze);
    doc?.removeEventListener?.("resume", on.resume);
    win?.removeEventListener?.("pagehide", on.hide);
  };
}

/**
 * Calls `fn` each time the page is back online; returns what stops it.
 * @param {any} win
 * @param {() => void} fn
 */
export function whenOnline(win, fn) {
  win?.addEventListener?.("online", fn);
  return () => win?.removeEventListener?.("online", fn);
}
