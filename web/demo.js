// The demo page: sign in, upload with progress, watch jobs update live.
// Against the local stack by default; against a deployed one with
// ?api=https://...&ws=wss://... in the page's URL.
import { connect, MULTIPART_LIMIT_BYTES, readClaims, uploadFile } from "./boomerang-client.js";

const params = new URLSearchParams(location.search);
const apiUrl = (params.get("api") ?? location.origin).replace(/\/+$/, "");
const wsUrl = params.get("ws") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
// Dev tokens exist on the local stack only; a deployed stack takes a pasted one.
const devTokens = !params.has("api");
// A session belongs to the pair of URLs it signed in against: a link that
// changes either one (`?ws=` pointing somewhere else) finds no session and
// asks for a sign-in, instead of handing the token to a new endpoint.
const SESSION_KEY = `boomerang.session:${JSON.stringify([apiUrl, wsUrl])}`;
const RANK = { uploading: 0, submitted: 1, completed: 2, failed: 2 };

const $ = (id) => document.getElementById(id);
const jobs = new Map();
let session = null;
let client = null;

// --- session ---------------------------------------------------------------

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    return s && typeof s.user === "string" && typeof s.token === "string" ? s : null;
  } catch {
    return null;
  }
}

async function devToken(user) {
  const res = await fetch(`${apiUrl}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status === 404) throw new Error("This stack issues no dev tokens: sign in with a token.");
  if (!res.ok) throw new Error(body.error ?? `sign-in failed (${res.status})`);
  return body.token;
}

/** Called by the client before every (re)connect: refreshes a dev token about to expire. */
async function getToken() {
  const exp = readClaims(session.token)?.exp;
  if (session.kind === "dev" && typeof exp === "number" && exp * 1000 - Date.now() < 60_000) {
    session.token = await devToken(session.user);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  }
  return session.token;
}

async function signIn(event) {
  event.preventDefault();
  const error = $("sign-in-error");
  error.textContent = "";
  const pasted = $("token").value.trim();
  const name = $("user-name").value.trim();
  try {
    if (pasted) {
      const sub = readClaims(pasted)?.sub;
      if (typeof sub !== "string") throw new Error("That does not look like a token (a JWT with a sub claim).");
      start({ user: sub, token: pasted, kind: "pasted" });
    } else if (!name) {
      throw new Error(devTokens ? "Enter a name to sign in as." : "Paste a token to sign in.");
    } else if (!devTokens) {
      throw new Error("A deployed stack needs a token from its identity provider.");
    } else {
      start({ user: name, token: await devToken(name), kind: "dev" });
    }
  } catch (e) {
    error.textContent = e.message;
    $(pasted ? "token" : "user-name").focus();
  }
}

function start(s) {
  session = s;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = s.user;
  document.title = `Boomerang · ${s.user}`;
  jobs.clear();
  renderJobs();
  $("activity").replaceChildren();
  client = connect({
    wsUrl,
    apiUrl,
    getToken,
    onEvent: (event) => {
      upsert(event.job, true);
      logEvent(event);
      $("last-seq").textContent = String(event.seq);
    },
    // The third party's progress: no seq, straight to the job's bar.
    onProgress: (notice) => progressed(notice.job),
    onStatus: showStatus,
    // Events were lost to retention: the list is the truth.
    onGap: () => loadJobs(),
  });
  window.boomerang = client; // for a curious developer's console
  loadJobs();
  $("file").focus();
}

function signOut() {
  client?.close();
  client = null;
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  $("app").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("token").value = "";
  document.title = "Boomerang";
  showStatus("closed", { reason: "signed out" });
  $("user-name").focus();
}

// --- connection status -----------------------------------------------------

let wasOpen = false;

function showStatus(status, detail = {}) {
  const box = $("status");
  box.dataset.status = status;
  const text = {
    connecting: "Connecting…",
    open: "Live",
    reconnecting: detail.delayMs > 999 ? `Reconnecting in ${Math.round(detail.delayMs / 1000)} s…` : "Reconnecting…",
    closed: detail.reason === "unauthorized" ? "Signed out: token refused" : "Not connected",
  }[status];
  $("status-text").textContent = text ?? status;
  box.title = detail.reason ?? "";
  if (client) $("last-seq").textContent = String(client.lastSeq);
  const mode = client?.mode;
  $("mode").textContent =
    mode === "leader" ? "this tab holds the connection" : mode === "follower" ? "sharing another tab's connection" : mode === "solo" ? "own connection" : status;
  // Opening (first time or again) is when the list may have moved on.
  if (status === "open" && !wasOpen) loadJobs();
  wasOpen = status === "open";
  if (status === "closed" && detail.reason === "unauthorized" && session?.kind === "pasted") {
    $("sign-in-error").textContent = "The token was refused (expired?). Paste a new one.";
    signOut();
  }
}

// A socket or request this page's policy refuses never opens, and the
// client would only ever say "Connecting…": say why instead.
document.addEventListener("securitypolicyviolation", (e) => {
  if (!e.effectiveDirective.startsWith("connect-src")) return;
  // The origin only: a socket's URL carries its token.
  let origin = e.blockedURI;
  try {
    const u = new URL(e.blockedURI);
    origin = `${u.protocol}//${u.host}`;
  } catch {}
  const box = $("blocked");
  box.textContent = `This page's security policy blocks ${origin}: the stack serves this page only for its own API and the origins in BOOMERANG_DEMO_ORIGINS.`;
  box.hidden = false;
});

