/**
 * Lockstep page client: registers the Lockstep service worker, mirrors the session state it
 * announces, holds the tab's timers (the worker may be stopped at any time, so it cannot) and
 * reports activity. It never decides anything about the session: it only asks the worker
 * (see docs/PROTOCOL.md). Dependency-free ES module; types in lockstep-client.d.ts.
 */

const V = 1;
const CHANNEL = "lockstep";
const STATUSES = ["logged-in", "logged-out"];
const WORKER_ERRORS = ["bad-message", "bad-config", "not-ready"];
const ACTIVITY_EVENTS = ["pointerdown", "keydown", "wheel", "touchstart"];
const INSTALL_TIMEOUT_MS = 15000; // first install fetches config + wasm: allow more than a request
const RELOAD_KEY = "lockstep:reload";
const MAX_TIMER_MS = 2 ** 31 - 1; // larger setTimeout delays fire at once
const NAVIGATE_PAUSE_MS = 50; // see #apply
const MAX_REPLY_PORTS = 8; // open reply ports per tab (see ReplyPorts)

/** A typed failure: `code` is one of the codes listed in the .d.ts. */
export class LockstepError extends Error {
  constructor(code, message, options) { super(message, options); this.name = "LockstepError"; this.code = code; }
}

// ---- pure helpers (exported as __test for node unit tests) ----

const isObj = (x) => typeof x === "object" && x !== null && !Array.isArray(x);
const isTime = (x) => typeof x === "number" && Number.isFinite(x);
const isEpoch = (x) => Number.isSafeInteger(x) && x >= 0;
const isUser = (x) => x === null || typeof x === "string" || isObj(x);
/** Nullable fields may also be absent (serde may skip `None`); absent reads as null. */
const nullOr = (x, test) => x == null || test(x);
const str = (x) => typeof x === "string";

/** Converts a worker timestamp to this tab's clock; the two clocks may disagree. */
const toLocalTime = (t, workerNow, localNow) => (t == null ? null : t - workerNow + localNow);

/** Defence in depth against open redirects: only same-origin targets are followed. */
function isSameOrigin(url, base) {
  try { return new URL(url, base).origin === new URL(base).origin; } catch { return false; }
}

/** Minimum gap between automatic activity reports: max(1 s, min(timeout/10, 30 s)). */
const activityThrottleMs = (timeoutMs) => Math.max(1000, Math.min((timeoutMs ?? Infinity) / 10, 30000));

/**
 * Decodes a worker → page message, or returns null for anything that is not exactly a v1
 * `state` or `error` of the right shape (forged or foreign messages). Unknown extra fields
 * are ignored (not copied), so a newer worker can add some. Accepts a JSON string as well as
 * an object, because the bootstrap may post the engine's JSON text as is.
 */
function decodeWorkerMessage(data) {
  if (str(data)) try { data = JSON.parse(data); } catch { return null; }
  if (!isObj(data) || data.v !== V) return null;
  if (data.type === "error") {
    const ok = WORKER_ERRORS.includes(data.code) && str(data.message);
    return ok ? { type: "error", code: data.code, message: data.message } : null;
  }
  const s = data.state;
  let idle = data.idle;
  if (data.type !== "state" || !isTime(data.now) || !isObj(s)) return null;
  if (!STATUSES.includes(s.status) || !isUser(s.user ?? null) || !isEpoch(s.epoch)) return null;
  if (!nullOr(s.expiresAt, isTime) || !nullOr(s.idleDeadline, isTime) || !nullOr(s.reason, str)) return null;
  const idleOk = (i) => isObj(i) && isTime(i.timeoutMs) && i.timeoutMs > 0 && isTime(i.warningMs) && i.warningMs >= 0;
  if (!nullOr(idle, idleOk) || !nullOr(data.navigate, str) || !nullOr(data.wakeAt, isTime)) return null;
  if (data.debug !== undefined && typeof data.debug !== "boolean") return null;
  const state = { status: s.status, user: s.user ?? null, expiresAt: s.expiresAt ?? null,
    idleDeadline: s.idleDeadline ?? null, epoch: s.epoch, reason: s.reason ?? null };
  idle &&= { timeoutMs: idle.timeoutMs, warningMs: idle.warningMs };
  return { type: "state", now: data.now, state, idle: idle ?? null, wakeAt: data.wakeAt ?? null,
    navigate: data.navigate ?? null, debug: data.debug === true };
}

