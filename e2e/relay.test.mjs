// Relay: the session reaches every tab. Five tabs of the demo (app1 and app2) in real
// Chromium over mkcert HTTPS: a login in one tab is seen by every subscriber, a logout in
// another sends every tab to /login with its own return URL, a tab opened afterwards starts
// logged out, the worker is stopped (CDP) between every step without losing the state, a new
// worker version deployed mid-session keeps it, a hard reload keeps working, and forged or
// malformed messages change nothing in any tab. Requests are counted at the demo server.

import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT, cdp, launchBrowser, recordConsole, startDemo, waitControlled, waitFor, closeContext } from "./harness.mjs";

let demo;
let browser;
let dist; // a private copy of dist/, so a test can deploy a new worker version

before(async () => {
  dist = mkdtempSync(path.join(tmpdir(), "lockstep-relay-dist-"));
  cpSync(path.join(ROOT, "dist"), dist, { recursive: true });
  demo = await startDemo({ testHooks: true, args: ["--dist", dist] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

/** The demo's default config (docs/DEMO-SERVER.md) with `over` merged in. */
const config = (over = {}) => ({
  loginUrl: "/login",
  returnParam: "returnTo",
  apis: [{ origin: "{{API_ORIGIN}}", pathPrefix: "/v1/" }],
  tokenEndpoints: [
    { url: "/api/login", format: "json", accessToken: "access_token", refreshToken: "refresh_token",
      expiresIn: "expires_in", user: "user" },
    { url: "/oauth/token", format: "oauth2" },
  ],
  refresh: { url: "/oauth/token", format: "oauth2", clientId: "spa", beforeExpirySeconds: 60 },
  logout: { url: "/api/logout", method: "POST" },
  idle: { timeoutSeconds: 900, warningSeconds: 60 },
  ...over,
});

/**
 * Runs in every document before its scripts: records every state the page's subscriber sees
 * in sessionStorage (it survives the tab's own navigations), with a cross-tab timestamp and
 * the URL it was seen at, and counts controller changes.
 */
function recordStates() {
  const KEY = "relay:states";
  const push = (s, kind) => {
    const list = JSON.parse(sessionStorage.getItem(KEY) ?? "[]");
    list.push({ kind, status: s.status, epoch: s.epoch, reason: s.reason, user: s.user?.name ?? null, href: location.href });
    sessionStorage.setItem(KEY, JSON.stringify(list));
  };
  let demo;
  Object.defineProperty(window, "demo", {
    configurable: true,
    get: () => demo,
    set(v) {
      demo = v;
      if (!v?.session) return;
      push(v.session.state, "start");
      v.session.subscribe((s) => push(s, "sub"));
    },
  });
  const loads = JSON.parse(sessionStorage.getItem("relay:loads") ?? "[]");
  loads.push(!!navigator.serviceWorker?.controller); // was this document load controlled?
  sessionStorage.setItem("relay:loads", JSON.stringify(loads));
  window.__controllerChanges = 0;
  navigator.serviceWorker?.addEventListener("controllerchange", () => { window.__controllerChanges++; });
}

/** A fresh context (its own worker registration) with the recorder installed. */
async function newContext() {
  const context = await browser.newContext();
  await context.addInitScript(recordStates);
  return context;
}

/** Opens a tab on `url` and waits until it is controlled and its client has started. */
async function openTab(context, url) {
  const page = await context.newPage();
  page.logs = recordConsole(page);
  await page.goto(url);
  await ready(page);
  return page;
}

/** Waits until the page is controlled and `window.demo.session` exists. */
async function ready(page) {
  await waitControlled(page);
  await page.waitForFunction(() => window.demo?.session?.state, null, { polling: 20, timeout: 15_000 });
}

/** Opens the five relay tabs: three of app1, two of app2, each with its own URL. */
async function openFive(context) {
  const urls = [
    `${demo.appOrigin}/app1/?tab=0`,
    `${demo.appOrigin}/app1/orders/7?tab=1`,
    `${demo.appOrigin}/app2/?tab=2`,
    `${demo.appOrigin}/app2/settings?tab=3#pane`,
    `${demo.appOrigin}/app1/?tab=4`,
  ];
  // The first tab installs the worker; the others open once it controls.
  const first = await openTab(context, urls[0]);
  const rest = await Promise.all(urls.slice(1).map((u) => openTab(context, u)));
  return { tabs: [first, ...rest], urls };
}

/** Opens the five relay tabs and logs in from the first: every tab logged in at `epoch`. */
async function fiveLoggedIn(context) {
  const five = await openFive(context);
  assert.equal((await loginFrom(five.tabs[0])).status, 200);
  const [{ epoch }] = await everyTab(five.tabs, (s) => s.status === "logged-in", "every tab logged in");
  return { ...five, epoch };
}

const stateOf = (page) => page.evaluate(() => {
  const s = window.demo?.session?.state;
  return s ? { status: s.status, epoch: s.epoch, reason: s.reason, user: s.user?.name ?? null, href: location.href } : null;
});
const recorded = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem("relay:states") ?? "[]"));

/** Waits until every tab's session shows `want` (a predicate over stateOf). */
async function everyTab(tabs, want, message) {
  return waitFor(async () => {
    const states = await Promise.all(tabs.map(stateOf));
    return states.every((s) => s && want(s)) && states;
  }, { message, timeout: 15_000 }).catch(async (err) => {
    const now = await Promise.all(tabs.map((t) => stateOf(t).catch((e) => String(e))));
    err.message += `\nstates: ${JSON.stringify(now, null, 1)}\n${tabs.map((t) => t.logs?.()).join("\n")}`;
    throw err;
  });
}

/** The worker's own view, answered by the wasm (starts a stopped worker). */
const workerState = (page) => page.evaluate(async () => (await (await fetch("/__lockstep/state", { cache: "no-store" })).json()).state);

/** Stops every worker of the browser and waits until DevTools reports them stopped. */
async function stopWorker(sw) {
  await sw.stopAllWorkers();
  await sw.waitForStatus("stopped");
}

/** Logs in from `page` with the demo's JSON login endpoint; returns the body the page got. */
const loginFrom = (page) => page.evaluate(async () => {
  const res = await fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "ada", password: "lovelace" }) });
  return { status: res.status, body: await res.text() };
});

