// Unit tests of the page client's pure rules (node --test e2e/client-unit.test.mjs).
// The whole worker flow needs a browser; it is covered by the multi-tab e2e suites.
import { test } from "node:test";
import assert from "node:assert/strict";
import { __test, LockstepError } from "../sw/lockstep-client.js";

const { toLocalTime, isSameOrigin, activityThrottleMs, decodeWorkerMessage, decodeFallbackMessage, request, ReplyPorts } = __test;

/** Waits until `cond()` holds, for at most a second; the caller asserts what it expected. */
const until = async (cond) => { for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5)); };

const good = () => ({
  v: 1, type: "state", now: 1700000000000,
  state: { status: "logged-in", user: { name: "ada" }, expiresAt: 1700000060000,
           idleDeadline: 1700000900000, epoch: 3, reason: null },
  idle: { timeoutMs: 900000, warningMs: 60000 },
  navigate: null,
});

test("decodes the PROTOCOL.md state example", () => {
  const m = decodeWorkerMessage(good());
  assert.equal(m.type, "state");
  assert.equal(m.now, 1700000000000);
  assert.deepEqual(m.state, good().state);
  assert.deepEqual(m.idle, { timeoutMs: 900000, warningMs: 60000 });
  assert.equal(m.navigate, null);
  assert.equal(m.debug, false);
  assert.equal(m.wakeAt, null);
  assert.equal(decodeWorkerMessage({ ...good(), wakeAt: 1700000000000 }).wakeAt, 1700000000000);
});

test("accepts the JSON text of a state, and the optional debug flag", () => {
  assert.equal(decodeWorkerMessage(JSON.stringify(good())).state.epoch, 3);
  assert.equal(decodeWorkerMessage({ ...good(), debug: true }).debug, true);
  assert.equal(decodeWorkerMessage("{not json"), null);
});

test("decodes error replies with known codes only", () => {
  assert.deepEqual(decodeWorkerMessage({ v: 1, type: "error", code: "bad-config", message: "field `apis`: missing" }),
    { type: "error", code: "bad-config", message: "field `apis`: missing" });
  assert.equal(decodeWorkerMessage({ v: 1, type: "error", code: "pwned", message: "x" }), null);
  assert.equal(decodeWorkerMessage({ v: 1, type: "error", code: "bad-message" }), null);
});

test("rejects forged messages of a wrong version or shape", () => {
  const cases = {
    "no version": (m) => delete m.v,
    "version 2": (m) => (m.v = 2),
    "version as string": (m) => (m.v = "1"),
    "unknown type": (m) => (m.type = "fallback-state"),
    "page message type": (m) => (m.type = "logout"),
    "now missing": (m) => delete m.now,
    "now as string": (m) => (m.now = "1700000000000"),
    "now NaN": (m) => (m.now = NaN),
    "state missing": (m) => delete m.state,
    "state as array": (m) => (m.state = []),
    "unknown status": (m) => (m.state.status = "admin"),
    "status missing": (m) => delete m.state.status,
    "epoch negative": (m) => (m.state.epoch = -1),
    "epoch fractional": (m) => (m.state.epoch = 1.5),
    "epoch as string": (m) => (m.state.epoch = "9"),
    "epoch missing": (m) => delete m.state.epoch,
    "expiresAt as string": (m) => (m.state.expiresAt = "soon"),
    "idleDeadline Infinity": (m) => (m.state.idleDeadline = Infinity),
    "reason as number": (m) => (m.state.reason = 1),
    "user as number": (m) => (m.state.user = 42),
    "idle without warningMs": (m) => delete m.idle.warningMs,
    "idle timeout zero": (m) => (m.idle.timeoutMs = 0),
    "idle as string": (m) => (m.idle = "15m"),
    "navigate as object": (m) => (m.navigate = { href: "/" }),
    "debug as string": (m) => (m.debug = "yes"),
    "wakeAt as string": (m) => (m.wakeAt = "soon"),
    "wakeAt NaN": (m) => (m.wakeAt = NaN),
  };
  for (const [name, mutate] of Object.entries(cases)) {
    const m = good();
    mutate(m);
    assert.equal(decodeWorkerMessage(m), null, name);
  }
  for (const junk of [null, undefined, 1, "state", [], true, {}]) assert.equal(decodeWorkerMessage(junk), null);
});