/** Decodes a tab → tab message of the broadcast-only fallback, or null. */
function decodeFallbackMessage(data) {
  if (!isObj(data) || data.v !== V) return null;
  if (data.type === "fallback-hello") return { type: "fallback-hello" };
  if (data.type !== "fallback-state" || !STATUSES.includes(data.status) || !isEpoch(data.epoch)) return null;
  if (!isUser(data.user ?? null)) return null;
  return { type: "fallback-state", status: data.status, epoch: data.epoch, user: data.user ?? null };
}

// ---- browser plumbing ----

const clampDelay = (ms) => Math.min(Math.max(ms, 0), MAX_TIMER_MS);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One request over a fresh MessageChannel; always settles (Workbox's messageSW may not). The
 * channel stays open after the answer (see `ReplyPorts`): a later message on it, or an
 * answer that comes after the timeout, goes to `ports.news`.
 */
function request(target, msg, timeoutMs, ports) {
  return new Promise((resolve, reject) => {
    if (!target) return reject(new LockstepError("not-ready", `${msg.type}: no active service worker`));
    const { port1, port2 } = new MessageChannel();
    let waiting = true;
    const timer = setTimeout(() => {
      waiting = false;
      ports.update(port1, false);
      reject(new LockstepError("timeout", `${msg.type}: no answer from the worker within ${timeoutMs} ms`));
    }, timeoutMs);
    port1.onmessage = (e) => {
      const answer = waiting;
      waiting = false;
      ports.update(port1, true);
      if (!answer) return ports.news(e.data);
      clearTimeout(timer);
      const m = decodeWorkerMessage(e.data);
      if (!m) reject(new LockstepError("bad-message", `${msg.type}: unreadable reply from the worker`));
      else if (m.type === "error") reject(new LockstepError(m.code, `${msg.type}: ${m.message}`));
      else resolve(m);
    };
    ports.add(port1);
    target.postMessage(msg, [port2]);
  });
}

/**
 * A tab's reply ports, oldest first. The worker keeps the newest one it has read and sends
 * the tab's later state messages on it: a port is a pipe straight to the tab's process, where
 * `client.postMessage` goes through the browser process (20 tabs, bench/fanout.mjs: p50
 * 5 ms until the last tab had it, against 14–18 ms). A message on a port means the worker has
 * dropped every older one, so those close once they are no longer waiting for their answer.
 */
class ReplyPorts {
  #open = []; // { port, waiting, heard }
  constructor(news) { this.news = news; }

  add(port) {
    this.#open.push({ port, waiting: true, heard: false });
    if (this.#open.length > MAX_REPLY_PORTS) this.#open.shift().port.close();
  }

  /** `port` is done waiting for its answer; `heard`: a message came on it. */
  update(port, heard) {
    const entry = this.#open.find((e) => e.port === port);
    if (!entry) return;
    entry.waiting = false;
    entry.heard ||= heard;
    const newest = this.#open.findLastIndex((e) => e.heard);
    this.#open = this.#open.filter((e, i) => {
      const keep = i >= newest || e.waiting;
      if (!keep) e.port.close();
      return keep;
    });
  }
}

export const __test = { toLocalTime, isSameOrigin, activityThrottleMs, decodeWorkerMessage, decodeFallbackMessage, request, ReplyPorts };

/** Resolves once the registration has an active worker; rejects if installation fails. */
function waitForActive(reg) {
  if (reg.active) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const sw = reg.installing || reg.waiting;
    const fail = (m, code = "not-ready") => reject(new LockstepError(code, m));
    const timer = setTimeout(() => fail(`the service worker did not activate within ${INSTALL_TIMEOUT_MS} ms`, "timeout"), INSTALL_TIMEOUT_MS);
    sw?.addEventListener("statechange", () => {
      if (reg.active) { clearTimeout(timer); resolve(); }
      else if (sw.state === "redundant") {
        clearTimeout(timer);
        fail("the service worker failed to install (check the config URL and file; see the worker's console)");
      }
    });
  });
}

/** Runs `fn` when the page is idle (soon, where there is no idle callback). */
function later(fn) {
  if (typeof requestIdleCallback === "function") requestIdleCallback(() => fn(), { timeout: 2000 });
  else setTimeout(fn, 50);
}