/** GET /v1/me on the API origin from `page`, with no Authorization header of its own. */
const callApi = (page) => page.evaluate(async (api) => {
  const res = await fetch(`${api}/v1/me`);
  return { status: res.status, blocked: res.headers.get("lockstep-blocked") };
}, demo.apiOrigin);
/** API requests for /v1/me that reached the demo server. */
const apiSeen = async () => (await demo.counters()).requests[`${demo.ports.api} GET /v1/me`] ?? 0;

const returnToOf = (href) => new URL(href).searchParams.get("returnTo");
const pathOf = (href) => { const u = new URL(href); return u.pathname + u.search; };
/** Path, query and fragment: a hash-routed app's route is in the fragment (tab 3's `#pane`). */
const routeOf = (href) => { const u = new URL(href); return u.pathname + u.search + u.hash; };

test("login, logout and a late tab reach all five tabs; the state survives a stopped worker at every step", async () => {
  await demo.reset();
  await demo.setConfig(config({ tokenStorage: "indexeddb" }));
  const context = await newContext();
  try {
    const { tabs, urls } = await openFive(context);
    const sw = await cdp(tabs[0]);
    await sw.enable();
    await everyTab(tabs, (s) => s.status === "logged-out", "every tab starts logged out");
    await stopWorker(sw);

    // Login in tab 0: the page never sees the tokens; every tab's subscriber sees logged-in.
    const login = await loginFrom(tabs[0]);
    assert.equal(login.status, 200, login.body);
    assert.doesNotMatch(login.body, /at_|rt_/, "tokens are taken out of the login response");
    const [{ epoch: e1 }] = await everyTab(tabs, (s) => s.status === "logged-in" && s.user === "ada", "every tab logged in");
    for (const s of await Promise.all(tabs.map(stateOf))) assert.equal(s.epoch, e1);
    for (const t of tabs) {
      const subs = (await recorded(t)).filter((r) => r.kind === "sub");
      assert.deepEqual(subs.at(-1), { kind: "sub", status: "logged-in", epoch: e1, reason: null, user: "ada", href: (await stateOf(t)).href });
    }

    // Stopped: the restarted worker still knows the session, and the bearer still goes out.
    await stopWorker(sw);
    assert.deepEqual(await workerState(tabs[2]).then((s) => [s.status, s.epoch]), ["logged-in", e1]);
    assert.equal((await callApi(tabs[1])).status, 200);
    await stopWorker(sw);

    // Logout in tab 3: every subscriber sees logged-out, then every tab is on /login with its
    // own return URL. The logout endpoint is called once.
    await tabs[3].evaluate(() => window.demo.session.logout());
    await everyTab(tabs, (s) => s.status === "logged-out" && new URL(s.href).pathname === "/login", "every tab on /login");
    const states = await Promise.all(tabs.map(stateOf));
    const e2 = states[0].epoch;
    assert.ok(e2 > e1);
    states.forEach((s, i) => {
      assert.equal(s.epoch, e2);
      assert.equal(s.reason, "logout");
      assert.equal(returnToOf(s.href), routeOf(urls[i]), `tab ${i} carries its own return URL, fragment included`);
    });
    for (const [i, t] of tabs.entries()) {
      // The subscriber ran on the app page (before the navigation), not only on /login.
      const seen = (await recorded(t)).filter((r) => r.status === "logged-out" && r.epoch === e2);
      assert.ok(seen.some((r) => r.kind === "sub" && pathOf(r.href) === pathOf(urls[i])), `tab ${i}: ${JSON.stringify(seen)}`);
    }
    await waitFor(async () => (await demo.counters()).logout === 1, { message: "one logout call" });
    // The app's own logout call, late (a tab's button pressed as the news came): answered
    // locally. The end of session had its one logout call.
    assert.deepEqual(await tabs[0].evaluate(async () => {
      const r = await fetch("/api/logout", { method: "POST" });
      return { status: r.status, blocked: r.headers.get("lockstep-blocked") };
    }), { status: 401, blocked: "1" });
    assert.equal((await demo.counters()).logout, 1, "still one logout call");
    await stopWorker(sw);

    // A tab opened after the logout starts logged out (and is sent to /login too).
    const late = await openTab(context, `${demo.appOrigin}/app2/late`);
    await everyTab([late], (s) => s.status === "logged-out" && s.epoch === e2 && new URL(s.href).pathname === "/login", "late tab logged out");
    const first = (await recorded(late))[0];
    assert.equal(first.status, "logged-out", "the late tab's first state");
    assert.equal(first.epoch, e2);
    assert.equal(returnToOf((await stateOf(late)).href), "/app2/late");
    const all = [...tabs, late];
    await stopWorker(sw);

    // The worker restarted with the logged-out state: the API stays blocked, locally.
    const apiBefore = await apiSeen();
    assert.deepEqual(await workerState(tabs[4]).then((s) => [s.status, s.epoch]), ["logged-out", e2]);
    await stopWorker(sw);
    assert.deepEqual(await callApi(tabs[0]), { status: 401, blocked: "1" });
    assert.equal(await apiSeen(), apiBefore, "no API request left the browser");
    await stopWorker(sw);

    // Login through the login form of tab 1: every tab goes back to its own URL.
    await tabs[1].fill("#username", "ada");
    await tabs[1].fill("#password", "lovelace");
    await tabs[1].click("#login-submit");
    await everyTab(all, (s) => s.status === "logged-in" && new URL(s.href).pathname !== "/login", "every tab back at its URL");
    const back = await Promise.all(all.map(stateOf));
    const e3 = back[0].epoch;
    assert.ok(e3 > e2);
    back.forEach((s, i) => {
      assert.equal(s.epoch, e3);
      assert.equal(routeOf(s.href), i < urls.length ? routeOf(urls[i]) : "/app2/late");
    });
    await stopWorker(sw);
    for (const t of all) await ready(t);
    assert.deepEqual(await workerState(tabs[0]).then((s) => [s.status, s.epoch]), ["logged-in", e3]);
    assert.equal((await callApi(tabs[3])).status, 200);
    const c = await demo.counters();
    assert.equal(c.login, 2);
    assert.equal(c.logout, 1);
    await sw.detach();
  } finally {
    await closeContext(context);
  }
});

