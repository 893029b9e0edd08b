// @ts-check
// One socket's life: opened with a token, kept alive with pings inside API
// Gateway's 10-minute idle limit, watched for pongs, cycled before its
// 2-hour cut, and reporting how it ended. What to do next (back off,
// reconnect, ask whether the token was refused) is the Client's.

/**
 * How a session ended, as its `onEnd` hears it.
 * @typedef {object} SessionEnd
 * @property {boolean} opened whether the socket ever opened
 * @property {"closed" | "no pong" | "aged"} cause what ended it: the socket
 *   closed, a ping went unanswered, or it reached its maximum age
 * @property {number} [code] the close code, when the socket closed
 * @property {string} [reason] the close reason, when the socket closed
 * @property {number} openForMs how long it was open (0 if it never opened)
 */

export class SocketSession {
  /**
   * Opens the socket at once; throws what the WebSocket constructor throws.
   * @param {any} env the page's parts (client/options.js): WebSocket,
   *   setTimeout, clearTimeout, now, random
   * @param {{pingIntervalMs: number, pongTimeoutMs: number, maxConnectionMs: number, maxConnectionJitterMs: number}} timing
   * @param {string} url the socket's URL, token included
   * @param {object} on
   * @param {() => void} on.onOpen
   * @param {(message: any) => void} on.onMessage each message but a pong, parsed
   * @param {(end: SessionEnd) => void} on.onEnd once, unless `close()` ended it
   */
  constructor(env, timing, url, on) {
    const o = {
      ...on,
      setTimeout: env.setTimeout,
      clearTimeout: env.clearTimeout,
      now: env.now,
      pingIntervalMs: timing.pingIntervalMs,
      pongTimeoutMs: timing.pongTimeoutMs,
      // Jittered, so the tabs of many users do not reconnect together.
      maxAgeMs: timing.maxConnectionMs + Math.floor(env.random() * timing.maxConnectionJitterMs),
    };
    this.o = o;
    this.openedAt = 0;
    this.ended = false;
    /** @type {Record<string, any>} */
    this.timers = {};
    const ws = new env.WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ended) return;
      this.openedAt = o.now();
      this.schedulePing();
      // Before API Gateway's 2-hour cut: the Client opens another at once.
      this.setTimer("age", o.maxAgeMs, () => this.end({ cause: "aged" }, 1000, "maximum connection duration"));
      o.onOpen();
    };
    ws.onmessage = (/** @type {{data: any}} */ m) => {
      if (this.ended) return;
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg?.type === "pong") this.clearTimer("pong");
      else o.onMessage(msg);
    };
    ws.onclose = (/** @type {{code: number, reason: string}} */ ev) => {
      if (this.ended) return;
      this.end({ cause: "closed", code: ev.code, reason: ev.reason }, null, "");
    };
  }

  /** Ends the session from outside: no `onEnd`. */
  close(code, reason) {
    if (this.ended) return;
    this.ended = true;
    this.stop(code, reason);
  }

  /** @param {{cause: SessionEnd["cause"], code?: number, reason?: string}} how */
  end(how, code, reason) {
    this.ended = true;
    const openForMs = this.openedAt ? this.o.now() - this.openedAt : 0;
    this.stop(code, reason);
    this.o.onEnd({ ...how, opened: this.openedAt > 0, openForMs });
  }

  /** Clears the timers and, with a code, closes the socket. */
  stop(code, reason) {
    for (const name of Object.keys(this.timers)) this.clearTimer(name);
    if (code == null) return;
    try {
      this.ws.close(code, String(reason).slice(0, 120));
    } catch {
      // Already closing.
    }
  }

  schedulePing() {
    this.setTimer("ping", this.o.pingIntervalMs, () => {
      try {
        this.ws.send(JSON.stringify({ action: "ping" }));
      } catch {
        return;
      }
      // No pong: the network went away without a close (a laptop lid).
      this.setTimer("pong", this.o.pongTimeoutMs, () => this.end({ cause: "no pong" }, 4000, "no pong"));
      this.schedulePing();
    });
  }

  setTimer(name, ms, fn) {
    this.clearTimer(name);
    this.timers[name] = this.o.setTimeout(() => {
      delete this.timers[name];
      if (!this.ended) fn();
    }, ms);
  }

  clearTimer(name) {
    if (this.timers[name] == null) return;
    this.o.clearTimeout(this.timers[name]);
    delete this.timers[name];
  }
}
