// @ts-check
// Sequencing: events in seq order, each once, and the catch-up through
// GET /events that fills a hole or follows a reconnect.

/** GET /events answers at most 500 events a page. */
export const MAX_EVENTS_PAGE = 500;
/**
 * Orders events by seq and lets each through once. `lastSeq` is the
 * position: the highest seq delivered (or skipped over after a gap), null
 * while unknown ("from now" before the first catch-up). Events above
 * `lastSeq + 1` wait until the hole below them is filled.
 */
export class Sequencer {
  constructor(since = null) {
    this.lastSeq = since;
    this.pending = new Map();
  }

  /** Takes events in any order; returns those now deliverable, in order. */
  accept(events) {
    for (const e of events) {
      if (!e || !Number.isSafeInteger(e.seq) || e.seq < 1) continue;
      if (this.lastSeq !== null && e.seq <= this.lastSeq) continue;
      if (!this.pending.has(e.seq)) this.pending.set(e.seq, e);
    }
    return this.drain();
  }

  /** Sets an unknown position: the newest seq before this client started. */
  start(newest) {
    if (this.lastSeq !== null) return [];
    const lowest = Math.min(...this.pending.keys());
    this.lastSeq = Math.max(0, Math.min(newest, lowest - 1));
    return this.drain();
  }

  /** Moves past seqs that can no longer be had (expired: `gap`). */
  skipTo(seq) {
    if (this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq;
    for (const s of this.pending.keys()) if (s <= this.lastSeq) this.pending.delete(s);
    return this.drain();
  }

  /** True when a seq is waiting on a hole below it. */
  get hasHole() {
    return this.pending.size > 0;
  }

  drain() {
    const out = [];
    if (this.lastSeq === null) return out;
    for (let e = this.pending.get(this.lastSeq + 1); e; e = this.pending.get(this.lastSeq + 1)) {
      this.pending.delete(e.seq);
      this.lastSeq = e.seq;
      out.push(e);
    }
    return out;
  }
}

/** A 401 from the API or the upgrade: the token was refused. */
export class Unauthorized extends Error {
  constructor(message = "token refused") {
    super(message);
    this.name = "Unauthorized";
  }
}

/**
 * Fetches one page of `GET /events?since=&limit=`. Throws Unauthorized on
 * 401 and Error on anything else that is not a 200 page.
 */
export async function fetchEvents({ fetch, apiUrl, token, since, limit }) {
  const url = `${apiUrl.replace(/\/+$/, "")}/events?since=${since}&limit=${limit}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (res.status === 401) throw new Unauthorized(await errorText(res));
  if (!res.ok) throw new Error(`GET /events: ${res.status} ${await errorText(res)}`);
  const page = await res.json();
  if (!page || !Array.isArray(page.events) || !Number.isSafeInteger(page.lastSeq)) {
    throw new Error("GET /events: unexpected answer");
  }
  return page;
}

async function errorText(res) {
  try {
    const body = await res.json();
    return typeof body?.error === "string" ? body.error : "";
  } catch {
    return "";
  }
}

/**
 * Brings a sequencer up to the server's newest seq, page by page, and hands
 * each deliverable event to `deliver` in order. Calls `onGap` when events
 * after the position have expired (the app then reloads GET /jobs).
 */
export async function catchUp({ sequencer, getPage, pageSize, deliver, onGap }) {
  if (sequencer.lastSeq === null) {
    // "From now": the position is the newest seq at the first catch-up.
    const top = await getPage(Number.MAX_SAFE_INTEGER, 1);
    sequencer.start(top.lastSeq).forEach(deliver);
  }
  for (;;) {
    const since = sequencer.lastSeq;
    const page = await getPage(since, pageSize);
    const first = page.events[0];
    // The server says so with `gap`; a first seq past since + 1 says the same.
    if (page.gap === true || (first && first.seq > since + 1)) {
      sequencer.skipTo(first ? first.seq - 1 : page.lastSeq).forEach(deliver);
      onGap({ since, resumedAt: sequencer.lastSeq });
    }
    sequencer.accept(page.events).forEach(deliver);
    const done = page.events.length === 0 || sequencer.lastSeq >= page.lastSeq;
    // A page that does not move the position would only repeat itself.
    if (done || sequencer.lastSeq === since) return;
  }
}