test("reads absent nullable fields as null and drops unknown fields", () => {
  const m = good();
  delete m.navigate;
  delete m.idle;
  delete m.state.reason;
  m.extra = "x";
  m.state.token = "secret";
  const d = decodeWorkerMessage(m);
  assert.equal(d.navigate, null);
  assert.equal(d.idle, null);
  assert.equal(d.state.reason, null);
  assert.equal("extra" in d, false);
  assert.equal("token" in d.state, false);
});

test("refuses cross-origin navigate targets", () => {
  const here = "https://app.example.test/app1/page?x=1";
  assert.equal(isSameOrigin("/login?returnTo=%2Fapp1%2Fpage", here), true);
  assert.equal(isSameOrigin("https://app.example.test/app2/", here), true);
  assert.equal(isSameOrigin("../login", here), true);
  for (const bad of [
    "https://evil.test/login",
    "//evil.test/login",
    "https://app.example.test.evil.test/",
    "https://app.example.test:8443/",
    "http://app.example.test/",
    "https://user@evil.test/",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://[bad",
  ]) assert.equal(isSameOrigin(bad, here), false, bad);
  assert.equal(isSameOrigin("/x", "not a url"), false);
});

test("converts worker times to the tab's clock", () => {
  // Worker clock 5 s ahead of the tab: a deadline 60 s after the worker's now is 60 s after ours.
  assert.equal(toLocalTime(1700000060000, 1700000005000, 1700000000000), 1700000055000);
  assert.equal(toLocalTime(1000, 1000, 42), 42);
  assert.equal(toLocalTime(null, 1, 2), null);
  assert.equal(toLocalTime(undefined, 1, 2), null);
});

test("throttles activity to max(1 s, min(timeout/10, 30 s))", () => {
  assert.equal(activityThrottleMs(900000), 30000); // 15 min → capped at 30 s
  assert.equal(activityThrottleMs(120000), 12000); // 2 min → 12 s
  assert.equal(activityThrottleMs(5000), 1000); // 5 s → floor of 1 s
  assert.equal(activityThrottleMs(null), 30000); // no idle timeout configured
  assert.equal(activityThrottleMs(undefined), 30000);
});

test("decodes fallback channel messages strictly", () => {
  assert.deepEqual(decodeFallbackMessage({ v: 1, type: "fallback-hello" }), { type: "fallback-hello" });
  assert.deepEqual(decodeFallbackMessage({ v: 1, type: "fallback-state", status: "logged-out", epoch: 4 }),
    { type: "fallback-state", status: "logged-out", epoch: 4, user: null });
  for (const bad of [
    { v: 2, type: "fallback-state", status: "logged-out", epoch: 4 },
    { v: 1, type: "fallback-state", status: "gone", epoch: 4 },
    { v: 1, type: "fallback-state", status: "logged-in", epoch: -1 },
    { v: 1, type: "fallback-state", status: "logged-in", epoch: 1, user: 7 },
    { v: 1, type: "state", status: "logged-in", epoch: 1 },
    "fallback-hello",
  ]) assert.equal(decodeFallbackMessage(bad), null);
});

test("LockstepError carries a code", () => {
  const e = new LockstepError("timeout", "hello: no answer");
  assert.ok(e instanceof Error);
  assert.equal(e.name, "LockstepError");
  assert.equal(e.code, "timeout");
});

