// @ts-check
// The socket's pure parts: API Gateway's limits, the reconnect backoff,
// reading a token's claims, and the URLs a socket and a channel are named by.

/** API Gateway closes a WebSocket after 10 minutes without a client message. */
export const IDLE_LIMIT_MS = 10 * 60 * 1000;
/** API Gateway closes any WebSocket after 2 hours. */
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;
/**
 * Capped exponential backoff with full jitter: a delay drawn uniformly from
 * [0, min(cap, base * 2^attempt)).
 */
export function backoffDelay(attempt, { baseMs, capMs }, random = Math.random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The claims of a JWT, unverified: only to name the shared channel and to
 * read `exp`. The server verifies every token it is given.
 */
export function readClaims(token) {
  try {
    const part = String(token).split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** The name tabs of one user share, for one deployment. */
export function channelName(wsUrl, user) {
  return `boomerang:${wsUrl}:${user}`;
}

/** `wsUrl` with the token as its `token` query parameter. */
export function socketUrl(wsUrl, token) {
  const url = new URL(wsUrl);
  // A stage URL given with a trailing slash names the same stage.
  url.pathname = url.pathname.replace(/\/+$/, "") || "/";
  url.searchParams.set("token", token);
  return url.toString();
}
