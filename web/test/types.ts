// Compiled, never run (`make test-web`: tsc --noEmit): the hand-written
// .d.ts files describe the API as the README and docs/api.md use it.
import { connect, Sequencer, backoffDelay, uploadFile, UploadError, type BoomerangEvent, type Job, type Status } from "../boomerang-client.js";
import { useBoomerang } from "../react/useBoomerang.js";

const client = connect({
  wsUrl: "ws://127.0.0.1:3000/ws",
  apiUrl: "http://127.0.0.1:3000",
  getToken: async () => "token",
  onEvent: (e: BoomerangEvent) => {
    const seq: number = e.seq;
    const kind: "job.submitted" | "job.completed" | "job.failed" = e.type;
    const sha: unknown = e.job.result;
    void [seq, kind, sha, e.job.resultTruncated, e.job.error];
  },
  onStatus: (s: Status, d) => void [s, d.reason, d.delayMs],
  onGap: (g) => void g.resumedAt,
});
const last: number = client.lastSeq;
client.reconnect();
client.close();
void last;

const s = new Sequencer(0);
const delivered: BoomerangEvent[] = s.accept([]);
void [delivered, backoffDelay(3, { baseMs: 500, capMs: 30_000 })];

const hook = useBoomerang({ wsUrl: "wss://x/prod", apiUrl: "https://y", getToken: () => "t", user: "alice" });
const status: Status = hook.status;
const events: BoomerangEvent[] = hook.events;
void [status, events, hook.lastSeq, hook.gap?.since, hook.client?.mode];

// @ts-expect-error getToken is required
connect({ wsUrl: "ws://x", apiUrl: "http://y" });

async function sendLarge(file: File): Promise<string> {
  try {
    const job: Job = await uploadFile({
      apiUrl: "http://127.0.0.1:3000",
      token: "t",
      file,
      onProgress: (sent: number, total: number) => void [sent, total],
    });
    return job.status;
  } catch (e) {
    if (e instanceof UploadError) return `${e.status} ${e.job?.id ?? ""}`;
    throw e;
  }
}
void sendLarge;
