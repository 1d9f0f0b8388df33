// No 401 storms: twenty tabs hammer the API, the server revokes everything, and the first
// 401 ends the session once for everyone; a 401 a refresh can cure is cured; the return
// parameter cannot redirect off-origin; a worker stopped between the 401 and the
// navigation still ends the session once.
//
// How "no request after the first 401" is measured (at the server, without flakiness).
// Each tab runs a *sequential* loop (one request outstanding per tab at any time). Before
// revoking, the test tells the demo to hold every 401 (`hold401`). After `revoke-all`, each
// tab's next request gets a 401 that the server parks; the test waits until exactly one
// request per tab is parked (`parked401` = tabs). At that moment the in-flight set is
// known and complete: every tab waits on its parked request, the worker has seen no 401,
// and nothing else is on the wire. The test then releases ONE parked 401 — the first 401
// — and the server marks that moment before sending it. From then on the demo counts, in
// `apiAfterFirst401`, every `/v1` request that arrives (any token or none, preflights
// excluded). The parked requests arrived before, so they are not counted; every request
// that arrives later was started by the browser after the first 401 was sent, hence after
// (or while) the worker learned of it — and must be 0. The remaining parked 401s are
// released once every tab has gone to the login page (they are the "already in flight"
// requests, answered late on purpose to prove their late 401s change nothing).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cdp, httpsFetch, launchBrowser, recordConsole, startDemo, waitControlled, waitFor, demoConfig, closeContext, workerStateRoute } from "./harness.mjs";

const TABS = 20;

let demo;
let browser;

before(async () => {
  demo = await startDemo({ testHooks: true, quiet: process.env.LOCKSTEP_E2E_VERBOSE !== "1" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const hook = async (method, p) => {
  const res = await httpsFetch(`${demo.appOrigin}${p}`, { method });
  assert.ok(res.status < 300, `${method} ${p}: ${res.status} ${res.body}`);
  return res.body ? res.json() : null;
};

/** The demo config with `over` merged in (one definition, in the harness). */
const config = demoConfig;

/** Each tab's own path: `/app1/storm/0`, `/app2/storm/1`, … */
const pathOf = (i) => `/app${(i % 2) + 1}/storm/${i}`;

/** A fresh context with `n` tabs, each on its own path; all controlled and started. */
async function openStormTabs(n, cfg = config()) {
  await demo.reset();
  await demo.setConfig(cfg);
  const context = await browser.newContext();
  // The first tab installs the worker; the others open once it controls pages.
  const first = await context.newPage();
  await first.goto(`${demo.appOrigin}${pathOf(0)}`);
  await waitControlled(first);
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => context.newPage()));
  await Promise.all(rest.map((p, i) => p.goto(`${demo.appOrigin}${pathOf(i + 1)}`)));
  const pages = [first, ...rest];
  const logs = pages.map((p) => recordConsole(p));
  await Promise.all(pages.map((p) => p.waitForFunction(() => window.demo?.session?.state, null, { polling: 50, timeout: 30_000 })));
  return { context, pages, logs: () => logs.map((l, i) => l() && `tab ${i}:\n${l()}`).filter(Boolean).join("\n") };
}

const state = (page) => page.evaluate(() => window.demo.session.state);
const every = async (pages, fn) =>
  (await Promise.all(pages.map((p, i) => Promise.resolve().then(() => fn(p, i)).catch(() => false)))).every(Boolean);

const jsonLogin = (page) =>
  page.evaluate(async () => {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "ada", password: "lovelace" }),
    });
    return res.status;
  });

/** Logs in through the login page's form, as a user would. */
async function formLogin(page) {
  await page.waitForSelector("#login-submit:not([disabled])");
  await page.fill("#username", "ada");
  await page.fill("#password", "lovelace");
  await page.click("#login-submit");
}