// Node has BroadcastChannel but no service workers: two module instances behave like two tabs
// of the broadcast-only fallback.
test("broadcast-only fallback syncs login and logout between tabs", async () => {
  globalThis.navigator ??= {};
  globalThis.location ??= { href: "https://app.test/" };
  // Unreferenced channels, so the open "tabs" do not keep the test process alive.
  const Native = globalThis.BroadcastChannel;
  globalThis.BroadcastChannel = class extends Native {
    constructor(name) { super(name); this.unref(); }
  };
  const tabA = (await import("../sw/lockstep-client.js?tab=a")).Lockstep;
  const tabB = (await import("../sw/lockstep-client.js?tab=b")).Lockstep;
  const a = await tabA.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json" });
  assert.equal(a.state.mode, "broadcast-only");
  assert.equal(a.state.status, "logged-out");
  a.reportLogin({ name: "ada" });
  assert.equal(a.state.status, "logged-in");

  const b = await tabB.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json" }); // answered by tab A
  assert.equal(b.state.status, "logged-in");
  assert.deepEqual(b.state.user, { name: "ada" });

  const seen = new Promise((resolve) => b.subscribe(resolve));
  await a.logout();
  const s = await seen;
  assert.equal(s.status, "logged-out");
  assert.equal(s.reason, "logout");
  assert.equal(s.epoch, a.state.epoch);
  // A stale "logged-in" of an older epoch is ignored.
  const forged = new BroadcastChannel("lockstep");
  forged.postMessage({ v: 1, type: "fallback-state", status: "logged-in", epoch: 1, user: { name: "eve" } });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(b.state.status, "logged-out");
  forged.close();
});