test("a tab whose URL changed by pushState leaves for the login page with that URL, and comes back to it", async () => {
  await demo.reset();
  await demo.setConfig(config());
  const context = await newContext();
  try {
    const { tabs } = await fiveLoggedIn(context);
    // A client-side route change. The browser's `Client.url` stays the URL the page was
    // loaded at (Chromium 156, as the spec says): the client tells the worker where it is.
    // Its messages arrive in order, so once a later request is answered the worker knows.
    const moved = "/app1/orders/8?view=full";
    await tabs[1].evaluate((to) => history.pushState(null, "", to), moved);
    await tabs[1].evaluate(() => window.demo.session.stayActive());
    const loads = () => tabs[1].evaluate(() => JSON.parse(sessionStorage.getItem("relay:loads")).length);
    const loadsBefore = await loads();
    await tabs[3].evaluate(() => window.demo.session.logout());
    await everyTab(tabs, (s) => s.status === "logged-out" && new URL(s.href).pathname === "/login", "every tab on /login");
    assert.equal(returnToOf((await stateOf(tabs[1])).href), moved);
    assert.equal(await loads(), loadsBefore + 1, "one page load: the login page");
    // Back after a login in another tab: to the URL the tab had, not the one it was opened on.
    assert.equal((await loginFrom(tabs[4])).status, 200);
    await everyTab(tabs, (s) => s.status === "logged-in" && new URL(s.href).pathname !== "/login", "every tab back");
    assert.equal(pathOf((await stateOf(tabs[1])).href), moved);
  } finally {
    await closeContext(context);
  }
});