// The worker's compiled module, held so that a restarted worker need not compile it again.
// V8 shares a compiled module between the contexts of one renderer process that compile the
// same bytes, with every function any of them has compiled since; Chromium starts a worker in
// the process of its pages where it can. A restarted worker then finds its code compiled
// (traced: no function compiled again, against ~150 and 5–15 ms of a cold start without a
// page that holds it; e2e/cold-start.test.mjs). The bytes are the ones the worker stored
// (IndexedDB "lockstep", keys "wasm:<hash>"): nothing is fetched, and nothing is
// instantiated or run here. The worker checks its bytes against its hash before it runs
// them, so a page cannot lend it other code: other bytes are another module.
let held = [];
function holdModule() {
  let open;
  try {
    if (typeof WebAssembly !== "object" || !globalThis.indexedDB) return;
    open = indexedDB.open("lockstep");
  } catch {
    return; // storage blocked
  }
  open.onupgradeneeded = () => open.transaction.abort(); // the worker has stored nothing: create nothing
  open.onsuccess = () => {
    const db = open.result;
    try {
      const tx = db.transaction("state", "readonly");
      const req = tx.objectStore("state").getAll(IDBKeyRange.bound("wasm:", "wasm:\uffff"));
      req.onsuccess = () => {
        const compiled = req.result.filter((b) => b instanceof ArrayBuffer).map((b) => WebAssembly.compile(b).catch(() => null));
        Promise.all(compiled).then((modules) => { held = modules.filter(Boolean); });
      };
      tx.oncomplete = tx.onabort = tx.onerror = () => db.close();
    } catch {
      db.close();
    }
  };
  open.onerror = () => {};
}

/** True when `controllerchange` fired within `ms`. */
function waitForController(container, ms) {
  return new Promise((resolve) => {
    const done = (v) => { clearTimeout(timer); container.removeEventListener("controllerchange", on); resolve(v); };
    const on = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    container.addEventListener("controllerchange", on);
  });
}

/**
 * A shift-reload bypasses the worker for this page's requests, so the bearer could not be
 * injected. One normal reload fixes that; a sessionStorage counter makes sure it happens at
 * most once until a load is controlled again (no reload loops, e.g. with "Bypass for network").
 */
function guardedReload() {
  try {
    if (Number(sessionStorage.getItem(RELOAD_KEY)) >= 1) return false;
    sessionStorage.setItem(RELOAD_KEY, "1");
  } catch { return false; } // no storage: no guard, so no reload
  location.reload();
  return true;
}

