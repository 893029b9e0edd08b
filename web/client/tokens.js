// @ts-check
// The page's tokens, from its getToken: the last one given, and the first
// one kept a few seconds so that the first socket does not ask again; and
// whether the API refuses one.

import { Unauthorized, fetchEvents } from "./sequencing.js";

/** How long the token fetched to name the shared channel may open the first socket. */
const FIRST_TOKEN_MS = 5000;

export class Tokens {
  /**
   * @param {() => Promise<string> | string} getToken
   * @param {() => number} now
   */
  constructor(getToken, now) {
    this.getToken = getToken;
    this.now = now;
    /** @type {string | null} the last token getToken gave */
    this.current = null;
    /** @type {{token: string, at: number} | null} */
    this.kept = null;
  }

  /** A token from getToken, which must be a non-empty string. */
  async fresh() {
    const token = await this.getToken();
    if (typeof token !== "string" || token.length === 0) throw new Error("getToken returned no token");
    this.current = token;
    return token;
  }

  /** Keeps `token` for the first socket. */
  keep(token) {
    this.kept = { token, at: this.now() };
  }

  /** The kept token if it is recent (once), or a fresh one. */
  async forSocket() {
    const kept = this.kept;
    this.kept = null;
    // A follower that takes over much later asks for a fresh one.
    return kept && this.now() - kept.at < FIRST_TOKEN_MS ? kept.token : this.fresh();
  }
}

/**
 * Why the API refuses `token`, or `null` when it does not (or cannot be
 * asked): a browser hides a refused upgrade's status, so a socket that
 * never opened asks the API with the same token.
 * @returns {Promise<string | null>}
 */
export async function refusal(fetch, apiUrl, token) {
  try {
    await fetchEvents({ fetch, apiUrl, token, since: Number.MAX_SAFE_INTEGER, limit: 1 });
    return null;
  } catch (e) {
    return e instanceof Unauthorized ? e.message : null;
  }
}