test("news keeps reaching tabs that stay on their page: through worker restarts, and while a tab's requests cross", async () => {
  // Every activity moves the shared idle deadline and is news to every tab, with no page
  // leaving: the same documents must keep hearing, whichever way the worker reaches them (a
  // restarted worker has none of the tabs' reply ports; see ReplyPorts in the client).
  await demo.reset();
  await demo.setConfig(config({ tokenStorage: "indexeddb" }));
  const context = await newContext();
  await context.addInitScript(() => {
    window.__viaClient = 0; // state messages from client.postMessage rather than a reply port
    navigator.serviceWorker?.addEventListener("message", () => { window.__viaClient++; });
    window.__sent = []; // the types of the requests this page sent the worker
    const post = ServiceWorker.prototype.postMessage;
    ServiceWorker.prototype.postMessage = function (msg, ...rest) {
      window.__sent.push(msg?.type);
      return post.call(this, msg, ...rest);
    };
  });
  try {
    const tabs = [];
    for (const u of ["/app1/?n=0", "/app1/orders/1?n=1", "/app2/?n=2"]) tabs.push(await openTab(context, demo.appOrigin + u));
    const sw = await cdp(tabs[0]);
    await sw.enable();
    assert.equal((await loginFrom(tabs[0])).status, 200);
    await everyTab(tabs, (s) => s.status === "logged-in", "every tab logged in");
    const loads = await Promise.all(tabs.map((t) => t.evaluate(() => performance.timeOrigin)));
    const deadline = (t) => t.evaluate(() => window.demo.session.state.idleDeadline);
    const viaClient = (t) => t.evaluate(() => window.__viaClient);
    const sent = (t) => t.evaluate(() => window.__sent);

    // `from` reports activity (`times` requests at once); every tab must show its new deadline.
    const round = async (from, times = 1) => {
      const before = await Promise.all(tabs.map(deadline));
      await tabs[from].evaluate((n) => Promise.all(Array.from({ length: n }, () => window.demo.session.stayActive())), times);
      const want = await deadline(tabs[from]);
      assert.notEqual(want, before[from], "the deadline moved");
      await waitFor(async () => (await Promise.all(tabs.map(deadline))).every((d, i) => d !== before[i] && Math.abs(d - want) < 250), {
        message: `every tab shows the deadline set by activity in tab ${from}`, timeout: 5000,
      });
    };
    await stopWorker(sw);
    // The restarted worker has no port of tabs 1 and 2: they hear from client.postMessage,
    // and each gives it a port (a hello when idle).
    const asked = await Promise.all([1, 2].map((i) => sent(tabs[i]).then((l) => l.length)));
    await round(0);
    for (const i of [1, 2]) assert.ok((await viaClient(tabs[i])) >= 1, `tab ${i} heard from client.postMessage`);
    await waitFor(async () => (await Promise.all([1, 2].map((i) => sent(tabs[i])))).every((l, k) => l.slice(asked[k]).includes("hello")),
      { message: "tabs 1 and 2 give the restarted worker a port" });
    await round(1, 6); // six requests cross: tab 1 keeps open the newest port the worker holds
    await round(2);
    // Now news reaches tabs 1 and 2 on their ports, with no request of theirs: a tab that had
    // to ask (the BroadcastChannel hint's get-state) would have missed the worker's message.
    const quiet = await Promise.all([1, 2].map(async (i) => [await viaClient(tabs[i]), (await sent(tabs[i])).length]));
    await round(0);
    await round(0);
    assert.deepEqual(await Promise.all([1, 2].map(async (i) => [await viaClient(tabs[i]), (await sent(tabs[i])).length])), quiet,
      "tabs 1 and 2 heard on their reply ports and asked nothing");
    await stopWorker(sw);
    await round(1);
    await round(0);
    await round(1, 3);
    assert.deepEqual(await Promise.all(tabs.map((t) => t.evaluate(() => performance.timeOrigin))), loads, "no tab reloaded");
    for (const t of tabs) assert.doesNotMatch(t.logs(), /error/i);
    await sw.detach();
  } finally {
    await closeContext(context);
  }
});