// --- jobs ------------------------------------------------------------------

async function api(path) {
  const res = await fetch(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${await getToken()}` } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `${path}: ${res.status}`);
  return body;
}

async function loadJobs() {
  if (!session) return;
  try {
    const { jobs: list } = await api("/jobs?limit=50");
    for (const job of list) upsert(job, false);
  } catch (e) {
    console.warn("boomerang demo: GET /jobs", e);
  }
}

/** Keeps the furthest state of each job: lists and events may cross. */
function upsert(job, live) {
  const known = jobs.get(job.id);
  if (known) {
    const newer = RANK[job.status] > RANK[known.status] || (RANK[job.status] === RANK[known.status] && job.updatedAt >= known.updatedAt);
    if (!newer) return;
    // Events carry no progress: keep what the last notice said.
    if (job.progress === undefined && job.progressMessage === undefined) job = { ...job, progress: known.progress, progressMessage: known.progressMessage };
    // A list or a push may carry a truncated result: keep a full one we have.
    if (job.resultTruncated && known.result != null && !known.resultTruncated) job = { ...job, result: known.result, resultTruncated: false };
  }
  jobs.set(job.id, job);
  if (job.status === "completed" && job.resultTruncated) fetchFull(job.id);
  renderJob(job, live);
}

/** A job's progress, while it is unfinished (a late notice changes nothing). */
function progressed(job) {
  const known = jobs.get(job.id);
  if (known && RANK[known.status] > RANK.submitted) return;
  jobs.set(job.id, { ...(known ?? job), progress: job.progress, progressMessage: job.progressMessage });
  renderJob(jobs.get(job.id), false);
}

async function fetchFull(id) {
  try {
    const { job } = await api(`/jobs/${encodeURIComponent(id)}`);
    jobs.set(job.id, job);
    renderJob(job, false);
  } catch (e) {
    console.warn("boomerang demo: GET /jobs/{id}", e);
  }
}

function renderJobs() {
  $("jobs").replaceChildren();
  for (const job of [...jobs.values()].sort(newestFirst)) renderJob(job, false);
  $("jobs-empty").hidden = jobs.size > 0;
}

const newestFirst = (a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0);

function renderJob(job, live) {
  const list = $("jobs");
  let li = list.querySelector(`li[data-job-id="${CSS.escape(job.id)}"]`);
  if (!li) {
    li = $("job-template").content.firstElementChild.cloneNode(true);
    li.dataset.jobId = job.id;
    // Newest first: before the first job created earlier than this one.
    const after = [...list.children].find((el) => (jobs.get(el.dataset.jobId)?.createdAt ?? "") < job.createdAt);
    list.insertBefore(li, after ?? null);
  }
  li.dataset.status = job.status;
  li.querySelector(".file-name").textContent = job.fileName;
  const badge = li.querySelector(".badge");
  badge.textContent = { uploading: "Uploading", submitted: "Processing", completed: "Done", failed: "Failed" }[job.status] ?? job.status;
  li.querySelector(".size").textContent = formatBytes(job.size);
  const created = li.querySelector(".created");
  created.dateTime = job.createdAt;
  created.textContent = new Date(job.createdAt).toLocaleString();
  li.querySelector(".job-body").replaceChildren(jobBody(job));
  if (live) {
    li.classList.remove("flash");
    void li.offsetWidth; // restart the animation
    li.classList.add("flash");
  }
  $("jobs-empty").hidden = jobs.size > 0;
}

function jobBody(job) {
  const frag = document.createDocumentFragment();
  if (job.status === "submitted" || job.status === "uploading") {
    if (job.progress == null && job.progressMessage == null) {
      frag.append(el("p", "waiting", "Waiting for the third party's result…"));
    } else {
      const bar = el("progress", "job-progress");
      bar.max = 1;
      if (job.progress != null) bar.value = job.progress;
      bar.setAttribute("aria-label", `${job.fileName}: the third party's progress`);
      const pct = job.progress != null ? `${Math.round(job.progress * 100)} %` : "";
      frag.append(bar, el("p", "progress-message small", [pct, job.progressMessage].filter(Boolean).join(" · ")));
    }
  } else if (job.status === "failed") {
    frag.append(el("p", "failure", job.error ?? "failed"));
  } else if (job.resultTruncated) {
    frag.append(el("p", "waiting", "Result too large to push; loading it…"));
  } else {
    const r = job.result;
    if (r && typeof r === "object" && !Array.isArray(r)) {
      const dl = el("dl", "result");
      for (const [k, v] of Object.entries(r)) {
        const dd = el("dd", k === "sha256" ? "hash" : "", typeof v === "object" ? JSON.stringify(v) : String(v));
        dd.dataset.key = k;
        dl.append(el("dt", "", k), dd);
      }
      frag.append(dl);
    } else {
      frag.append(el("pre", "result", JSON.stringify(r, null, 2)));
    }
  }
  return frag;
}