// Worker mode against a fake service-worker container (real MessageChannel and
// BroadcastChannel from node): exercises the rules of the flow, not the browser.
test("worker mode: hello, trust, epochs, navigate order, channel ignored, timeouts, idle timers", async () => {
  const W = 5000; // the worker's clock runs 5 s ahead of the tab's
  const sent = [];
  let behave = {}; // type -> (msg) => reply | undefined (no answer)
  // Like the worker, announce the idle deadline as the next wake-up unless told otherwise.
  const state = (over = {}, top = {}) => {
    const st = { status: "logged-in", user: { name: "ada" }, expiresAt: null, idleDeadline: Date.now() + W + 600000,
                 epoch: 3, reason: null, ...over };
    return { v: 1, type: "state", now: Date.now() + W, state: st,
             idle: { timeoutMs: 600000, warningMs: 60000 }, wakeAt: st.idleDeadline, navigate: null, ...top };
  };
  class FakeSW extends EventTarget {
    scriptURL = "https://app.test/lockstep-sw.js?config=x";
    state = "activated";
    postMessage(msg, [port]) {
      sent.push(msg.type);
      this.port?.close(); // like the worker: it keeps the newest reply port of each tab
      this.port = port;
      const reply = (behave[msg.type] ?? (() => state()))(msg);
      if (reply !== undefined) setTimeout(() => port.postMessage(reply), 5);
    }
  }
  const sw = new FakeSW();
  const container = Object.assign(new EventTarget(), {
    controller: sw, startMessages() {},
    register: async (url, opts) => { container.registered = { url, opts }; return { scope: "https://app.test/", active: sw }; },
  });
  const log = [];
  const store = new Map();
  Object.assign(globalThis, {
    ServiceWorker: FakeSW,
    navigator: { serviceWorker: container },
    location: { href: "https://app.test/app1/page", replace: (u) => log.push(`replace ${u}`), reload: () => log.push("reload") },
    document: Object.assign(new EventTarget(), { visibilityState: "visible" }),
    addEventListener() {},
    sessionStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) },
  });
  const { Lockstep } = await import("../sw/lockstep-client.js?tab=w");
  const s = await Lockstep.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json", timeoutMs: 100 });
  assert.match(container.registered.url, /^\/lockstep-sw\.js\?config=%2Flockstep\.config\.json&base=%2F.*%2Fsw%2F$/);
  assert.equal(container.registered.opts.updateViaCache, "none");
  assert.deepEqual(sent, ["hello"]);
  assert.equal(s.state.status, "logged-in");
  assert.equal(s.state.mode, "worker");
  assert.ok(Math.abs(s.state.idleDeadline - (Date.now() + 600000)) < 50, "converted to the tab's clock");

  const fromWorker = (data, source = sw) => {
    const e = new Event("message");
    Object.assign(e, { data, source });
    container.dispatchEvent(e);
  };
  const seen = [];
  s.subscribe((st) => log.push(`sub ${st.status} ${st.epoch}`) && seen.push(st));

  fromWorker(state({ status: "logged-out", epoch: 9 }), null); // not from a ServiceWorker
  fromWorker({ ...state({ status: "logged-out", epoch: 9 }), v: 2 }); // wrong version
  fromWorker(state({ epoch: 2, status: "logged-out" })); // older epoch
  assert.equal(s.state.epoch, 3);
  assert.deepEqual(seen, []);

  fromWorker(state({ epoch: 4, status: "logged-out", reason: "logout", user: null, idleDeadline: null },
    { navigate: "https://evil.test/login" }));
  assert.equal(s.state.status, "logged-out");
  assert.deepEqual(log, ["sub logged-out 4"], "cross-origin navigate refused");

  log.length = 0;
  fromWorker(state({ epoch: 4, status: "logged-out", reason: "logout", user: null, idleDeadline: null },
    { navigate: "/login?returnTo=%2Fapp1%2Fpage" }));
  assert.deepEqual(log, ["sub logged-out 4"], "subscribers first, at once");
  for (let i = 0; i < 100 && log.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(log, ["sub logged-out 4", "replace /login?returnTo=%2Fapp1%2Fpage"], "then the navigation, once");
  // The same news again (the worker's reply, then its broadcast): no second call, no second leave.
  fromWorker(state({ epoch: 4, status: "logged-out", reason: "logout", user: null, idleDeadline: null },
    { navigate: "/login?returnTo=%2Fapp1%2Fpage" }));
  await new Promise((r) => setTimeout(r, 80)); // past NAVIGATE_PAUSE_MS: a second leave would show
  assert.deepEqual(log, ["sub logged-out 4", "replace /login?returnTo=%2Fapp1%2Fpage"], "a repeat calls no subscriber");


  // The channel is not the worker's voice: forged states on it — a newer epoch, a login, a
  // logout with a navigate — change nothing and cost no request.
  sent.length = 0;
  const forger = new BroadcastChannel("lockstep");
  const heard = new Promise((r) => {
    const ch = new BroadcastChannel("lockstep");
    ch.onmessage = (e) => { if (e.data === "sentinel") { ch.close(); r(); } };
  });
  const calls = log.length;
  forger.postMessage(state({ epoch: 9, status: "logged-in", user: { name: "eve" } }));
  forger.postMessage(JSON.stringify(state({ epoch: 10, status: "logged-out", reason: "logout", user: null }, { navigate: "/login?returnTo=%2Fevil" })));
  forger.postMessage("sentinel");
  await heard; // the client's channel, had it one, got them before this (same process, same order)
  await new Promise((r) => setTimeout(r, 60)); // and any timer it started would have fired
  assert.deepEqual(sent, [], "a channel post makes the client ask nothing");
  assert.equal(log.length, calls, "no subscriber ran, no navigation");
  assert.deepEqual([s.state.status, s.state.epoch, s.state.user?.name], ["logged-out", 4, undefined]);
  forger.close();
  // News on the tab's reply port: the worker has a port of ours again.
  sw.port.postMessage(state({ epoch: 4, status: "logged-in", user: { name: "ada" } }));
  await until(() => s.state.status === "logged-in");

  // News from `client.postMessage` means the worker has no port of ours (restarted): the tab
  // gives it one, once, until news comes on a port again.
  behave = {};
  fromWorker(state({ epoch: 4, status: "logged-in", user: { name: "ada" } }));
  fromWorker(state({ epoch: 4, status: "logged-in", user: { name: "ada" } }));
  await until(() => sent.length === 1);
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(sent, ["hello"], "one new port for two messages");
  fromWorker(state({ epoch: 4, status: "logged-in", user: { name: "ada" } }));
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(sent, ["hello"], "none while the worker has not yet used it");
  sw.port.postMessage(state({ epoch: 4, status: "logged-in", user: { name: "bob" } }));
  await until(() => s.state.user.name === "bob");
  fromWorker(state({ epoch: 4, status: "logged-in", user: { name: "ada" } })); // restarted again
  await until(() => sent.length === 2);
  assert.deepEqual(sent, ["hello", "hello"]);
  sent.length = 0;

  // Timeouts and worker errors are typed.
  behave = { activity: () => undefined, logout: () => ({ v: 1, type: "error", code: "not-ready", message: "loading" }) };
  await assert.rejects(s.stayActive(), (e) => e.name === "LockstepError" && e.code === "timeout");
  await assert.rejects(s.logout(), (e) => e.code === "not-ready" && /loading/.test(e.message));
  assert.throws(() => s.reportLogin({}), (e) => e.code === "unsupported");

  // Idle warning at deadline - warningMs, cleared (null) when the deadline moves; tick at the deadline.
  behave = {};
  const warnings = [];
  s.onIdleWarning((w) => warnings.push(w));
  fromWorker(state({ epoch: 4, idleDeadline: Date.now() + W + 80 })); // inside the 60 s warning window
  assert.equal(warnings.length, 1);
  assert.ok(Math.abs(warnings[0].deadline - (Date.now() + 80)) < 20);
  sent.length = 0;
  behave = { tick: () => state({ epoch: 5, status: "logged-out", reason: "idle", user: null, idleDeadline: null }) };
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(sent, ["tick"]);
  assert.equal(s.state.reason, "idle");
  assert.deepEqual(warnings.at(-1), null, "the warning clears when the session ends");

  behave = {};
  fromWorker(state({ epoch: 6, idleDeadline: Date.now() + W + 1000 }));
  assert.equal(warnings.at(-1).deadline > Date.now(), true);
  fromWorker(state({ epoch: 6, idleDeadline: Date.now() + W + 600000 })); // activity elsewhere
  assert.equal(warnings.at(-1), null);

  // wakeAt alone drives the tick (e.g. a logout retry while logged out), on the tab's clock.
  sent.length = 0;
  behave = { tick: () => state({ epoch: 7, status: "logged-out", reason: "logout", user: null, idleDeadline: null }) };
  const lastTickAt = Date.now();
  fromWorker(state({ epoch: 7, status: "logged-out", reason: "logout", user: null, idleDeadline: null },
    { wakeAt: Date.now() + W + 1100 }));
  assert.deepEqual(sent, []);
  await new Promise((r) => setTimeout(r, 1300));
  assert.deepEqual(sent, ["tick"], "a tick at wakeAt, at most one a second");
  assert.ok(Date.now() - lastTickAt >= 1100);
  fromWorker(state({ epoch: 8, status: "logged-out", user: null, idleDeadline: null })); // wakeAt null: no timers
  sent.length = 0;
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(sent, []);

  // The latest word wins before the tab leaves: a corrected target replaces the pending one
  // (a first message written for the URL the tab had before a pushState), and news that says
  // to stay (a login right after the logout) cancels it.
  const replaced = async () => {
    await new Promise((r) => setTimeout(r, 120)); // past the 50 ms pause
    return log.filter((l) => l.startsWith("replace"));
  };
  log.length = 0;
  const out20 = { epoch: 20, status: "logged-out", reason: "logout", user: null, idleDeadline: null };
  fromWorker(state(out20, { navigate: "/login?returnTo=%2Fold" }));
  fromWorker(state(out20, { navigate: "/login?returnTo=%2Fnew" }));
  assert.deepEqual(await replaced(), ["replace /login?returnTo=%2Fnew"], "the correction, once");
  log.length = 0;
  fromWorker(state({ ...out20, epoch: 21 }, { navigate: "/login?returnTo=%2Fnew" }));
  fromWorker(state({ epoch: 22, status: "logged-in", user: { name: "ada" } }));
  assert.deepEqual(await replaced(), [], "a login before the pause ended keeps the tab");
  assert.equal(s.state.status, "logged-in");
  fromWorker(state({ epoch: 23, status: "logged-out", user: null, idleDeadline: null })); // no timers left
  sw.port.close(); // both ends: nothing keeps node running
});

