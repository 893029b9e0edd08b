// Types for boomerang-client.js, the Boomerang browser client.

/** A job as the API shows it. */
export interface Job {
  id: string;
  status: "uploading" | "submitted" | "completed" | "failed";
  fileName: string;
  contentType?: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  /** Completed jobs only; `null` with `resultTruncated` when too large to push. */
  result?: unknown;
  resultTruncated?: boolean;
  /** Failed jobs only. */
  error?: string;
  /** The third party's latest progress, 0 to 1, while the job is unfinished. */
  progress?: number;
  /** The third party's latest word on its work (at most 200 characters). */
  progressMessage?: string;
}

/** One event of the user's stream, delivered once, in `seq` order. */
export interface BoomerangEvent {
  /** Per user: 1, 2, 3, ... with no gaps and no repeats. */
  seq: number;
  type: "job.submitted" | "job.completed" | "job.failed";
  /** RFC 3339, UTC. */
  at: string;
  job: Job;
}

/**
 * The third party's progress on a job: no `seq`, not an event of the log.
 * Handed on at once (to every tab), never caught up after a reconnect:
 * the job's latest progress is on `GET /jobs`.
 */
export interface ProgressNotice {
  type: "job.progress";
  /** RFC 3339, UTC: when it was received. */
  at: string;
  job: Job;
}

export type Status = "connecting" | "open" | "reconnecting" | "closed";

/** Why the status changed; every field is optional. */
export interface StatusDetail {
  /**
   * "unauthorized" (the token was refused twice: call `reconnect()` once a
   * new one can be had), "closed by client", "connection closed",
   * "could not connect", "no answer to ping", "maximum connection duration",
   * "getToken failed", "the signed-in user changed" (getToken now returns
   * another user's tokens: the client left the last user's tabs and
   * follows the new one from now), or why the tab holding the shared
   * socket let it go.
   */
  reason?: string;
  /** The server's message, for a refused token. */
  message?: string;
  /** WebSocket close code. */
  code?: number;
  /** Reconnect attempt number, from 0. */
  attempt?: number;
  /** How long until the next attempt. */
  delayMs?: number;
  error?: string;
}

/** Events after `since` have expired: the app should reload `GET /jobs`. */
export interface GapDetail {
  since: number;
  resumedAt: number;
}

export interface ConnectOptions {
  /** e.g. "ws://127.0.0.1:3000/ws" or the deployed stage URL "wss://.../prod". */
  wsUrl: string;
  /** e.g. "http://127.0.0.1:3000" or the deployed HTTP API URL. */
  apiUrl: string;
  /** Called before every (re)connect and catch-up; may refresh the token. */
  getToken: () => string | Promise<string>;
  /** Each event once, in seq order. */
  onEvent?: (event: BoomerangEvent) => void;
  /** The connection's state; in a follower tab, the shared connection's. */
  onStatus?: (status: Status, detail: StatusDetail) => void;
  /** Events were lost to retention; reload `GET /jobs`. */
  onGap?: (detail: GapDetail) => void;
  /** The third party's progress on a job, as it comes (outside the seq order). */
  onProgress?: (notice: ProgressNotice) => void;
  /**
   * Start after this seq (e.g. one the app kept). Default: from now, the
   * user's newest seq when the client first catches up; load `GET /jobs`
   * once the status is first "open" so nothing falls in between.
   */
  since?: number;
  /** Share one socket between this user's tabs (default true). */
  shared?: boolean;
  /** Keepalive ping interval; API Gateway closes idle sockets at 10 min. Default 4 min. */
  pingIntervalMs?: number;
  /** A ping without a pong in this long drops the socket. Default 10 s. */
  pongTimeoutMs?: number;
  /** Reconnect on our own after this long (API Gateway cuts at 2 h). Default 110 min. */
  maxConnectionMs?: number;
  maxConnectionJitterMs?: number;
  /** Full-jitter backoff: a delay in [0, min(cap, base * 2^attempt)). Defaults 500 ms, 30 s. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  stableAfterMs?: number;
  /** How long a missing seq may take to arrive before GET /events is asked. Default 250 ms. */
  holeGraceMs?: number;
  /** GET /events page size, at most 500. */
  pageSize?: number;
  /** Follower tabs: how often to check the socket's holder, and when to take over. */
  leaderProbeMs?: number;
  leaderTimeoutMs?: number;