const ACTIVITY_SHOWN = 100;

function logEvent(event) {
  const li = el("li");
  li.dataset.seq = String(event.seq);
  li.dataset.type = event.type;
  const time = el("time", "", new Date(event.at).toLocaleTimeString());
  time.dateTime = event.at;
  li.append(el("span", "seq", `#${event.seq}`), ` ${event.type} · ${event.job.fileName} · `, time);
  const list = $("activity");
  list.prepend(li);
  while (list.children.length > ACTIVITY_SHOWN) list.lastElementChild.remove();
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// --- upload ----------------------------------------------------------------

async function upload(event) {
  event.preventDefault();
  const file = $("file").files[0];
  const error = $("upload-error");
  error.textContent = "";
  if (!file) {
    error.textContent = "Choose a file first.";
    $("file").focus();
    return;
  }
  const token = await getToken();
  const box = $("progress-box");
  const bar = $("progress");
  const button = $("upload-button");
  box.hidden = false;
  button.disabled = true;
  bar.max = file.size || 1;
  bar.value = 0;
  // Files over the form's limit go straight to storage (a presigned PUT).
  const direct = file.size > MULTIPART_LIMIT_BYTES;
  $("progress-label").textContent = direct ? `Uploading ${file.name} straight to storage` : `Uploading ${file.name}`;
  $("progress-text").textContent = `0 of ${formatBytes(file.size)}`;
  const onProgress = (sent) => {
    bar.value = sent;
    $("progress-text").textContent = `${formatBytes(sent)} of ${formatBytes(file.size)}`;
  };
  try {
    const job = await uploadFile({ apiUrl, token, file, onProgress });
    upsert(job, true);
    $("upload-form").reset();
  } catch (e) {
    if (e.job) upsert(e.job, true);
    if (e.status === 413) {
      error.textContent = `${file.name} is too large: ${e.message}.`;
    } else if (e.status === 0) {
      error.textContent = "The upload did not reach the server. Check the connection and try again.";
    } else {
      error.textContent = e.message || `Upload failed (${e.status}).`;
    }
  } finally {
    button.disabled = false;
    box.hidden = true;
  }
}

// --- wiring ----------------------------------------------------------------

$("sign-in-form").addEventListener("submit", signIn);
$("upload-form").addEventListener("submit", upload);
$("sign-out").addEventListener("click", signOut);
$("reload").addEventListener("click", () => loadJobs());
$("api-url").textContent = apiUrl;
$("api-url-sign-in").textContent = apiUrl;
$("ws-url-sign-in").textContent = wsUrl;
if (!devTokens) {
  $("token-box").open = true;
  $("user-name").closest("form").querySelector('label[for="user-name"]').hidden = true;
  $("user-name").hidden = true;
}
const saved = loadSession();
if (saved) start(saved);
