// useBoomerang in a real React renderer, against the in-process fakes.
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import React from "react";
import TestRenderer, { act } from "react-test-renderer";

import { useBoomerang } from "../react/useBoomerang.js";
import { Clock, FakeServer } from "./fakes.js";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;

function mount(server, clock, props) {
  const seen = { current: null };
  function Probe(p) {
    seen.current = useBoomerang(p);
    return null;
  }
  const base = {
    wsUrl: "ws://boomerang.test/ws",
    apiUrl: "http://boomerang.test",
    since: 0,
    WebSocket: server.WebSocket,
    fetch: server.fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    locks: null,
    BroadcastChannel: null,
    document: null,
    window: null,
  };
  let renderer;
  act(() => {
    renderer = TestRenderer.create(React.createElement(Probe, { ...base, ...props }));
  });
  return {
    seen,
    rerender: (more) => act(() => renderer.update(React.createElement(Probe, { ...base, ...props, ...more }))),
    unmount: () => act(() => renderer.unmount()),
  };
}

describe("useBoomerang", () => {
  it("shows the status, the events once in order, and the last seq", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    server.append("alice", { push: false });
    const hook = mount(server, clock, { user: "alice", getToken: async () => server.token("alice") });
    assert.equal(hook.seen.current.status, "connecting");
    await act(() => clock.advance(0));
    assert.equal(hook.seen.current.status, "open");
    server.append("alice");
    await act(() => clock.advance(0));
    assert.deepEqual(hook.seen.current.events.map((e) => e.seq), [1, 2]);
    assert.equal(hook.seen.current.lastSeq, 2);
    hook.unmount();
    assert.equal(server.sockets.size, 0);
  });

  it("keeps each unfinished job's latest progress, and drops it when the job ends", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const hook = mount(server, clock, { user: "alice", getToken: async () => server.token("alice") });
    await act(() => clock.advance(0));
    const notice = (progress) => ({
      type: "job.progress",
      at: "2026-12-06T00:00:00.000Z",
      job: { id: "job-1", status: "submitted", fileName: "a.txt", size: 1, createdAt: "", updatedAt: "", progress },
    });
    server.pushTo("alice", notice(0.25));
    server.pushTo("alice", notice(0.5));
    await act(() => clock.advance(0));
    assert.equal(hook.seen.current.progress["job-1"].progress, 0.5);
    assert.deepEqual(hook.seen.current.events, []);
    assert.equal(hook.seen.current.lastSeq, 0);
    server.append("alice", { jobId: "job-1" });
    await act(() => clock.advance(0));
    assert.deepEqual(hook.seen.current.progress, {});
    assert.deepEqual(hook.seen.current.events.map((e) => e.seq), [1]);
    hook.unmount();
  });

  it("reconnects as the new user when the user changes, and not when callbacks do", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const hook = mount(server, clock, { user: "alice", getToken: async () => server.token("alice") });
    await act(() => clock.advance(0));
    const first = server.open("alice")[0];
    hook.rerender({ getToken: async () => server.token("alice"), onEvent: () => {} });
    await act(() => clock.advance(0));
    assert.equal(server.open("alice")[0], first);
    hook.rerender({ user: "bob", getToken: async () => server.token("bob") });
    await act(() => clock.advance(0));
    assert.equal(server.open("alice").length, 0);
    assert.equal(server.open("bob").length, 1);
    server.append("bob");
    await act(() => clock.advance(0));
    assert.deepEqual(hook.seen.current.events.map((e) => e.seq), [1]);
    hook.unmount();
  });

  it("holds no connection while disabled", async () => {
    const server = new FakeServer();
    const clock = new Clock();
    const hook = mount(server, clock, { enabled: false, getToken: async () => server.token("alice") });
    await act(() => clock.advance(0));
    assert.equal(hook.seen.current.status, "closed");
    assert.equal(server.sockets.size, 0);
    hook.unmount();
  });
});