  // Injected platform, for tests and other runtimes; default: the page's.
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  locks?: LockManager | null;
  BroadcastChannel?: typeof BroadcastChannel | null;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  now?: () => number;
  random?: () => number;
  document?: Pick<Document, "addEventListener" | "removeEventListener"> | null;
  window?: Pick<Window, "addEventListener" | "removeEventListener"> | null;
}

export interface BoomerangClient {
  /** The highest seq delivered, or skipped after a gap (0 before any is known). */
  readonly lastSeq: number;
  /** "leader" holds the shared socket, "follower" hears it, "solo" has its own. */
  readonly mode: "leader" | "follower" | "solo" | null;
  /** Closes the socket (or leaves the group) for good. */
  close(): void;
  /** Tries again now: after "unauthorized", or to skip a backoff wait. */
  reconnect(): void;
}

export function connect(options: ConnectOptions): BoomerangClient;

// The pure parts, for tests and for other clients.
export const IDLE_LIMIT_MS: number;
export const MAX_CONNECTION_MS: number;
export const MAX_EVENTS_PAGE: number;
export const DEFAULTS: Readonly<Required<Pick<ConnectOptions,
  | "shared" | "pingIntervalMs" | "pongTimeoutMs" | "maxConnectionMs" | "maxConnectionJitterMs"
  | "backoffBaseMs" | "backoffCapMs" | "stableAfterMs" | "holeGraceMs" | "pageSize"
  | "leaderProbeMs" | "leaderTimeoutMs">>>;

export function backoffDelay(
  attempt: number,
  bounds: { baseMs: number; capMs: number },
  random?: () => number,
): number;
export function readClaims(token: string): Record<string, unknown> | null;
export function channelName(wsUrl: string, user: string): string;
export function socketUrl(wsUrl: string, token: string): string;

export class Sequencer {
  constructor(since?: number | null);
  lastSeq: number | null;
  readonly hasHole: boolean;
  accept(events: BoomerangEvent[]): BoomerangEvent[];
  start(newest: number): BoomerangEvent[];
  skipTo(seq: number): BoomerangEvent[];
}

export class Unauthorized extends Error {}

export interface EventsPage {
  events: BoomerangEvent[];
  lastSeq: number;
  gap?: boolean;
}

export function fetchEvents(args: {
  fetch: typeof fetch;
  apiUrl: string;
  token: string;
  since: number;
  limit: number;
}): Promise<EventsPage>;

export function catchUp(args: {
  sequencer: Sequencer;
  getPage: (since: number, limit: number) => Promise<EventsPage>;
  pageSize: number;
  deliver: (event: BoomerangEvent) => void;
  onGap: (detail: GapDetail) => void;
}): Promise<void>;

/** The multipart route's default limit (BOOMERANG_MAX_UPLOAD_BYTES): 4 MiB. */
export const MULTIPART_LIMIT_BYTES: number;

/** An upload the server, storage or the network refused. */
export class UploadError extends Error {
  constructor(message: string, options?: { status?: number; job?: Job | null });
  /** The HTTP status, 0 when nothing answered. */
  status: number;
  /** The job, when one was made (a refused form's failed job, a file storage refused). */
  job: Job | null;
}

export interface UploadOptions {
  apiUrl: string;
  token: string;
  file: Blob & { name?: string };
  /** Default: the file's own name. */
  fileName?: string;
  /** Bytes sent so far, of `total`; ends at the file's size. */
  onProgress?: (sent: number, total: number) => void;
  /** Larger files are declared with JSON and PUT straight to storage. Default 4 MiB. */
  multipartLimit?: number;
  XMLHttpRequest?: typeof XMLHttpRequest;
  fetch?: typeof fetch;
}

/**
 * Uploads a file: the multipart form up to `multipartLimit`, else a JSON
 * declaration and a PUT straight to storage (a presigned S3 URL on AWS).
 * Resolves with the job as created: `submitted` (or finished) for a form,
 * `uploading` for a file sent to storage; its events follow either way.
 */
export function uploadFile(options: UploadOptions): Promise<Job>;