/**
 * A page whose worker answers every request with one logged-out state (epoch `epoch`,
 * `reason`, `navigate`); `controlled` says whether the page is controlled. Every request's
 * type goes to `log`. The caller sets `location`.
 */
function fakeLoggedOutWorker({ log, epoch, reason = null, navigate = null, controlled }) {
  class FakeSW extends EventTarget {
    scriptURL = "https://app.test/lockstep-sw.js";
    state = "activated";
    postMessage(msg, [port]) {
      log.push(msg.type);
      port.postMessage({ v: 1, type: "state", now: Date.now(), navigate, idle: null,
        state: { status: "logged-out", user: null, expiresAt: null, idleDeadline: null, epoch, reason } });
      port.close(); // as a stopped worker: the tab's end of its reply port closes too
    }
  }
  const sw = new FakeSW();
  const store = new Map();
  globalThis.sessionStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  globalThis.ServiceWorker = FakeSW;
  globalThis.navigator = { serviceWorker: Object.assign(new EventTarget(), {
    controller: controlled ? sw : null, startMessages() {}, register: async () => ({ scope: "https://app.test/", active: sw }) }) };
}

test("start() refuses a worker or config on another origin with bad-config, before registering", async () => {
  const log = [];
  fakeLoggedOutWorker({ log, epoch: 1, controlled: true });
  globalThis.location = { href: "https://app.test/app1/", replace() {}, reload() {} };
  const register = navigator.serviceWorker.register;
  navigator.serviceWorker.register = (...args) => { log.push("register"); return register(...args); };
  const { Lockstep } = await import("../sw/lockstep-client.js?tab=origin");
  for (const [opts, what] of [
    [{ sw: "/lockstep-sw.js", config: "https://evil.test/lockstep.config.json" }, /config https:\/\/evil\.test/],
    [{ sw: "//evil.test/lockstep-sw.js", config: "/c.json" }, /sw \/\/evil\.test/],
    [{ sw: "/lockstep-sw.js", config: "https://app.test:444/c.json" }, /config/],
  ]) {
    await assert.rejects(Lockstep.start(opts), (e) => e.code === "bad-config" && what.test(e.message), JSON.stringify(opts));
  }
  assert.deepEqual(log, [], "nothing registered, nothing asked");
  assert.equal((await Lockstep.start({ sw: "/lockstep-sw.js", config: "https://app.test/c.json" })).state.epoch, 1, "the same origin, spelled out");
  assert.deepEqual(log, ["register", "hello"]);
});