/** Sequential API loop in the page until it navigates away or `__loop.stop`. */
const startLoop = (page) =>
  page.evaluate((api) => {
    const loop = (window.__loop = { stop: false, statuses: {}, ok: 0, errors: 0 });
    (async () => {
      while (!loop.stop) {
        try {
          const res = await fetch(`${api}/v1/items`);
          const key = res.headers.get("lockstep-blocked") ? `${res.status}*` : String(res.status);
          loop.statuses[key] = (loop.statuses[key] ?? 0) + 1;
          if (res.ok) loop.ok++;
        } catch {
          // The worker was stopped under the request: try again (a real app would).
          loop.errors++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
  }, demo.apiOrigin);
const loopOf = (page) => page.evaluate(() => window.__loop);

/** True when `page` is on the login page with its own return URL. */
const onLoginWithOwnReturn = (page, i) => {
  const u = new URL(page.url());
  return u.origin === demo.appOrigin && u.pathname === "/login" && u.searchParams.get("returnTo") === pathOf(i);
};
/** True when `page` is back at its own path and logged in. */
const backLoggedIn = async (page, i) => new URL(page.url()).pathname === pathOf(i) && (await state(page)).status === "logged-in";

async function loggedInLooping(pages) {
  assert.equal(await jsonLogin(pages[0]), 200);
  await waitFor(() => every(pages, async (p) => (await state(p)).status === "logged-in"), { interval: 100, timeout: 20_000, message: "every tab logged in" });
  await Promise.all(pages.map(startLoop));
  // Every loop is running on the live token.
  await waitFor(() => every(pages, async (p) => (await loopOf(p)).ok > 0), { interval: 100, timeout: 20_000, message: "every loop answered" });
}

/** Revokes everything with 401s held, and waits until each tab has its one request parked. */
async function revokeAndPark(n) {
  await demo.settings({ hold401: true });
  await demo.revokeAll();
  // At least one per tab (a request a tab gave up on may still be parked at the server).
  let parked = 0;
  await waitFor(async () => (parked = (await demo.counters()).parked401) >= n, { interval: 50, timeout: 45_000, message: `${n} parked 401s` })
    .catch((e) => { e.message += ` (${parked} parked)`; throw e; });
}

// ---------------------------------------------------------------------------------------------

test(`storm: ${TABS} looping tabs, everything revoked → no request after the first 401, one logout, every tab on /login with its own return URL, and back after one login`, async () => {
  const { context, pages, logs } = await openStormTabs(TABS);
  try {
    await loggedInLooping(pages);
    const epoch = (await state(pages[0])).epoch;
    await revokeAndPark(TABS);
    const before = await demo.counters();
    assert.equal(before.apiAfterFirst401, 0);

    await hook("POST", "/__test/release-401?n=1"); // the first 401
    await waitFor(() => every(pages, onLoginWithOwnReturn), { interval: 100, timeout: 20_000, message: "every tab on /login with its own returnTo" });
    // The requests that were in flight get their (late) 401s now.
    await hook("POST", "/__test/release-401");
    await waitFor(async () => (await demo.counters()).parked401 === 0, { message: "no parked 401" });
    await demo.settings({ hold401: false });
    await waitFor(async () => (await demo.counters()).logout >= 1, { message: "the logout call" });
    await waitFor(() => every(pages, async (p) => (await state(p)).status === "logged-out"), { interval: 100, message: "every login page logged out" });

    const c = await demo.counters();
    assert.equal(c.apiAfterFirst401, 0, `API requests started after the first 401: ${JSON.stringify(c)}`);
    assert.equal(c.logout, 1, JSON.stringify(c));
    assert.ok(c.refresh <= 1, `one refresh attempt at most: ${c.refresh}`);
    assert.equal(c.refreshReuse, 0);
    const ended = await Promise.all(pages.map(state));
    assert.ok(ended.every((s) => s.epoch === epoch + 1 && s.reason === ended[0].reason && s.reason), JSON.stringify(ended.slice(0, 3)));

    // One login in one tab brings all twenty back to their own URLs, logged in.
    await formLogin(pages[7]);
    await waitFor(() => every(pages, backLoggedIn), { interval: 100, timeout: 20_000, message: "every tab back at its URL, logged in" });
    const after = await demo.counters();
    assert.equal(after.login, 2);
    assert.equal(after.logout, 1);
    const me = await pages[3].evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, demo.apiOrigin);
    assert.equal(me, 200);
    console.log(`# storm: ${TABS} tabs, apiAfterFirst401=${c.apiAfterFirst401} api401=${c.api401} logout=${c.logout} refresh=${c.refresh} reason=${ended[0].reason}`);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

test("a 401 that a refresh can cure: no end of session, each request replayed once and succeeding", async () => {
  const n = 5;
  const { context, pages, logs } = await openStormTabs(n);
  try {
    await loggedInLooping(pages);
    const epoch = (await state(pages[0])).epoch;
    await hook("POST", "/__test/reset"); // counters from here
    await hook("POST", "/__test/expire-access"); // the access token dies; the refresh token lives
    await waitFor(async () => (await demo.counters()).refresh >= 1, { message: "the refresh" });
    const base = await Promise.all(pages.map(loopOf));
    await waitFor(() => every(pages, async (p, i) => (await loopOf(p)).ok >= base[i].ok + 3), { interval: 100, message: "3 more answers per tab" });
    await Promise.all(pages.map((p) => p.evaluate(() => { window.__loop.stop = true; })));
    const c = await demo.counters();
    assert.equal(c.refresh, 1, JSON.stringify(c));
    assert.equal(c.logout, 0);
    assert.ok(c.api401 >= 1 && c.api401 <= n, `at most one 401 per tab (each replayed once): ${c.api401}`);
    for (const l of await Promise.all(pages.map(loopOf))) {
      assert.deepEqual(Object.keys(l.statuses), ["200"], `the page never saw the 401: ${JSON.stringify(l)}`);
    }
    const states = await Promise.all(pages.map(state));
    assert.ok(states.every((s) => s.status === "logged-in" && s.epoch === epoch), JSON.stringify(states));
    assert.ok(pages.every((p, i) => new URL(p.url()).pathname === pathOf(i)));
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

test("end of session: safe API requests still queued in the browser never reach the API, and a POST in flight still gets its answer", async () => {
  // HTTP/1.1 only: at most 6 connections to the API host, so that with 6 requests parked at
  // the server the rest wait in the browser's queue, as they do behind any busy connection.
  const h1 = await launchBrowser({ args: ["--disable-http2"] });
  await demo.reset();
  await demo.setConfig(config());
  const context = await h1.newContext();
  try {
    // A tab on the login page itself (no return parameter): the end of session does not move
    // it, so its requests' answers can be read after the end.
    const page = await context.newPage();
    await page.goto(`${demo.appOrigin}/login`);
    await waitControlled(page);
    await page.waitForFunction(() => window.demo?.session?.state, null, { timeout: 30_000 });
    assert.equal(await jsonLogin(page), 200);
    await waitFor(async () => (await workerStateRoute(page)).body.state.status === "logged-in", { message: "logged in" });

    await demo.settings({ hold401: true });
    await demo.revokeAll();
    const api = demo.ports.api;
    // One POST first (it takes one connection), then 20 GETs behind it.
    await page.evaluate((origin) => {
      const record = (key) => (res) => { window.__answers[key] = `${res.status}${res.headers.get("lockstep-blocked") ? "*" : ""}`; };
      const failed = (key) => () => { window.__answers[key] = "error"; };
      window.__answers = {};
      fetch(`${origin}/v1/echo`, { method: "POST", body: "x" }).then(record("post"), failed("post"));
    }, demo.apiOrigin);
    await waitFor(async () => (await demo.counters()).parked401 >= 1, { interval: 50, message: "the POST parked" });
    await page.evaluate((origin) => {
      const record = (key) => (res) => { window.__answers[key] = `${res.status}${res.headers.get("lockstep-blocked") ? "*" : ""}`; };
      const failed = (key) => () => { window.__answers[key] = "error"; };
      for (let i = 0; i < 20; i++) fetch(`${origin}/v1/items?q=${i}`).then(record(i), failed(i));
    }, demo.apiOrigin);
    // Six connections, six parked 401s: the POST and five GETs; fifteen GETs are queued.
    await waitFor(async () => (await demo.counters()).parked401 >= 6, { interval: 50, message: "6 parked 401s" });
    const before = await demo.counters();
    const gets = (c) => c.requests[`${api} GET /v1/items`] ?? 0;
    assert.equal(gets(before), 5, "five GETs reached the server, the rest wait in the browser");

    // The session ends here (the user logs out in this tab); the parked 401s are still held.
    await page.evaluate(() => window.demo.session.logout());
    await waitFor(async () => (await page.evaluate(() => Object.keys(window.__answers).length)) >= 20,
      { message: "the 20 GETs answered" });
    const answers = await page.evaluate(() => window.__answers);
    for (let i = 0; i < 20; i++) assert.equal(answers[i], "401*", `GET ${i}: answered as blocked at once (${JSON.stringify(answers)})`);
    assert.equal(answers.post, undefined, "the POST is still waiting for the server's answer");
    const atEnd = await demo.counters();

    // Released: the POST gets the server's own answer, and no queued GET ever went out.
    await hook("POST", "/__test/release-401");
    await waitFor(async () => (await page.evaluate(() => window.__answers.post)) !== undefined, { message: "the POST answered" });
    assert.equal(await page.evaluate(() => window.__answers.post), "401", "the server's 401, not a local one");
    await waitFor(async () => (await demo.counters()).logout >= 1, { message: "the logout call" });
    await demo.settings({ hold401: false });
    // A request started after this one would have queued behind the released connections.
    assert.equal(await page.evaluate(async (o) => (await fetch(`${o}/v1/me`)).headers.get("lockstep-blocked"), demo.apiOrigin), "1");
    const after = await demo.counters();
    const seen = (c) => JSON.stringify(Object.fromEntries(Object.entries(c.requests).filter(([k]) => k.startsWith(`${api} `))));
    assert.equal(gets(after), 5, `no queued GET reached the API after the end (before ${seen(before)}, once every GET was answered ${seen(atEnd)}, after ${seen(after)})`);
    assert.equal(after.requests[`${api} POST /v1/echo`], 1);
  } finally {
    await closeContext(context);
    await h1.close();
  }
});

test("open redirect through the return parameter: refused, the tab stays on /login", async () => {
  const { app, other } = demo.ports;
  // Raw query values, as an attacker would put them in a link.
  const attempts = [
    "https://evil.test",
    "https%3A%2F%2Fevil.test",
    "//evil.test",
    "%2F%2Fevil.test",
    "%252F%252Fevil.test",
    "/\\evil.test",
    "%2F%5Cevil.test",
    "%5C%5Cevil.test",
    "%2F%09%2Fevil.test",
    "///evil.test",
    "javascript:alert(1)",
    "javascript%3Aalert(1)",
    "%6A%61vascript%3Aalert(1)",
    `https%3A%2F%2Flocalhost%3A${other}%2F`,
    `https%3A%2F%2Flocalhost%3A${app}%40evil.test%2F`,
    "data%3Atext%2Fhtml%2C%3Cscript%3Ealert(1)%3C%2Fscript%3E",
  ];
  await demo.reset();
  await demo.setConfig(config());
  const context = await browser.newContext();
  try {
    const control = await context.newPage();
    await control.goto(`${demo.appOrigin}/login?returnTo=%2Fapp1%2Fok`);
    await waitControlled(control);
    const tabs = await Promise.all(attempts.map(() => context.newPage()));
    await Promise.all(tabs.map((p, i) => p.goto(`${demo.appOrigin}/login?returnTo=${attempts[i]}`)));
    await Promise.all(tabs.map((p) => p.waitForFunction(() => window.demo?.session?.state, null, { polling: 50 })));
    // Record anything that would take a tab away from here.
    const moved = attempts.map(() => []);
    tabs.forEach((p, i) => {
      p.on("framenavigated", (f) => f === p.mainFrame() && moved[i].push(f.url()));
      p.on("dialog", (d) => { moved[i].push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
    });
    await formLogin(control);
    await control.waitForURL(`${demo.appOrigin}/app1/ok`);
    await control.waitForFunction(() => window.demo?.session?.state?.status === "logged-in", null, { polling: 20 });
    await waitFor(() => every(tabs, async (p) => (await state(p)).status === "logged-in"), { interval: 50, message: "every attempt tab told of the login" });
    // One more round trip through the worker from every tab, after the control tab loaded a page.
    await Promise.all(tabs.map((p) => p.evaluate(() => fetch("/__lockstep/state").then((r) => r.text()))));
    for (const [i, p] of tabs.entries()) {
      const u = new URL(p.url());
      assert.equal(u.origin + u.pathname, `${demo.appOrigin}/login`, `returnTo=${attempts[i]} took the tab to ${p.url()}`);
      assert.deepEqual(moved[i], [], `returnTo=${attempts[i]}`);
    }
  } finally {
    await closeContext(context);
  }
});

test("worker stopped between the 401 and the navigation: the end of session still completes once", async () => {
  const n = 5;
  const { context, pages, logs } = await openStormTabs(n, config({ tokenStorage: "memory" }));
  try {
    const sw = await cdp(pages[0]);
    await sw.enable();
    await loggedInLooping(pages);
    await revokeAndPark(n);
    // The first 401 makes the worker try a refresh, which the server holds: the session has
    // not ended yet and no tab has moved when the worker is stopped.
    await demo.settings({ refreshDelayMs: 3000 });
    await hook("POST", "/__test/release-401?n=1");
    await waitFor(async () => (await demo.counters()).refresh >= 1, { message: "the refresh after the first 401" });
    assert.ok(pages.every((p) => new URL(p.url()).pathname !== "/login"), "no tab moved yet");
    await sw.stopAllWorkers();
    await demo.settings({ refreshDelayMs: 0 });
    await hook("POST", "/__test/release-401");
    // The loops wake the worker again; it ends the session the coordinated way.
    await waitFor(() => every(pages, onLoginWithOwnReturn), { interval: 100, timeout: 30_000, message: "every tab on /login with its own returnTo" });
    await waitFor(async () => (await demo.counters()).logout >= 1, { message: "the logout call" });
    await demo.settings({ hold401: false });
    await waitFor(() => every(pages, async (p) => (await state(p)).status === "logged-out"), { interval: 100, message: "every login page logged out" });
    const c = await demo.counters();
    assert.equal(c.logout, 1, JSON.stringify(c));
    assert.equal(c.apiAfterFirst401, 0, JSON.stringify(c));
    console.log(`# stopped between 401 and navigation: refresh=${c.refresh} byCookie=${c.refreshByCookie} logout=${c.logout} reason=${(await state(pages[0])).reason}`);
    await sw.detach();
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});
