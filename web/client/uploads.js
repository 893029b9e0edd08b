// @ts-check
// Uploads: a file as a multipart form, or declared and PUT straight to
// storage, with progress.

const noop = (..._args) => {};

/** The multipart route's default limit (BOOMERANG_MAX_UPLOAD_BYTES). */
export const MULTIPART_LIMIT_BYTES = 4 * 1024 * 1024;

/** An upload the server or the network refused; `job` when one was made. */
export class UploadError extends Error {
  /**
   * @param {string} message
   * @param {{ status?: number, job?: import("../boomerang-client.js").Job | null }} [options]
   */
  constructor(message, { status = 0, job = null } = {}) {
    super(message);
    this.name = "UploadError";
    this.status = status;
    this.job = job;
  }
}

/**
 * Uploads a File or Blob. Up to `multipartLimit` bytes it goes as the
 * multipart form of POST /uploads; larger (or when the server says the form
 * is too large), it is declared with JSON and PUT straight to storage at the
 * URL the server answers. `onProgress(sent, total)` follows the bytes.
 * Resolves with the job as the server answered it: `submitted` (or already
 * finished) for a form, `uploading` for a file sent to storage, whose
 * events follow as for any job. Rejects with UploadError.
 */
export async function uploadFile({
  apiUrl,
  token,
  file,
  fileName = file.name ?? "upload",
  onProgress = noop,
  multipartLimit = MULTIPART_LIMIT_BYTES,
  XMLHttpRequest: Xhr = globalThis.XMLHttpRequest,
  fetch = globalThis.fetch.bind(globalThis),
}) {
  const base = apiUrl.replace(/\/+$/, "");
  const auth = { authorization: `Bearer ${token}` };
  if (file.size <= multipartLimit) {
    const form = new FormData();
    form.append("file", file, fileName);
    const res = await send(Xhr, "POST", `${base}/uploads`, auth, form, (sent, total) =>
      // The form's framing makes the total a little larger than the file.
      onProgress(Math.min(file.size, Math.round((sent / total) * file.size)), file.size),
    );
    if (res.status === 202) return res.body.job;
    // A server whose form limit is below ours: the file goes to storage.
    if (res.status !== 413) throw refusal("POST /uploads", res);
  }
  const declared = await fetch(`${base}/uploads`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ fileName, size: file.size, contentType: file.type || "application/octet-stream" }),
  });
  const created = await declared.json().catch(() => ({}));
  if (declared.status !== 201) throw refusal("POST /uploads", { status: declared.status, body: created });
  const { job, upload } = created;
  // The headers the URL was signed with (its length is the body's own).
  const put = await send(Xhr, upload.method ?? "PUT", upload.url, upload.headers ?? {}, file, onProgress);
  if (put.status < 200 || put.status > 299) {
    throw new UploadError(`storage refused the file (${put.status})`, { status: put.status, job });
  }
  onProgress(file.size, file.size);
  return job;
}

function refusal(what, { status, body }) {
  const message = typeof body?.error === "string" ? body.error : `${what}: ${status}`;
  return new UploadError(message, { status, job: body?.job ?? null });
}

/** One request through XMLHttpRequest, the only API that reports bytes sent. */
function send(Xhr, method, url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new Xhr();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    xhr.onerror = () => reject(new UploadError("the upload did not reach the server"));
    xhr.onload = () => {
      let parsed = null;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        // S3 answers XML; only the status matters then.
      }
      resolve({ status: xhr.status, body: parsed });
    };
    xhr.send(body);
  });
}
