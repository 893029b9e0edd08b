// @ts-check
// Named timers: setting one replaces the one of that name; all can be
// cleared at once (a closed client leaves none behind). And work that runs
// one at a time.

export class Timers {
  /**
   * @param {(fn: () => void, ms: number) => any} setTimeout
   * @param {(t: any) => void} clearTimeout
   * @param {() => boolean} stopped a timer that fires once this is true does nothing
   */
  constructor(setTimeout, clearTimeout, stopped) {
    this.setTimeout = setTimeout;
    this.clearTimeout = clearTimeout;
    this.stopped = stopped;
    /** @type {Map<string, any>} */
    this.pending = new Map();
  }

  set(name, ms, fn) {
    this.clear(name);
    const t = this.setTimeout(() => {
      if (this.pending.get(name) === t) this.pending.delete(name);
      if (!this.stopped()) fn();
    }, ms);
    this.pending.set(name, t);
  }

  clear(name) {
    const t = this.pending.get(name);
    if (t == null) return;
    this.clearTimeout(t);
    this.pending.delete(name);
  }

  clearAll() {
    for (const name of [...this.pending.keys()]) this.clear(name);
  }
}

/** Runs `work` one at a time: a request during a run runs it once more after. */
export class OneAtATime {
  /**
   * @param {() => Promise<void>} work
   * @param {() => boolean} stopped no run starts once this is true
   */
  constructor(work, stopped) {
    this.work = work;
    this.stopped = stopped;
    /** @type {Promise<void> | null} */
    this.running = null;
    this.again = false;
  }

  request() {
    if (this.stopped()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.work().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.request();
      }
    });
  }
}

/** Calls a page's callback; what it throws is logged, never ours to handle. */
export function safely(name, fn, ...args) {
  try {
    fn(...args);
  } catch (e) {
    console.error(`boomerang: ${name} threw`, e);
  }
}
