// uploadFile: which way a file goes, what is sent, what progress is told.
// XMLHttpRequest and fetch are fakes that record each request; the real
// ones are driven in Chromium by tests/browser.
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { MULTIPART_LIMIT_BYTES, uploadFile, UploadError } from "../boomerang-client.js";

/** A server behind a fake XMLHttpRequest and fetch, answering from `routes`. */
function fakeNet(routes) {
  const requests = [];
  const answer = (method, url, headers, body) => {
    requests.push({ method, url, headers, body });
    const route = routes[`${method} ${new URL(url).pathname}`];
    assert.ok(route, `unexpected ${method} ${url}`);
    return route({ headers, body });
  };
  class FakeXhr {
    constructor() {
      this.headers = {};
      this.upload = {};
    }
    open(method, url) {
      this.method = method;
      this.url = url;
    }
    setRequestHeader(name, value) {
      this.headers[name.toLowerCase()] = value;
    }
    send(body) {
      // A form is its file plus framing.
      const size = body.size ?? 200;
      queueMicrotask(() => {
        const [status, reply] = answer(this.method, this.url, this.headers, body);
        for (const loaded of [size / 2, size]) this.upload.onprogress?.({ lengthComputable: true, loaded, total: size });
        this.status = status;
        this.responseText = reply === undefined ? "" : JSON.stringify(reply);
        this.onload();
      });
    }
  }
  const fetch = async (url, init) => {
    const [status, reply] = answer(init.method, url, init.headers, init.body);
    return { status, json: async () => reply };
  };
  return { requests, XMLHttpRequest: FakeXhr, fetch };
}

const job = (status) => ({ id: "j1", status, fileName: "f", size: 1, createdAt: "", updatedAt: "" });

describe("uploadFile", () => {
  it("sends a small file as the multipart form, with progress in the file's bytes", async () => {
    const net = fakeNet({ "POST /uploads": () => [202, { job: job("submitted") }] });
    const progress = [];
    const got = await uploadFile({
      apiUrl: "http://api.test/",
      token: "tok",
      file: new File(["hello"], "hello.txt", { type: "text/plain" }),
      onProgress: (sent, total) => progress.push([sent, total]),
      ...net,
    });
    assert.equal(got.status, "submitted");
    assert.equal(net.requests.length, 1);
    assert.equal(net.requests[0].headers.authorization, "Bearer tok");
    assert.ok(net.requests[0].body instanceof FormData);
    assert.ok(progress.every(([sent, total]) => total === 5 && sent <= 5));
  });

  it("declares a large file and PUTs it to the URL the server signed, with its headers", async () => {
    const net = fakeNet({
      "POST /uploads": ({ body }) => [
        201,
        {
          job: { ...job("uploading"), declared: JSON.parse(body) },
          upload: { url: "http://store.test/put/j1?sig=x", method: "PUT", headers: { "content-type": "text/csv" }, expiresAt: "" },
        },
      ],
      "PUT /put/j1": () => [200, undefined],
    });
    const file = new File([new Uint8Array(MULTIPART_LIMIT_BYTES + 1)], "big.csv", { type: "text/csv" });
    const progress = [];
    const got = await uploadFile({ apiUrl: "http://api.test", token: "tok", file, onProgress: (s) => progress.push(s), ...net });
    assert.equal(got.status, "uploading");
    assert.deepEqual(got.declared, { fileName: "big.csv", size: file.size, contentType: "text/csv" });
    const [declare, put] = net.requests;
    assert.equal(declare.headers["content-type"], "application/json");
    assert.equal(put.url, "http://store.test/put/j1?sig=x");
    assert.deepEqual(put.headers, { "content-type": "text/csv" }, "no token goes to storage");
    assert.equal(put.body, file);
    assert.equal(progress.at(-1), file.size);
  });

  it("sends the file to storage when the server's form limit is lower than ours", async () => {
    const net = fakeNet({
      "POST /uploads": ({ headers }) =>
        headers["content-type"] === "application/json"
          ? [201, { job: job("uploading"), upload: { url: "http://store.test/p", method: "PUT", headers: {} } }]
          : [413, { error: "file is larger than the limit of 10 bytes" }],
      "PUT /p": () => [200, undefined],
    });
    const file = new File(["0123456789ab"], "a.txt");
    const got = await uploadFile({ apiUrl: "http://api.test", token: "t", file, ...net });
    assert.equal(got.status, "uploading");
    assert.deepEqual(
      net.requests.map((r) => r.method),
      ["POST", "POST", "PUT"],
    );
  });

  it("rejects with the server's message, its status and the job it made", async () => {
    const refused = fakeNet({ "POST /uploads": () => [502, { error: "the third party did not accept the file", job: job("failed") }] });
    await assert.rejects(
      uploadFile({ apiUrl: "http://api.test", token: "t", file: new File(["x"], "x"), ...refused }),
      (e) => e instanceof UploadError && e.status === 502 && e.job.status === "failed" && /third party/.test(e.message),
    );
    const tooBig = fakeNet({ "POST /uploads": () => [413, { error: "file is larger than the limit of 5 bytes" }] });
    const big = new File([new Uint8Array(MULTIPART_LIMIT_BYTES + 1)], "big.bin");
    await assert.rejects(
      uploadFile({ apiUrl: "http://api.test", token: "t", file: big, ...tooBig }),
      (e) => e instanceof UploadError && e.status === 413 && /larger than the limit/.test(e.message),
    );
    const storage = fakeNet({
      "POST /uploads": () => [201, { job: job("uploading"), upload: { url: "http://store.test/p", method: "PUT", headers: {} } }],
      "PUT /p": () => [403, undefined],
    });
    await assert.rejects(
      uploadFile({ apiUrl: "http://api.test", token: "t", file: big, ...storage }),
      (e) => e instanceof UploadError && e.status === 403 && e.job.id === "j1",
    );
  });
});
