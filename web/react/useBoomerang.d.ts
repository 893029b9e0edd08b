// Types for useBoomerang.js, the React hook over the Boomerang client.
import type { BoomerangClient, BoomerangEvent, ConnectOptions, GapDetail, Job, Status, StatusDetail } from "../boomerang-client.js";

export interface UseBoomerangOptions extends Omit<ConnectOptions, "onStatus"> {
  /**
   * Who is signed in, if the app knows: a change reconnects at once. Not
   * needed: the user is the token's `sub`, and when `getToken` starts
   * returning another user's tokens the client leaves the last one's
   * tabs and events and says so (`detail.reason` "the signed-in user
   * changed"), and the hook empties `events`.
   */
  user?: string;
  /** false: no connection (e.g. while signed out). Default true. */
  enabled?: boolean;
  /** How many recent events `events` keeps (default 100; 0 keeps none). */
  keepEvents?: number;
}

export interface UseBoomerang {
  status: Status;
  detail: StatusDetail;
  /** The most recent events, oldest first, each once, in seq order. */
  events: BoomerangEvent[];
  lastSeq: number;
  /** Set when events were lost to retention: reload GET /jobs. */
  gap: GapDetail | null;
  /**
   * The third party's latest progress on each unfinished job, by job id
   * (the job as its last `job.progress` showed it: `progress`,
   * `progressMessage`). A job's entry goes when it completes or fails.
   */
  progress: Record<string, Job>;
  /** The underlying client (null until connected or when disabled). */
  client: BoomerangClient | null;
}

export function useBoomerang(options: UseBoomerangOptions): UseBoomerang;