test("hard reload: one guarded reload, then uncontrolled with a warning", async () => {
  const log = [];
  fakeLoggedOutWorker({ log, epoch: 1, controlled: false });
  globalThis.location = { href: "https://app.test/", replace() {}, reload: () => log.push("reload") };
  const opts = { sw: "/lockstep-sw.js", config: "/c.json" };
  const first = (await import("../sw/lockstep-client.js?tab=r1")).Lockstep.start(opts);
  const outcome = await Promise.race([first.then(() => "resolved"), new Promise((r) => setTimeout(() => r("pending"), 500))]);
  assert.equal(outcome, "pending", "start() does not resolve while the page reloads");
  assert.deepEqual(log, ["hello", "reload"]);

  const warn = console.warn;
  console.warn = (...a) => log.push("warn");
  try {
    const s = await (await import("../sw/lockstep-client.js?tab=r2")).Lockstep.start(opts); // the reload, still uncontrolled
    assert.equal(s.state.epoch, 1);
    assert.deepEqual(log, ["hello", "reload", "hello", "warn"], "no second reload");
  } finally {
    console.warn = warn;
  }
});

test("a page that starts where it must not stay leaves at once, before start() resolves", async () => {
  const log = [];
  fakeLoggedOutWorker({ log, epoch: 2, reason: "logout", navigate: "/login?returnTo=%2Fapp1%2F", controlled: true });
  globalThis.location = { href: "https://app.test/app1/", replace: (u) => log.push(`replace ${u}`), reload: () => log.push("reload") };
  const s = await (await import("../sw/lockstep-client.js?tab=leave")).Lockstep.start({ sw: "/lockstep-sw.js", config: "/c.json" });
  assert.equal(s.state.status, "logged-out");
  assert.deepEqual(log, ["hello", "replace /login?returnTo=%2Fapp1%2F"], "no 50 ms of the app on a page it must leave");
});

