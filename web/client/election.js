// @ts-check
// Tab election: of one user's tabs in a browser, one holds the socket. A
// Web Lock elects it; a BroadcastChannel carries its events and status to
// the others, whose pings notice when it has gone silent and take over.

/**
 * @typedef {object} ElectionOptions
 * @property {string} name the lock's and the channel's name
 * @property {any} locks `navigator.locks`
 * @property {any} Channel `BroadcastChannel`
 * @property {() => number} now
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(timer: any) => void} clearTimeout
 * @property {number} probeMs how often a follower pings the holder
 * @property {number} timeoutMs how long an unanswered ping may stay so
 * @property {() => void} onLead this tab now holds the lock
 * @property {(reason: string) => void} onDeposed another tab took the lock
 * @property {(message: any) => void} onMessage a message from another tab
 */

export class Election {
  /** @param {ElectionOptions} o */
  constructor(o) {
    this.o = o;
    this.leading = false;
    this.frozen = false;
    this.left = false;
    /** @type {AbortController | null} */
    this.waiting = null;
    /** @type {(() => void) | null} */
    this.release = null;
    this.probeTimer = null;
    this.leaderSeen = 0;
    /** @type {number | null} */
    this.pingSentAt = null;
    this.channel = new o.Channel(o.name);
    this.channel.onmessage = (/** @type {MessageEvent} */ m) => this.heard(m.data);
    this.follow();
  }

  /** Tells the other tabs; a closed channel is no reason to throw. */
  post(message) {
    try {
      this.channel?.postMessage(message);
    } catch (e) {
      console.warn("boomerang: channel", e);
    }
  }

  /**
   * A frozen tab runs no code but keeps its lock: it gives the lock up and
   * stops queueing until `resume`.
   */
  freeze() {
    this.frozen = true;
    this.leading = false;
    this.giveUp();
    this.stopProbe();
  }

  resume() {
    if (!this.frozen || this.left) return;
    this.frozen = false;
    this.follow();
  }

  leave() {
    this.left = true;
    this.leading = false;
    this.giveUp();
    this.stopProbe();
    this.channel?.close();
    this.channel = null;
  }

  // --- inside -------------------------------------------------------------

  follow() {
    this.leading = false;
    this.leaderSeen = this.o.now();
    this.pingSentAt = null;
    this.post({ t: "hello" });
    this.queue(false);
    this.probe();
  }

  /** Waits for the lock; `steal` takes it from a holder that went silent. */
  queue(steal) {
    if (this.left) return;
    this.waiting?.abort();
    const waiting = steal ? null : new AbortController();
    this.waiting = waiting;
    const opts = waiting ? { signal: waiting.signal } : { steal: true };
    /** @type {() => void} */
    let release = () => {};
    const held = new Promise((r) => (release = () => r(undefined)));
    this.o.locks
      .request(this.o.name, opts, () => {
        if (this.left || this.frozen) return;
        this.release = release;
        this.waiting = null;
        this.leading = true;
        this.stopProbe();
        this.o.onLead();
        return held;
      })
      .catch((/** @type {any} */ e) => {
        // Aborted while waiting: nothing was held. Stolen: step down.
        if (this.release === release && this.leading) {
          this.release = null;
          this.leading = false;
          this.o.onDeposed("another tab took over");
          if (!this.left && !this.frozen) this.follow();
        }
        if (e?.name !== "AbortError") console.warn("boomerang: lock", e);
      });
  }

  giveUp() {
    this.waiting?.abort();
    this.waiting = null;
    this.release?.();
    this.release = null;
  }

  heard(message) {
    if (this.left || !message || typeof message !== "object") return;
    if (!this.leading) this.leaderSeen = this.o.now();
    this.o.onMessage(message);
  }

  /**
   * A follower checks the holder is alive, and takes over if it is not.
   * Only a ping left unanswered counts: a hidden tab's timers may fire once
   * a minute, and a late timer is no sign of a dead leader.
   */
  probe() {
    this.stopProbe();
    this.probeTimer = this.o.setTimeout(() => {
      this.probeTimer = null;
      if (this.leading || this.left || this.frozen) return;
      const sent = this.pingSentAt;
      const answered = sent === null || this.leaderSeen >= sent;
      if (!answered && this.o.now() - sent > this.o.timeoutMs) {
        this.pingSentAt = null;
        this.queue(true);
      } else if (answered) {
        this.pingSentAt = this.o.now();
        this.post({ t: "ping" });
      }
      this.probe();
    }, this.o.probeMs);
  }

  stopProbe() {
    if (this.probeTimer == null) return;
    this.o.clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }
}
