// The modules' own exports, as the JS infers them, against the types
// boomerang-client.d.ts declares: a renamed, dropped or reshaped export
// fails to compile. (boomerang-client.js itself is checked by @ts-check
// against the types it uses; importers see the .d.ts.)
import type * as Declared from "../boomerang-client.js";
import * as sequencing from "../client/sequencing.js";
import * as socket from "../client/socket.js";
import * as uploads from "../client/uploads.js";

export const same: Pick<
  typeof Declared,
  | "IDLE_LIMIT_MS"
  | "MAX_CONNECTION_MS"
  | "MAX_EVENTS_PAGE"
  | "MULTIPART_LIMIT_BYTES"
  | "backoffDelay"
  | "readClaims"
  | "channelName"
  | "socketUrl"
  | "Sequencer"
  | "Unauthorized"
  | "fetchEvents"
  | "catchUp"
  | "UploadError"
  | "uploadFile"
> = { ...socket, ...sequencing, ...uploads };
