// Logout across subdomains: app1.example.test and app2.example.test are two origins (each
// its own worker, storage and channel) that share one session marker cookie on
// example.test. Logging in on both keeps both in; logging out on one sends the other's tabs
// to the login page (cookiechange), even with no tab of it open at that moment.
// Counted at the demo server.

import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { cdp, launchBrowser, recordConsole, startDemo, waitControlled, waitFor, closeContext } from "./harness.mjs";

const COOKIE = "lockstep_session";
const config = (extra = {}) => ({
  loginUrl: "/login",
  returnParam: "returnTo",
  apis: [{ origin: "{{API_ORIGIN}}", pathPrefix: "/v1/" }],
  tokenEndpoints: [
    { url: "/api/login", format: "json", accessToken: "access_token", refreshToken: "refresh_token", expiresIn: "expires_in", user: "user" },
  ],
  logout: { url: "/api/logout", method: "POST" },
  crossSite: { cookieName: COOKIE, cookieDomain: "example.test" },
  ...extra,
});

let demo;
let browser;
let app1;
let app2;

before(async () => {
  demo = await startDemo({ testHooks: true });
  browser = await launchBrowser();
  app1 = `${demo.origin("app", "app1.example.test")}/app1/`;
  app2 = `${demo.origin("app", "app2.example.test")}/app1/`;
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

beforeEach(async () => {
  await demo.reset();
});

const text = (page, sel) => page.locator(sel).textContent();
const status = (page) => text(page, "#status");

async function open(context, url) {
  const page = await context.newPage();
  page.__logs = recordConsole(page);
  await page.goto(url);
  await waitControlled(page);
  await page.waitForFunction(() => window.demo?.session, null, { polling: 20 });
  return page;
}

async function login(page) {
  const res = await page.evaluate(async () => {
    const r = await fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ada", password: "lovelace" }) });
    return r.status;
  });
  assert.equal(res, 200);
  await waitFor(async () => (await status(page)) === "logged-in", { message: `logged in at ${page.url()}` });
}

/** GET /v1/me from the page: `{status, blocked}`. */
const callApi = (page) =>
  page.evaluate(async () => {
    const api = (await (await fetch("/lockstep.config.json")).json()).apis[0].origin;
    const r = await fetch(`${api}/v1/me`);
    return { status: r.status, blocked: r.headers.get("lockstep-blocked") };
  });

async function marker(context) {
  const c = (await context.cookies()).find((c) => c.name === COOKIE);
  return c ? { value: c.value, domain: c.domain } : null;
}

/** Requests that reached the API port with a bearer. */
async function bearerCount() {
  const { bearer } = await demo.counters();
  return Object.entries(bearer).filter(([k]) => k.startsWith(`${demo.ports.api} `)).reduce((s, [, n]) => s + n, 0);
}

/** The page's worker answers a round trip, so earlier events reached it. */
const roundTrip = (page) => page.evaluate(() => window.demo.session.stayActive().catch(() => {}));

/** Waits until the tab is on the login page with a return URL (polls: the client may
 * replace the location twice, which aborts the first navigation). */
const onLogin = (page, timeout = 5000) =>
  waitFor(() => /\/login\?returnTo=/.test(page.url()) && page.url(), { timeout, interval: 5, message: `${page.url()} on /login` });

test("login on both apps shares one marker; logout on app2 sends app1's open tabs to /login within a second", async () => {
  await demo.setConfig(config());
  const context = await browser.newContext();
  try {
    const a1 = await open(context, app1);
    const a1b = await open(context, `${app1}orders?id=7`);
    await login(a1);
    await waitFor(async () => (await status(a1b)) === "logged-in", { message: "second app1 tab logged in" });
    const m1 = await waitFor(() => marker(context), { message: "marker cookie" });
    assert.match(m1.value, /^live\.[0-9a-f]{16,32}$/);
    assert.equal(m1.domain, ".example.test");

    const a2 = await open(context, app2);
    assert.equal(await status(a2), "logged-out", "app2 has its own session");
    await login(a2);
    assert.deepEqual(await marker(context), m1, "app2 adopted the marker instead of writing its own");
    await roundTrip(a1);
    for (const p of [a1, a1b]) assert.equal(await status(p), "logged-in", `app1 still logged in: ${p.__logs()}`);
    assert.deepEqual(await callApi(a1), { status: 200, blocked: null });
    assert.deepEqual(await callApi(a2), { status: 200, blocked: null });

    const t0 = Date.now();
    await a2.evaluate(() => window.demo.session.logout());
    // The figure is printed below (about 0.5 s on a quiet machine); the bound only catches a
    // tab that never follows, so a loaded CI machine does not flake it.
    await Promise.all([a1, a1b].map((p) => onLogin(p, 5000)));
    const latency = Date.now() - t0;
    console.log(`# cross-site: app2 logout -> app1 tabs on /login in ${latency} ms`);
    assert.equal(new URL(a1b.url()).searchParams.get("returnTo"), "/app1/orders?id=7");
    await waitFor(async () => (await text(a1, "#reason")) === "elsewhere", { message: "reason elsewhere" });
    assert.match((await marker(context)).value, /^ended\./);
    assert.deepEqual(await callApi(a1), { status: 401, blocked: "1" });
    const c = await demo.counters();
    assert.equal(c.logout, 1, "one logout call: app2's; app1 follows without a second one");
  } finally {
    await closeContext(context);
  }
});

test("app1 closed while app2 logs out: reopened app1 starts logged out, and app2's new session does not revive it", async () => {
  // IndexedDB token storage: the old token would survive in app1's worker if it missed the news.
  await demo.setConfig(config({ tokenStorage: "indexeddb" }));
  const context = await browser.newContext();
  try {
    const a1 = await open(context, app1);
    await login(a1);
    const a2 = await open(context, app2);
    await login(a2);
    assert.deepEqual(await callApi(a1), { status: 200, blocked: null });
    await a1.close();
    // Stop every worker, so app1's is woken by the cookie change (or its next page) itself.
    const s = await cdp(a2);
    await s.enable();
    await s.stopAllWorkers();
    await s.waitForStatus("stopped");
    const bearerBefore = await bearerCount();

    await a2.evaluate(() => window.demo.session.logout());
    await waitFor(async () => (await marker(context))?.value.startsWith("ended."), { message: "ended marker" });
    const r1 = await open(context, app1);
    // Logged out "elsewhere", it leaves for its login page 50 ms after its subscribers ran:
    // read the page it lands on, once that page has rendered.
    await waitFor(async () => new URL(r1.url()).pathname === "/login" && (await status(r1).catch(() => null)) === "logged-out",
      { message: `reopened app1 on its login page, logged out (${r1.url()}): ${r1.__logs()}` });
    assert.equal(await text(r1, "#reason"), "elsewhere");
    assert.deepEqual(await callApi(r1), { status: 401, blocked: "1" });
    assert.equal(await bearerCount(), bearerBefore, "no request with app1's old token");

    // A new session on app2 writes a new marker; app1 stays logged out (no resurrection).
    await waitFor(async () => (await status(a2)) === "logged-out" || a2.url().includes("/login"), { message: "app2 out" });
    const a2again = await open(context, app2);
    await login(a2again);
    const m2 = await marker(context);
    assert.match(m2.value, /^live\./);
    await roundTrip(r1);
    await r1.reload();
    await r1.waitForFunction(() => window.demo?.session, null, { polling: 20 });
    assert.equal(await status(r1), "logged-out");
    assert.deepEqual(await callApi(r1), { status: 401, blocked: "1" });
    const c = await demo.counters();
    const app2Bearer = Object.entries(c.bearer).filter(([k]) => k.startsWith(`${demo.ports.api} `)).reduce((s, [, n]) => s + n, 0);
    assert.equal(app2Bearer, bearerBefore, "app1 sent no bearer after app2's logout");
    await s.detach().catch(() => {});
  } finally {
    await closeContext(context);
  }
});

test("garbage in the marker cookie is ignored; a later real logout still reaches app1", async () => {
  await demo.setConfig(config());
  const context = await browser.newContext();
  try {
    const a1 = await open(context, app1);
    await login(a1);
    const a2 = await open(context, app2);
    await login(a2);
    const epoch1 = await text(a1, "#epoch");
    const epoch2 = await text(a2, "#epoch");
    for (const junk of ["garbage", "live.xyz", "ended.", `live.${"f".repeat(64)}`, "%00%ff"]) {
      await a1.evaluate((v) => { document.cookie = `lockstep_session=${v}; domain=example.test; path=/; secure; samesite=lax`; }, junk);
      assert.equal((await marker(context)).value, junk);
      // A navigation and a message make both workers re-read it (besides cookiechange).
      await a1.reload();
      await a1.waitForFunction(() => window.demo?.session, null, { polling: 20 });
      await roundTrip(a2);
      for (const [p, e] of [[a1, epoch1], [a2, epoch2]]) {
        assert.equal(await status(p), "logged-in", `${junk}: ${p.__logs()}`);
        assert.equal(await text(p, "#epoch"), e, `${junk}: epoch unchanged`);
      }
      assert.deepEqual(await callApi(a1), { status: 200, blocked: null });
    }
    await a2.evaluate(() => window.demo.session.logout());
    await onLogin(a1);
  } finally {
    await closeContext(context);
  }
});

test("without cookie subscriptions (other browsers): logins adopt the marker, and a tab's message makes the worker re-read it", async () => {
  await demo.setConfig(config());
  const context = await browser.newContext();
  try {
    // Both apps open (and logged out) before anyone logs in, and neither gets cookie events.
    const a1 = await open(context, app1);
    const a2 = await open(context, app2);
    for (const p of [a1, a2]) {
      const subs = await p.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        if (!reg.cookies) return null;
        const before = await reg.cookies.getSubscriptions();
        await reg.cookies.unsubscribe(before);
        return { before: before.length, after: (await reg.cookies.getSubscriptions()).length };
      });
      assert.deepEqual(subs, { before: 1, after: 0 }, "the worker subscribed to the marker at activation");
    }
    await login(a1);
    const m1 = await marker(context);
    await login(a2);
    assert.deepEqual(await marker(context), m1, "app2 re-read the cookie at login and adopted app1's marker");
    assert.equal(await status(a1), "logged-in");

    await a2.evaluate(() => window.demo.session.logout());
    await waitFor(async () => (await marker(context))?.value.startsWith("ended."), { message: "ended marker" });
    await onLogin(a2);
    assert.equal(await status(a1), "logged-in", "no cookiechange: app1 has not heard yet");
    // The tab is seen again: the client reports itself, and the worker re-reads the cookie.
    const t0 = Date.now();
    await a1.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    await onLogin(a1);
    console.log(`# cross-site fallback: visibilitychange -> /login in ${Date.now() - t0} ms`);
    await waitFor(async () => (await text(a1, "#reason")) === "elsewhere", { message: "reason elsewhere" });
  } finally {
    await closeContext(context);
  }
});
