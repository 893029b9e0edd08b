// Sign in, upload with progress, and watch your jobs change in every tab.
import { useCallback, useEffect, useState } from "react";
import { uploadFile } from "@boomerang-push/client";
import { useBoomerang } from "@boomerang-push/client/react";

// Where Boomerang is: build-time variables, else this origin's /boomerang
// (which vite.config.js proxies to the local stack).
const apiUrl = import.meta.env.VITE_BOOMERANG_API_URL ?? `${location.origin}/boomerang`;
const wsUrl =
  import.meta.env.VITE_BOOMERANG_WS_URL ??
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/boomerang/ws`;

/** A token from the local stack's development endpoint. */
async function devToken(user) {
  const res = await fetch(`${apiUrl}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `sign-in failed (${res.status})`);
  return body.token;
}

export function App() {
  const [session, setSession] = useState(() => JSON.parse(sessionStorage.getItem("session") ?? "null"));
  const signIn = async (user) => {
    const s = { user, token: await devToken(user) };
    sessionStorage.setItem("session", JSON.stringify(s));
    setSession(s);
  };
  return session ? <Jobs session={session} /> : <SignIn onSignIn={signIn} />;
}

function SignIn({ onSignIn }) {
  const [name, setName] = useState("");
  const [error, setError] = useState(null);
  const submit = (e) => {
    e.preventDefault();
    onSignIn(name.trim()).catch((err) => setError(err.message));
  };
  return (
    <form onSubmit={submit}>
      <label>
        Your name <input value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <button type="submit">Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}

function Jobs({ session }) {
  const getToken = useCallback(async () => session.token, [session]);
  // `progress`: the third party's latest word on each unfinished job.
  const { status, events, progress: working } = useBoomerang({ wsUrl, apiUrl, getToken, user: session.user, keepEvents: 200 });
  const [jobs, setJobs] = useState(new Map());
  const [progress, setProgress] = useState(null);

  // The jobs so far, once; then each event brings its job as it is now.
  useEffect(() => {
    fetch(`${apiUrl}/jobs`, { headers: { authorization: `Bearer ${session.token}` } })
      .then((r) => r.json())
      .then((page) => setJobs((known) => new Map([...page.jobs.map((j) => [j.id, j]), ...known])));
  }, [session]);
  useEffect(() => {
    const last = events.at(-1);
    if (last) setJobs((known) => new Map(known).set(last.job.id, last.job));
  }, [events]);

  const upload = async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const job = await uploadFile({ apiUrl, token: session.token, file, onProgress: (sent, total) => setProgress({ sent, total }) });
    setJobs((known) => new Map(known).set(job.id, known.get(job.id) ?? job));
    setProgress(null);
  };

  const sorted = [...jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return (
    <main>
      <p>
        Signed in as <strong>{session.user}</strong> · <span data-testid="status">{status}</span>
      </p>
      <label>
        File <input type="file" onChange={upload} />
      </label>
      {progress && <progress value={progress.sent} max={progress.total} />}
      <ul>
        {sorted.map((job) => (
          <li key={job.id} data-status={job.status}>
            {job.fileName}: {job.status}
            {job.result && <code> {JSON.stringify(job.result)}</code>}
            {job.status === "submitted" && working[job.id] && (
              <>
                {" "}
                <progress aria-label={`${job.fileName} progress`} value={working[job.id].progress ?? undefined} max={1} />{" "}
                {working[job.id].progressMessage}
              </>
            )}
          </li>
        ))}
      </ul>
    </main>
  );
}