// ---- reply ports: the worker keeps each tab's newest one and sends later news on it ----

const stateOf = (epoch) => ({ v: 1, type: "state", now: 1, navigate: null, idle: null,
  state: { status: "logged-in", user: "ada", expiresAt: null, idleDeadline: null, epoch, reason: null } });

/** A worker that keeps the reply ports it is given (newest last) and answers when told. */
function portKeeper() {
  const got = [];
  return { got, target: { postMessage: (msg, [port]) => got.push(port) }, closeAll: () => got.forEach((p) => p.close()) };
}

test("news on the newest reply port reaches the tab; an older port closes once a newer one is heard", async () => {
  const w = portKeeper();
  const news = [];
  const ports = new ReplyPorts((d) => news.push(decodeWorkerMessage(d).state.epoch));
  try {
    const first = request(w.target, { type: "hello" }, 5000, ports);
    w.got[0].postMessage(stateOf(1));
    assert.equal((await first).state.epoch, 1);
    w.got[0].postMessage(stateOf(2)); // news on the only port
    await until(() => news.length === 1);
    const second = request(w.target, { type: "get-state" }, 5000, ports);
    w.got[1].postMessage(stateOf(2));
    await second;
    const closed = new Promise((r) => w.got[0].addEventListener("close", r));
    w.got[0].start?.();
    await closed; // the tab closed its end of the older port
    w.got[1].postMessage(stateOf(3));
    await until(() => news.length === 2);
    assert.deepEqual(news, [2, 3]);
  } finally {
    w.closeAll();
  }
});

test("an older request still gets its answer when a newer port is heard first", async () => {
  const w = portKeeper();
  const ports = new ReplyPorts(() => {});
  try {
    const a = request(w.target, { type: "activity" }, 5000, ports);
    const b = request(w.target, { type: "tick" }, 5000, ports);
    w.got[1].postMessage(stateOf(4));
    assert.equal((await b).state.epoch, 4);
    w.got[0].postMessage(stateOf(3));
    assert.equal((await a).state.epoch, 3, "the older port stayed open while it waited");
  } finally {
    w.closeAll();
  }
});

test("an answer after the timeout is not lost: it arrives as news", async () => {
  const w = portKeeper();
  const news = [];
  const ports = new ReplyPorts((d) => news.push(decodeWorkerMessage(d).state.epoch));
  try {
    await assert.rejects(request(w.target, { type: "get-state" }, 20, ports), (e) => e instanceof LockstepError && e.code === "timeout");
    w.got[0].postMessage(stateOf(7));
    await until(() => news.length === 1);
    assert.deepEqual(news, [7]);
  } finally {
    w.closeAll();
  }
});

test("at most eight reply ports stay open", async () => {
  const w = portKeeper();
  const ports = new ReplyPorts(() => {});
  const closes = [];
  try {
    const pending = Array.from({ length: 10 }, () => request(w.target, { type: "tick" }, 5000, ports).catch(() => {}));
    w.got.forEach((p, i) => p.addEventListener("close", () => closes.push(i)));
    w.got.forEach((p) => p.start?.());
    await until(() => closes.length === 2);
    assert.deepEqual(closes.sort(), [0, 1], "the two oldest");
    for (const p of w.got.slice(2)) p.postMessage(stateOf(1));
    await Promise.all(pending.slice(2));
  } finally {
    w.closeAll();
  }
});