test("tokenStorage memory: a stopped worker refreshes through the cookie, or ends the session the coordinated way", async () => {
  await demo.reset();
  await demo.setConfig(config({ tokenStorage: "memory" }));
  const context = await newContext();
  try {
    const { tabs } = await openFive(context);
    const sw = await cdp(tabs[0]);
    await sw.enable();
    assert.equal((await loginFrom(tabs[0])).status, 200);
    const [{ epoch: e1 }] = await everyTab(tabs, (s) => s.status === "logged-in", "every tab logged in");

    // Stopped: the restarted worker has no tokens; one refresh through the HttpOnly refresh
    // cookie brings them back, and the waiting request goes out with the new bearer.
    await stopWorker(sw);
    assert.equal((await callApi(tabs[2])).status, 200);
    let c = await demo.counters();
    assert.equal(c.refresh, 1, "one refresh");
    assert.equal(c.refreshByCookie, 1, "through the cookie");
    await everyTab(tabs, (s) => s.status === "logged-in" && s.epoch === e1, "same session in every tab");

    // When that refresh is refused, the session ends once, for everyone: never half logged in.
    await demo.settings({ refreshStatus: 400 });
    await stopWorker(sw);
    const before = await apiSeen();
    // The tab may be on its way to /login before the blocked 401 reaches the script.
    const api = await callApi(tabs[3]).catch((e) => ({ navigatedAway: /destroyed|navigat/i.test(e.message) || e.message }));
    assert.ok(api.status === 401 || api.navigatedAway === true, JSON.stringify(api));
    assert.equal(await apiSeen(), before, "no API call went out half logged in");
    await everyTab(tabs, (s) => s.status === "logged-out" && s.epoch > e1 && new URL(s.href).pathname === "/login",
      "every tab logged out on /login");
    const states = await Promise.all(tabs.map(stateOf));
    assert.equal(new Set(states.map((s) => s.epoch)).size, 1, "one epoch in every tab");
    assert.deepEqual([...new Set(states.map((s) => s.reason))], ["refresh-failed"]);
    c = await demo.counters();
    assert.equal(c.refresh, 2);
    await waitFor(async () => (await demo.counters()).logout === 1, { message: "one logout call" });
    await sw.detach();
  } finally {
    await closeContext(context);
  }
});

