// A React hook over the Boomerang client: the connection's status, the
// events so far, the last seq. One client per mounted component; the
// client itself shares one socket between the user's tabs.
import { useEffect, useRef, useState } from "react";

import { connect } from "../boomerang-client.js";

/** The reason the client gives when its tokens start naming another user. */
const USER_CHANGED = "the signed-in user changed";

/**
 * @param {import("./useBoomerang").UseBoomerangOptions} options
 * @returns {import("./useBoomerang").UseBoomerang}
 */
export function useBoomerang({ wsUrl, apiUrl, getToken, user, enabled = true, keepEvents = 100, onEvent, onGap, onProgress, ...rest }) {
  const [status, setStatus] = useState(enabled ? "connecting" : "closed");
  const [detail, setDetail] = useState({});
  const [events, setEvents] = useState([]);
  const [lastSeq, setLastSeq] = useState(0);
  const [gap, setGap] = useState(null);
  const [progress, setProgress] = useState({});
  const [client, setClient] = useState(null);

  // The latest callbacks, without reconnecting when their identity changes.
  const latest = useRef({ getToken, onEvent, onGap, onProgress, rest });
  latest.current = { getToken, onEvent, onGap, onProgress, rest };

  useEffect(() => {
    if (!enabled) {
      setStatus("closed");
      return undefined;
    }
    setEvents([]);
    setGap(null);
    setProgress({});
    const c = connect({
      ...latest.current.rest,
      wsUrl,
      apiUrl,
      getToken: () => latest.current.getToken(),
      onEvent: (event) => {
        setEvents((prev) => (keepEvents > 0 ? [...prev, event].slice(-keepEvents) : prev));
        setLastSeq(event.seq);
        // A finished job's progress is over.
        if (event.type !== "job.submitted") setProgress((prev) => without(prev, event.job.id));
        latest.current.onEvent?.(event);
      },
      onProgress: (notice) => {
        setProgress((prev) => ({ ...prev, [notice.job.id]: notice.job }));
        latest.current.onProgress?.(notice);
      },
      onStatus: (s, d) => {
        // The token now names another user: the last one's events go.
        if (d?.reason === USER_CHANGED) {
          setEvents([]);
          setGap(null);
          setProgress({});
          setLastSeq(0);
        }
        setStatus(s);
        setDetail(d);
      },
      onGap: (g) => {
        setGap(g);
        latest.current.onGap?.(g);
      },
    });
    setClient(c);
    setLastSeq(c.lastSeq);
    return () => {
      c.close();
      setClient(null);
    };
    // Another stack is a new connection; callbacks are not. The user is the
    // token's: the client notices a new one itself (USER_CHANGED), and
    // `user`, if given, reconnects at once.
  }, [wsUrl, apiUrl, user, enabled, keepEvents]);

  return { status, detail, events, lastSeq, gap, progress, client };
}

/** `map` without `key` (itself when it has none). */
function without(map, key) {
  if (!(key in map)) return map;
  const { [key]: _gone, ...rest } = map;
  return rest;
}
