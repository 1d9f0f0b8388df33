// One idle timeout for all tabs: activity in any tab moves the shared deadline, the warning
// shows and clears in every tab, and without activity the session ends once, for everyone —
// even when every tab was frozen and the worker stopped across the deadline.
// Config: idle 4 s, warning 2 s. Counted at the demo server.

import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { cdp, launchBrowser, openTabs, recordConsole, startDemo, waitControlled, waitFor, closeContext } from "./harness.mjs";

const IDLE = { timeoutSeconds: 4, warningSeconds: 2 };
const CONFIG = {
  loginUrl: "/login",
  returnParam: "returnTo",
  apis: [{ origin: "{{API_ORIGIN}}", pathPrefix: "/v1/" }],
  tokenEndpoints: [
    { url: "/api/login", format: "json", accessToken: "access_token", refreshToken: "refresh_token", expiresIn: "expires_in", user: "user" },
  ],
  refresh: { url: "/oauth/token", format: "oauth2", clientId: "spa", beforeExpirySeconds: 60 },
  logout: { url: "/api/logout", method: "POST" },
  idle: IDLE,
};

let demo;
let browser;

before(async () => {
  demo = await startDemo({ testHooks: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

beforeEach(async () => {
  await demo.reset();
  await demo.setConfig(CONFIG);
});

const text = (page, sel) => page.locator(sel).textContent();
const status = (page) => text(page, "#status");
const warningShown = (page) => page.evaluate(() => !document.getElementById("idle-warning")?.hidden);
/** The tab's view of the shared deadline (its own clock). */
const deadline = (page) => page.evaluate(() => window.demo?.session?.state?.idleDeadline ?? null);

/** Opens the tabs, waits for their sessions, and logs in from the first one. */
async function loggedInTabs(context, paths) {
  const tabs = [];
  for (const p of paths) tabs.push(...(await openTabs(context, `${demo.appOrigin}${p}`, 1)));
  for (const t of tabs) {
    await waitControlled(t);
    await t.waitForFunction(() => window.demo?.session, null, { polling: 20 });
  }
  const res = await tabs[0].evaluate(async () => {
    const r = await fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ada", password: "lovelace" }) });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.access_token, undefined, "the token reached the page");
  for (const t of tabs) await waitFor(async () => (await status(t)) === "logged-in", { message: "logged-in in every tab" });
  return tabs;
}

/** API requests that reached the API port (preflights not counted), and those with a bearer. */
async function apiCounts() {
  const c = await demo.counters();
  const port = String(demo.ports.api);
  let requests = 0;
  for (const [key, n] of Object.entries(c.requests)) {
    const [p, method] = key.split(" ");
    if (p === port && method !== "OPTIONS") requests += n;
  }
  let bearer = 0;
  for (const [key, n] of Object.entries(c.bearer)) if (key.startsWith(`${port} `)) bearer += n;
  return { requests, bearer, logout: c.logout, refresh: c.refresh };
}

/** Polls the URL: the client may replace the location twice (a reply and a broadcast both
 * say where to go), which aborts the first navigation and makes waitForURL throw. */
const onLogin = (page, timeout = 5000) =>
  waitFor(() => /\/login(\?|$)/.test(new URL(page.url()).pathname + new URL(page.url()).search) && page.url(), { timeout, interval: 10, message: `${page.url()} on /login` });

function onLoginPageFor(page, ownPath) {
  const u = new URL(page.url());
  return u.pathname.replace(/\/$/, "") === "/login" && u.searchParams.get("returnTo") === ownPath;
}

test("activity in one tab (stayActive and real input) keeps the others logged in past the timeout", async () => {
  const context = await browser.newContext();
  try {
    const [a, b] = await loggedInTabs(context, ["/app1/", "/app2/"]);
    const logs = recordConsole(b);
    const start = Date.now();
    const until = start + 3 * IDLE.timeoutSeconds * 1000; // 12 s: three timeouts
    let round = 0;
    // Each tab's own view of the deadline (tabs convert worker time to their own clock, so
    // two tabs may differ by a few ms for the same deadline).
    const last = new Map([[a, await deadline(a)], [b, await deadline(b)]]);
    const trail = [];
    while (Date.now() < until) {
      // Act again once a second of the deadline has been used up (a condition, not a sleep).
      await waitFor(async () => (await deadline(a)) - Date.now() <= (IDLE.timeoutSeconds - 1) * 1000, { message: "a second of idle time used" });
      const kind = ["stayActive", "mouse", "keyboard"][round++ % 3];
      trail.push(`${kind}@${Date.now() % 100000}`);
      if (kind === "stayActive") await a.evaluate(() => window.demo.session.stayActive());
      else if (kind === "mouse") await a.mouse.click(5, 5); // pointerdown on the page
      else await a.keyboard.press("Shift");
      // Both tabs see the moved deadline (B never had any input itself). Waiting for A too
      // keeps the next round from acting on A's stale deadline (the client throttles input).
      for (const [name, t] of [["B", b], ["A", a]]) {
        const moved = await waitFor(async () => { const d = await deadline(t); return d > last.get(t) && d; }, { timeout: 2500, message: `tab ${name} sees the deadline move after ${trail.join(" ")}` });
        last.set(t, moved);
      }
      assert.equal(await status(b), "logged-in", logs());
    }
    assert.ok(Date.now() - start >= 3 * IDLE.timeoutSeconds * 1000);
    assert.equal(await status(a), "logged-in");
    assert.equal(await status(b), "logged-in");
    const c = await apiCounts();
    assert.equal(c.logout, 0, "no logout while a tab is active");
  } finally {
    await closeContext(context);
  }
});

test("the warning shows in every tab, clears in every tab on activity in one, and idle ends the session once", async () => {
  const context = await browser.newContext();
  try {
    const paths = ["/app1/?tab=a", "/app2/orders?tab=b", "/app1/deep/x"];
    const tabs = await loggedInTabs(context, paths);
    const [a, b] = tabs;
    // Every tab records what onIdleWarning tells it (polling three tabs is slow on a busy box).
    await Promise.all(tabs.map((t) => t.evaluate(() => {
      window.__warn = [];
      window.demo.session.onIdleWarning((w) => window.__warn.push(w ? "on" : "off"));
    })));
    const warnings = (t) => t.evaluate(() => window.__warn.join(","));
    // No activity: the warning shows in all tabs ~2 s before the deadline.
    await waitFor(async () => (await Promise.all(tabs.map(warningShown))).every(Boolean), { interval: 10, message: "idle warning in every tab" });
    const d0 = await deadline(b);
    // Activity in one tab (the banner's own button) clears it everywhere and moves the deadline.
    await a.evaluate(() => document.getElementById("stay-active").click());
    for (const t of tabs) await waitFor(async () => (await warnings(t)) === "on,off" && !(await warningShown(t)), { timeout: 1500, message: "warning cleared in every tab" });
    assert.ok((await deadline(b)) > d0, "the shared deadline moved");
    assert.equal((await apiCounts()).logout, 0);

    // Now nobody moves: every tab ends on the login page with its own return URL, reason idle.
    const finalDeadline = await deadline(a);
    for (const t of tabs) await onLogin(t, IDLE.timeoutSeconds * 1000 + 3000);
    const late = Date.now() - finalDeadline;
    for (const [i, t] of tabs.entries()) {
      await waitFor(() => onLoginPageFor(t, paths[i]), { message: `tab ${i} on /login with its own returnTo (${t.url()})` });
      await waitFor(async () => (await text(t, "#reason")) === "idle", { message: "reason idle" });
      assert.equal(await status(t), "logged-out");
    }
    await waitFor(async () => (await apiCounts()).logout === 1, { message: "one logout call" });
    // Every tab's timer ticked; still exactly one logout. Probe once more after a round trip.
    await a.evaluate(() => window.demo.session.stayActive().catch(() => {}));
    assert.equal((await apiCounts()).logout, 1, "exactly one logout call");
    console.log(`# idle: last tab on /login ${late} ms after the deadline`);
  } finally {
    await closeContext(context);
  }
});

test("tabs asleep and the worker stopped across the deadline: the next event ends the session before any API request", async () => {
  const context = await browser.newContext();
  // The tabs' timers are Playwright's clock, so they can be put to sleep like a frozen
  // background tab's (CDP Page.setWebLifecycleState "frozen" does not stop timers in headless
  // Chromium 156: a 200 ms interval kept running).
  await context.clock.install();
  try {
    const tabs = await loggedInTabs(context, ["/app1/", "/app2/"]);
    const [a] = tabs;
    const logs = recordConsole(a);
    assert.equal(await a.evaluate(async () => (await fetch(`${window.demo.apiOrigin}/v1/me`)).status), 200, "a live token works");

    const deadlineA = await deadline(a);
    assert.ok(deadlineA > Date.now(), "logged in with a future deadline");
    // Every tab asleep: no timer of theirs runs, so no tick reaches the worker.
    await context.clock.pauseAt(new Date(Math.max(...(await Promise.all(tabs.map((t) => t.evaluate(() => Date.now()))))) + 500)); // ahead of every tab's clock
    const sw = await cdp(a);
    await sw.enable();
    await sw.waitForStatus("running");
    await sw.stopAllWorkers();
    await sw.waitForStatus("stopped");
    const baseline = await apiCounts();

    await waitFor(() => Date.now() >= deadlineA + 500, { timeout: IDLE.timeoutSeconds * 1000 + 2000, interval: 100, message: "the deadline passed" });
    assert.equal(sw.activeVersions()[0].runningStatus, "stopped", "the worker stayed stopped while every tab slept");
    assert.equal((await apiCounts()).logout, baseline.logout, "nothing ran while asleep");

    // The first event after the deadline is an API call from tab A.
    const t0 = Date.now();
    const probe = await a.evaluate(async () => {
      try {
        const r = await fetch(`${window.demo.apiOrigin}/v1/me`);
        const p = { status: r.status, blocked: r.headers.get("lockstep-blocked") };
        sessionStorage.setItem("probe", JSON.stringify(p));
        return p;
      } catch (e) {
        return { error: String(e) };
      }
    }).catch(async () => JSON.parse(await waitFor(() => a.evaluate(() => sessionStorage.getItem("probe")).catch(() => null), { message: "probe" })));
    assert.deepEqual(probe, { status: 401, blocked: "1" }, logs());
    const restartMs = Date.now() - t0;
    await context.clock.resume();
    for (const t of tabs) await onLogin(t);
    await waitFor(async () => (await text(a, "#reason")) === "idle", { message: "reason idle on tab A" });
    await waitFor(async () => (await apiCounts()).logout === baseline.logout + 1, { message: "one logout call" });
    const after = await apiCounts();
    assert.equal(after.requests, baseline.requests, "no API request after the deadline");
    assert.equal(after.bearer, baseline.bearer, "no bearer after the deadline");
    assert.equal(after.refresh, baseline.refresh, "no refresh for a session that idled out");
    assert.equal(after.logout, baseline.logout + 1, "exactly one logout call");
    console.log(`# idle: blocked answer from a stopped worker in ${restartMs} ms`);
    await sw.detach().catch(() => {});
  } finally {
    await closeContext(context);
  }
});