test("a new worker version deployed mid-session keeps the session (tokenStorage memory) in every tab", async () => {
  await demo.reset();
  await demo.setConfig(config({ tokenStorage: "memory" }));
  const context = await newContext();
  try {
    const { tabs } = await openFive(context);
    assert.equal((await loginFrom(tabs[2])).status, 200);
    const [{ epoch: e1 }] = await everyTab(tabs, (s) => s.status === "logged-in", "every tab logged in");
    assert.equal((await callApi(tabs[0])).status, 200);

    // Deploy: the server now serves a changed lockstep-sw.js; a page asks for an update.
    appendFileSync(path.join(dist, "lockstep-sw.js"), `\n// relay test deploy ${Date.now()}\n`);
    await tabs[1].evaluate(async () => { await (await navigator.serviceWorker.getRegistration()).update(); });
    await waitFor(async () => (await Promise.all(tabs.map((t) => t.evaluate(() => window.__controllerChanges)))).every((n) => n >= 1),
      { message: "every tab controlled by the new version", timeout: 20_000 });
    for (const t of tabs) await ready(t);

    // Same session, same epoch, in the new worker and in every tab; its bearer works.
    assert.deepEqual(await workerState(tabs[4]).then((s) => [s.status, s.epoch]), ["logged-in", e1]);
    await everyTab(tabs, (s) => s.status === "logged-in" && s.epoch === e1, "every tab still logged in");
    const api = await callApi(tabs[3]);
    assert.equal(api.status, 200, `API through the new worker: ${JSON.stringify(api)}`);
    const c = await demo.counters();
    assert.equal(c.logout, 0);
    assert.equal(c.refresh, 0, "no refresh needed: the tokens were handed over");

    // The new version relays too.
    await tabs[0].evaluate(() => window.demo.session.logout());
    await everyTab(tabs, (s) => s.status === "logged-out" && s.epoch > e1 && new URL(s.href).pathname === "/login", "every tab on /login");
  } finally {
    await closeContext(context);
  }
});

test("a hard reload (cache and worker bypassed) ends up controlled and logged in", async () => {
  await demo.reset();
  await demo.setConfig(config());
  const context = await newContext();
  try {
    const { tabs, epoch } = await fiveLoggedIn(context);
    const page = tabs[1];
    const session = await page.context().newCDPSession(page);
    await session.send("Page.reload", { ignoreCache: true });
    await waitFor(() => page.evaluate(() => document.readyState === "complete" && !!window.demo?.session), { message: "reloaded" });
    await ready(page); // the client's one guarded reload brings the worker back
    const loads = await page.evaluate(() => JSON.parse(sessionStorage.getItem("relay:loads")));
    assert.deepEqual(loads.slice(-2), [false, true], "the hard reload was uncontrolled; one normal reload fixed it");
    assert.deepEqual(await stateOf(page).then((s) => [s.status, s.epoch]), ["logged-in", epoch]);
    assert.equal((await callApi(page)).status, 200);
    await everyTab(tabs, (s) => s.status === "logged-in" && s.epoch === epoch, "others unchanged");
    await session.detach();
  } finally {
    await closeContext(context);
  }
});