class Session {
  #mode; #timeoutMs; #reg = null; #swPath = null; #channel = null;
  #state; #rawKey = null; #idle = null; #debug = false; #wakeAt = null;
  #subs = new Set(); #warnSubs = new Set(); #warning = null;
  #warnTimer = 0; #tickTimer = 0; #lastTick = -Infinity; #lastActivity = -Infinity;
  #pendingGet = null; #toldUrl = null; #fallbackAnswered = null;
  #leavingTo = null; #leaveTimer = 0; #relisten = false;
  #ports = new ReplyPorts((data) => {
    this.#relisten = false; // the worker sends us news on our port
    this.#onNews(data);
  });

  constructor(mode, timeoutMs) {
    this.#mode = mode;
    this.#timeoutMs = timeoutMs;
    this.#state = Object.freeze({ status: "logged-out", user: null, expiresAt: null, idleDeadline: null, epoch: 0, reason: null, mode });
  }

  get state() { return this.#state; }

  subscribe(fn) {
    this.#subs.add(fn);
    return () => { this.#subs.delete(fn); };
  }

  onIdleWarning(fn) {
    this.#warnSubs.add(fn);
    if (this.#warning != null) fn({ deadline: this.#warning });
    return () => { this.#warnSubs.delete(fn); };
  }

  /** Sends `activity` now, unthrottled (e.g. from the "stay logged in" button of a warning). */
  async stayActive() {
    if (this.#mode !== "worker") return;
    this.#lastActivity = Date.now();
    await this.#ask({ v: V, type: "activity" });
  }

  async logout() {
    if (this.#mode === "worker") return void (await this.#ask({ v: V, type: "logout" }));
    this.#fallbackSet("logged-out", null, this.#nextFallbackEpoch(), true);
  }

  reportLogin(user = null) {
    if (this.#mode === "worker") throw new LockstepError("unsupported", "reportLogin is only for broadcast-only mode: the worker sees logins itself");
    this.#fallbackSet("logged-in", user, this.#nextFallbackEpoch(), true);
  }

  // ---- worker mode ----

  static async worker(reg, container, swUrl, timeoutMs) {
    const s = new Session("worker", timeoutMs);
    s.#reg = reg;
    s.#swPath = new URL(swUrl, location.href).pathname;
    container.addEventListener("message", (e) => s.#onWorkerMessage(e));
    container.startMessages(); // addEventListener alone leaves messages queued until DOMContentLoaded
    if (!container.controller) await waitForActive(reg);
    await s.#helloWithRetry();
    if (!container.controller) {
      // An activating worker is about to claim us; an activated one will not (hard reload),
      // unless the worker claims on hello: give that a short chance before reloading.
      const grace = reg.active?.state === "activated" ? 300 : INSTALL_TIMEOUT_MS;
      if (!(await waitForController(container, grace))) {
        if (guardedReload()) return new Promise(() => {}); // the page is going away
        console.warn("[lockstep] page not controlled by the worker (hard reload?): API requests go out without a bearer until the next load");
      }
    }
    if (container.controller) try { sessionStorage.removeItem(RELOAD_KEY); } catch {}
    // A new worker version took over: it has its own view of this tab, so greet it again.
    container.addEventListener("controllerchange", () => {
      s.#hello().catch((e) => s.#log("hello failed", e));
      later(holdModule);
    });
    s.#watch();
    later(holdModule);
    return s;
  }

  #target() { return navigator.serviceWorker.controller ?? this.#reg?.active ?? null; }

  async #ask(msg, { leaveAtOnce = false } = {}) {
    const reply = await request(this.#target(), msg, this.#timeoutMs, this.#ports);
    this.#apply(reply, leaveAtOnce);
    return reply;
  }

  /** A page that starts on a URL it must leave leaves at once: no flash of the app. */
  #hello() {
    this.#toldUrl = location.href;
    return this.#ask({ v: V, type: "hello", url: this.#toldUrl }, { leaveAtOnce: true });
  }

  /** A freshly restarted worker may still be loading its wasm and say `not-ready`. */
  async #helloWithRetry() {
    for (let i = 0; ; i++) {
      try { return await this.#hello(); } catch (e) {
        if (e?.code !== "not-ready" || i >= 4) throw e;
        await sleep(250);
      }
    }
  }

  /** Only messages from our own ServiceWorker are authoritative; another tab cannot forge them. */
  #onWorkerMessage(e) {
    const src = e.source;
    if (typeof ServiceWorker === "undefined" || !(src instanceof ServiceWorker)) return;
    if (new URL(src.scriptURL).pathname !== this.#swPath) return;
    this.#onNews(e.data);
    // The worker had no reply port of ours (it was restarted, or has not read our hello yet):
    // give it one when the page is idle, so that the next news comes the fast way. Once, until
    // news comes on a port again (a worker that never does would cost a request per message).
    if (!this.#relisten) {
      this.#relisten = true;
      later(() => this.#refresh());
    }
  }

  /** A message from the worker, on a reply port of ours or from `navigator.serviceWorker`. */
  #onNews(data) {
    const m = decodeWorkerMessage(data);
    if (m?.type === "state") this.#apply(m);
    else this.#log("ignored worker message", data);
  }

  /**
   * Asks for the state, saying where the tab is: the worker knows only the URL the page was
   * loaded at (a `Client`'s URL does not follow `pushState`), and a tab must leave from, and
   * come back to, the URL it is at. A `hello`: an older worker takes it too.
   */
  #refresh() {
    const url = location.href;
    if (this.#pendingGet?.url === url) return this.#pendingGet.done;
    this.#toldUrl = url;
    const done = this.#ask({ v: V, type: "hello", url })
      .catch((e) => this.#log("refresh failed", e))
      .finally(() => { if (this.#pendingGet?.done === done) this.#pendingGet = null; });
    this.#pendingGet = { url, done };
    return done;
  }

  #apply(m, leaveAtOnce = false) {
    const s = m.state;
    if (s.epoch < this.#state.epoch) return this.#log("ignored state of older epoch", s.epoch);
    this.#debug = m.debug;
    this.#idle = m.idle;
    // The worker's next deadline, on our clock: a timer here wakes it (it holds none itself).
    this.#wakeAt = toLocalTime(m.wakeAt, m.now, Date.now());
    // Compare in worker time: converting to local time adds jitter on every message.
    const key = JSON.stringify(s);
    const changed = key !== this.#rawKey;
    this.#rawKey = key;
    if (changed) {
      const now = Date.now();
      this.#state = Object.freeze({
        ...s, expiresAt: toLocalTime(s.expiresAt, m.now, now),
        idleDeadline: toLocalTime(s.idleDeadline, m.now, now), mode: "worker",
      });
      this.#log("state", this.#state);
    }
    let go = m.navigate;
    if (go != null && !isSameOrigin(go, location.href)) {
      console.warn("[lockstep] refused cross-origin navigate", go);
      go = null;
    }
    // Subscribers run first and synchronously, so apps can close sockets before leaving: on a
    // change, and before a new navigation. The same news twice (a reply and a broadcast) once.
    if (changed || (go != null && go !== this.#leavingTo)) this.#notify();
    this.#arm();
    // News that reached every tab: the page leaves a moment later. Loading a page is heavy,
    // and 20 tabs starting to load at once delayed the delivery of the news to the tabs still
    // waiting for it (on 2 cores, "seen by all 20 tabs" fell from p50 73 ms to 25 ms with the
    // pause). The worker already blocks this session's API requests, so nothing leaks in
    // between. A page just starting leaves at once.
    // The latest word wins, and the same word twice (a reply and a broadcast) leaves once: a
    // later message may correct the target (the worker's first news to a tab can carry the
    // URL the tab had before a `pushState`) or say to stay (a login right after a logout).
    if (go !== this.#leavingTo) {
      clearTimeout(this.#leaveTimer);
      this.#leavingTo = go;
      if (go != null && leaveAtOnce) location.replace(go);
      else if (go != null) this.#leaveTimer = setTimeout(() => location.replace(go), NAVIGATE_PAUSE_MS);
    }
  }

  /** Re-arms the idle-warning timer and the `wakeAt` timer from the last state and Date.now(). */
  #arm() {
    clearTimeout(this.#warnTimer);
    clearTimeout(this.#tickTimer);
    const now = Date.now();
    // The worker decides what a passed deadline means (idle end, refresh, logout retry, also
    // while logged out); the tab only says "your deadline passed". At most one tick a second,
    // in case the worker's answer keeps a deadline in the past.
    if (this.#wakeAt != null) {
      this.#tickTimer = setTimeout(() => {
        this.#lastTick = Date.now();
        this.#ask({ v: V, type: "tick" }).catch((e) => this.#log("tick failed", e));
      }, clampDelay(Math.max(this.#wakeAt - now, this.#lastTick + 1000 - now)));
    }
    const { status, idleDeadline: d } = this.#state;
    if (status !== "logged-in") return this.#setWarning(null);
    const warnAt = this.#idle && d != null ? d - this.#idle.warningMs : Infinity;
    this.#setWarning(now >= warnAt ? d : null);
    if (now < warnAt && warnAt !== Infinity) this.#warnTimer = setTimeout(() => this.#arm(), clampDelay(warnAt - now));
  }

  #setWarning(deadline) {
    if (deadline === this.#warning) return;
    this.#warning = deadline;
    const arg = deadline == null ? null : { deadline };
    for (const fn of [...this.#warnSubs]) this.#safely(fn, arg);
  }

  #notify() { for (const fn of [...this.#subs]) this.#safely(fn, this.#state); }

  /** One throwing subscriber must not keep the others, or the navigation, from running. */
  #safely(fn, arg) { try { fn(arg); } catch (e) { console.error(e); } }

  /** Automatic reports: logged in only, throttled, except while a warning shows. */
  #reportActivity() {
    if (this.#mode !== "worker" || this.#state.status !== "logged-in") return;
    const now = Date.now();
    if (this.#warning == null && now - this.#lastActivity < activityThrottleMs(this.#idle?.timeoutMs)) return;
    this.#lastActivity = now;
    this.#ask({ v: V, type: "activity" }).catch((e) => this.#log("activity failed", e));
  }

  /**
   * Worker mode listens for input and for the tab being seen again. Not on the channel: the
   * worker's own message reaches every tab, and anything on the channel may be forged. A
   * channel listener in each tab only cost one more wake-up per tab per broadcast, which on
   * 2 cores slowed the news to the last of 20 tabs (bench/results, PROTOCOL.md).
   */
  #watch() {
    const onInput = () => this.#reportActivity();
    for (const t of ACTIVITY_EVENTS) addEventListener(t, onInput, { capture: true, passive: true });
    // Background tabs' timers are throttled: re-check deadlines when the tab is seen again.
    // Asking the worker also makes it re-read the cross-site cookie: the way to notice a
    // logout in a sibling app where the browser has no cookie-change events.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible") return;
      this.#arm();
      this.#refresh();
      this.#reportActivity();
    });
    addEventListener("focus", () => this.#refresh());
    // A move within the page (pushState, a fragment): tell the worker the new URL.
    // Only when the URL changed: routers also `replaceState` the same URL (scroll positions).
    const moved = () => { if (location.href !== this.#toldUrl) this.#refresh(); };
    if (globalThis.navigation?.addEventListener) navigation.addEventListener("currententrychange", moved);
    else for (const t of ["popstate", "hashchange"]) addEventListener(t, moved);
    // Also a page restored from the back/forward cache, which missed every message between.
    addEventListener("pageshow", () => this.#refresh());
  }

  #log(...args) { if (this.#debug) console.debug("[lockstep]", ...args); }

  // ---- broadcast-only fallback (no service worker): tabs trust each other; keep it small ----

  static async fallback(timeoutMs) {
    const s = new Session("broadcast-only", timeoutMs);
    if (typeof BroadcastChannel !== "function") return s;
    s.#channel = new BroadcastChannel(CHANNEL);
    s.#channel.onmessage = (e) => s.#onFallbackMessage(e.data);
    // Start logged-out unless another tab answers quickly.
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 100);
      s.#fallbackAnswered = () => { clearTimeout(timer); resolve(); };
      s.#channel.postMessage({ v: V, type: "fallback-hello" });
    });
    s.#fallbackAnswered = null;
    return s;
  }

  /** Wall-clock based, so a tab that missed the hello answers still outranks older news. */
  #nextFallbackEpoch() { return Math.max(this.#state.epoch + 1, Date.now()); }

  #fallbackSet(status, user, epoch, post) {
    this.#state = Object.freeze({
      status, user: status === "logged-in" ? user : null, expiresAt: null, idleDeadline: null,
      epoch, reason: status === "logged-out" ? "logout" : null, mode: "broadcast-only",
    });
    if (post) this.#channel?.postMessage({ v: V, type: "fallback-state", status, epoch, user: this.#state.user });
    this.#notify();
  }

  #onFallbackMessage(data) {
    const m = decodeFallbackMessage(data);
    const cur = this.#state;
    if (!m) return;
    if (m.type === "fallback-hello") {
      if (cur.epoch > 0) this.#channel.postMessage({ v: V, type: "fallback-state", status: cur.status, epoch: cur.epoch, user: cur.user });
      return;
    }
    // Newer epoch wins; on a tie, logged-out wins (the safer side).
    const tieOut = m.epoch === cur.epoch && m.status === "logged-out" && cur.status === "logged-in";
    if (m.epoch > cur.epoch || tieOut) this.#fallbackSet(m.status, m.user, m.epoch, false);
    this.#fallbackAnswered?.();
  }
}

let started = null;

/** Entry point. `start` is idempotent per page: later calls return the first call's promise. */
export class Lockstep {
  static start(options) {
    if (started) return started;
    const p = (started = startSession(options ?? {}));
    p.catch(() => { if (started === p) started = null; }); // a failed start may be retried
    return p;
  }
}

async function startSession({ sw, config, scope, timeoutMs = 3000 }) {
  if (!str(sw) || !str(config)) throw new LockstepError("bad-config", "Lockstep.start needs { sw, config } URLs");
  // Both on this page's origin: the browser refuses another origin's worker (a SecurityError,
  // which would read as a private mode), and the worker another origin's config.
  for (const [name, u] of [["sw", sw], ["config", config]]) {
    if (!isSameOrigin(u, location.href)) throw new LockstepError("bad-config", `Lockstep.start: ${name} ${u} is not on this page's origin`);
  }
  let container = null;
  try {
    if ("serviceWorker" in navigator) container = navigator.serviceWorker; // Firefox may throw here
  } catch {}
  if (!container) return Session.fallback(timeoutMs);
  // The bootstrap loads the wasm glue from the directory this module was served from.
  const dir = new URL(".", import.meta.url).pathname;
  const url = `${sw}${sw.includes("?") ? "&" : "?"}config=${encodeURIComponent(config)}&base=${encodeURIComponent(dir)}`;
  let reg;
  try {
    reg = await container.register(url, { scope, updateViaCache: "none" });
  } catch (e) {
    if (e?.name === "SecurityError") return Session.fallback(timeoutMs); // private modes
    throw new LockstepError("not-ready", `service worker registration failed: ${e?.message ?? e}`, { cause: e });
  }
  if (!location.href.startsWith(reg.scope)) {
    throw new LockstepError("bad-config", `this page (${location.href}) is outside the worker's scope ${reg.scope}`);
  }
  return Session.worker(reg, container, sw, timeoutMs);
}