test("forged, malformed and oversized messages get errors and change nothing in any tab", async () => {
  await demo.reset();
  await demo.setConfig(config());
  const context = await newContext();
  try {
    const { tabs } = await openFive(context);
    assert.equal((await loginFrom(tabs[0])).status, 200);
    const [{ epoch }] = await everyTab(tabs, (s) => s.status === "logged-in", "every tab logged in");
    const before = await Promise.all(tabs.map(recorded));
    // Each tab learns when the forged channel posts have reached it (a channel keeps one
    // sender's order): a sentinel is posted after them.
    await Promise.all(tabs.map((t) => t.evaluate(() => {
      window.__sentinel = new Promise((resolve) => {
        const bc = new BroadcastChannel("lockstep");
        bc.onmessage = (e) => { if (e.data === "relay-sentinel") { bc.close(); resolve(); } };
      });
    })));

    // Each message is posted to the worker from tab 4 with a reply port; the reply is read.
    const replies = await tabs[4].evaluate(async (epoch) => {
      const ask = (msg) => new Promise((resolve) => {
        const { port1, port2 } = new MessageChannel();
        const timer = setTimeout(() => resolve({ timeout: true }), 3000);
        port1.onmessage = (e) => { clearTimeout(timer); resolve(typeof e.data === "string" ? JSON.parse(e.data) : e.data); };
        try {
          navigator.serviceWorker.controller.postMessage(msg, [port2]);
        } catch (err) {
          clearTimeout(timer);
          resolve({ threw: String(err) });
        }
      });
      const circular = { v: 1, type: "logout" };
      circular.self = circular;
      const cases = {
        forgedState: { v: 1, type: "state", now: Date.now(), state: { status: "logged-out", user: null, expiresAt: null, idleDeadline: null, epoch: epoch + 10, reason: "logout" }, navigate: "/login" },
        forgedLogin: { v: 1, type: "login", user: { name: "mallory" } },
        logoutClaim: { v: 1, type: "logout", epoch: epoch + 1 },
        wrongVersion: { v: 2, type: "logout" },
        versionAsString: { v: "1", type: "logout" },
        noVersion: { type: "logout" },
        huge: { v: 1, type: "hello", url: "https://x/" + "a".repeat(2_000_000) },
        hugeString: "x".repeat(1_000_000),
        jsonString: '{"v":1,"type":"state","state":{"status":"logged-out"}}',
        number: 42,
        nul: null,
        array: [1, 2, 3],
        buffer: new ArrayBuffer(64),
        circular,
        bigint: { v: 1, type: "logout", n: 10n },
      };
      const out = {};
      for (const [name, msg] of Object.entries(cases)) out[name] = await ask(msg);
      // Without a reply port: nothing to answer, and nothing happens.
      navigator.serviceWorker.controller.postMessage({ v: 1, type: "state", state: { status: "logged-out" } });
      // Forged channel posts: a logged-out state with a navigate, a newer epoch, junk.
      const bc = new BroadcastChannel("lockstep");
      bc.postMessage({ v: 1, type: "state", now: Date.now(), state: { status: "logged-out", user: null, expiresAt: null, idleDeadline: null, epoch: epoch + 5, reason: "logout" }, idle: null, wakeAt: null, navigate: "/login?returnTo=%2Fevil", debug: true });
      bc.postMessage(JSON.stringify({ v: 1, type: "state", now: Date.now(), state: { status: "logged-out", epoch: epoch + 6 } }));
      bc.postMessage({ v: 1, type: "fallback-state", status: "logged-out", epoch: Number.MAX_SAFE_INTEGER });
      bc.postMessage("x".repeat(1_000_000));
      bc.postMessage("relay-sentinel");
      bc.close();
      return out;
    }, epoch);

    for (const [name, reply] of Object.entries(replies)) {
      assert.equal(reply?.type, "error", `${name}: ${JSON.stringify(reply).slice(0, 200)}`);
      assert.equal(reply.code, "bad-message", name);
    }

    // The worker still answers, and nothing changed anywhere.
    assert.deepEqual(await workerState(tabs[1]).then((s) => [s.status, s.epoch]), ["logged-in", epoch]);
    // Every tab got the forged channel posts (the client does not listen there, but a client
    // that did would have reacted by now: a round trip after the sentinel answers after any
    // get-state such a client sent).
    for (const t of tabs) {
      await t.evaluate(async () => {
        await window.__sentinel;
        await new Promise((resolve) => {
          const { port1, port2 } = new MessageChannel();
          port1.onmessage = resolve;
          navigator.serviceWorker.controller.postMessage({ v: 1, type: "get-state" }, [port2]);
        });
      });
    }
    await everyTab(tabs, (s) => s.status === "logged-in" && s.epoch === epoch && new URL(s.href).pathname !== "/login", "nothing changed");
    const afterwards = await Promise.all(tabs.map(recorded));
    assert.deepEqual(afterwards, before, "no subscriber ran in any tab");
    assert.equal((await callApi(tabs[2])).status, 200, "the session still works");
    assert.equal((await demo.counters()).logout, 0, "no logout call");
  } finally {
    await closeContext(context);
  }
});
