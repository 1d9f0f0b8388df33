// Seeded fault runs: a scripted three-tab session (login, API loops, proactive refresh with a
// short `expiresIn`, a 401 cured by a refresh, a revocation that ends the session, log in
// again, log out, log in again and go idle) with the worker stopped by DevTools
// (`ServiceWorker.stopAllWorkers`) at seeded random points. After every step and at the end
// of each run, every tab must agree with the server about whether the user is logged in
// (`lastSessionLive` in /__test/counters), and no API request may have reached the server
// with a missing or stale bearer while the session was live (`liveNoBearer`,
// `liveStaleBearer`; tokens force-expired by the test are not counted: no client can know).
//
//   LOCKSTEP_FAULT_RUNS=8      runs (default 8; the whole CI suite stays fast)
//   LOCKSTEP_FAULT_SEED=1      base seed; run i uses seed+i, printed with every failure
//   LOCKSTEP_FAULT_FIRST=0     index of the first run (to run 200 in batches)
//
// Then the fault kinds one by one: the refresh endpoint answering 500 or hanging past the
// engine's REFRESH_TIMEOUT_MS, the logout endpoint failing (500, and the network offline) →
// the logout is retried until delivered, exactly once, while the tabs end the session at once;
// a tab crashing or closing mid-request → the other tabs and the worker carry on.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  cdp, demoConfig, httpsFetch, jsonLogin, recordConsole,
  waitControlled, waitFor, workerStateRoute,
  startWatchedSuite, stopWatchedSuite,
  closeContext,
} from "./harness.mjs";

const RUNS = Number(process.env.LOCKSTEP_FAULT_RUNS ?? 8);
const SEED = Number(process.env.LOCKSTEP_FAULT_SEED ?? 1);
const FIRST = Number(process.env.LOCKSTEP_FAULT_FIRST ?? 0);
const IDLE = { timeoutSeconds: 6, warningSeconds: 2 };
const EXPIRES_IN = 7; // refresh due 3 s after each token (beforeExpirySeconds 4)

let demo;
let browser;
let swConsole;
const figures = { bypassRuns: 0, bypassRequests: 0, fallbackLogins: 0, bypassedTabs: 0, runs: 0, faults: 0, steps: 0, refresh: 0, reuse: 0, logout: 0, ends: 0, ms: 0, outcomes: {} };

before(async () => {
  ({ demo, browser, swConsole } = await startWatchedSuite());
});

after(async () => {
  if (figures.runs) {
    console.log(`# fault runs: ${figures.runs} (seeds ${SEED + FIRST}..${SEED + FIRST + figures.runs - 1}), worker stops injected ${figures.faults}, ` +
      `steps ${figures.steps}, ends of session ${figures.ends}, logout calls ${figures.logout}, refreshes ${figures.refresh}, ` +
      `refresh reuse ${figures.reuse}, runs where Chromium bypassed a restarting worker ${figures.bypassRuns} (${figures.bypassRequests} requests without a bearer), logins sent to the network by Chromium past a stopped worker (refused for want of the worker's header) ${figures.fallbackLogins}, of which from tabs Chromium left bypassing their worker after a stop mid-navigation (reloaded) ${figures.bypassedTabs}, mean run ${Math.round(figures.ms / figures.runs)} ms, step outcomes ${JSON.stringify(figures.outcomes)}`);
  }
  await stopWatchedSuite({ demo, browser, swConsole });
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** mulberry32: a small seeded PRNG (uniform in [0, 1)). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hook = async (method, p) => {
  const res = await httpsFetch(`${demo.appOrigin}${p}`, { method });
  assert.ok(res.status < 300, `${method} ${p}: ${res.status} ${res.body}`);
  return res.body ? res.json() : null;
};

const faultConfig = (over = {}) =>
  demoConfig({ refresh: { url: "/oauth/token", format: "oauth2", clientId: "spa", beforeExpirySeconds: 4 }, idle: IDLE, ...over });

const pathOf = (i) => `/app${(i % 2) + 1}/faults/${i}`;

/** A fresh context with `n` tabs on their own paths, all controlled and started. */
async function openTabs3(cfg, n = 3) {
  await demo.reset();
  await demo.setConfig(cfg);
  await demo.settings({ expiresIn: EXPIRES_IN, requireWorkerHeader: true });
  const context = await browser.newContext();
  const notes = [];
  await context.exposeBinding("__note", (_, text) => { notes.push(text); });
  context.on("console", (m) => { if (m.worker() && m.type() === "error") notes.push(`worker console: ${m.text()}`); });

  const first = await context.newPage();
  await first.goto(`${demo.appOrigin}${pathOf(0)}`);
  await waitControlled(first);
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => context.newPage()));
  await Promise.all(rest.map((p, i) => p.goto(`${demo.appOrigin}${pathOf(i + 1)}`)));
  const pages = [first, ...rest];
  const logs = pages.map((p) => recordConsole(p));
  await Promise.all(pages.map((p) => p.waitForFunction(() => window.demo?.session?.state, null, { polling: 50, timeout: 30_000 })));
  return { context, pages, notes, logs: () => logs.map((l, i) => l() && `tab ${i}:\n${l()}`).filter(Boolean).join("\n") };
}

/** The tab's session state and where it is, or null while it navigates. */
const stateOf = (page) =>
  page.evaluate(() => {
    const s = window.demo?.session?.state;
    return s ? { status: s.status, epoch: s.epoch, reason: s.reason, path: location.pathname } : null;
  }).catch(() => null);

/**
 * Waits until every tab and the server agree: all tabs show one epoch and the status the
 * server's last session has (logged in: live; logged out: revoked), logged-out tabs are on
 * /login and logged-in tabs are not. `want` (true/false) also requires that outcome.
 */
async function converge(pages, want, { timeout = 30_000, what = "", orphanOk = false } = {}) {
  let last;
  try {
    return await waitFor(async () => {
      const c = await demo.counters();
      const states = await Promise.all(pages.map(stateOf));
      let live = c.lastSessionLive === true;
      last = { live, states, logoutWithoutBearer: c.logoutWithoutBearer };
      // tokenStorage "memory": a logout still owed when the worker stopped is sent without
      // the bearer (tokens never touch storage), so the server cannot revoke that session
      // (a known limit, SECURITY.md). The call was made; count it and accept.
      const orphan = orphanOk && live && want === false && c.logoutWithoutBearer > 0 &&
        states.every((s) => s && s.status === "logged-out" && s.path === "/login");
      if (orphan) live = false;
      if (want !== undefined && live !== want) return false;
      const status = live ? "logged-in" : "logged-out";
      const ok = states.every((s) => s && s.status === status && s.epoch === states[0].epoch && (s.path === "/login") === !live);
      return ok && { live, epoch: states[0].epoch, reason: states[0].reason, orphan };
    }, { timeout, interval: 50, message: `tabs and server agree${want === undefined ? "" : ` on ${want ? "logged in" : "logged out"}`} ${what}` });
  } catch (err) {
    err.message += `\nlast seen: ${JSON.stringify(last)}`;
    throw err;
  }
}

/** Starts, in every logged-in tab, a sequential API loop and user activity (stayActive). */
const startBusy = (pages) =>
  Promise.all(pages.map((page, i) => page.evaluate(([api, i]) => {
    if (window.__busy) return;
    const busy = (window.__busy = { stop: false, ok: 0, statuses: {}, errors: 0 });
    (async () => {
      while (!busy.stop) {
        try {
          const res = await fetch(`${api}/v1/items`);
          const key = res.headers.get("lockstep-blocked") ? `${res.status}*` : String(res.status);
          busy.statuses[key] = (busy.statuses[key] ?? 0) + 1;
          if (res.ok) busy.ok++;
          else {
            if (res.status === 401 && !res.headers.get("lockstep-blocked")) {
              // Who answers the worker's own route right now? If the network does, the browser
              // is bypassing the worker (see the fault-run assertion).
              const w = await fetch("/__lockstep/state").then((r) => r.json())
                .then((m) => (m.state ? `${m.state.status}/${m.state.epoch}` : "BYPASSED")).catch(() => "error");
              window.__note?.(`${location.pathname} 401 tab=${window.demo.session.state.status}/${window.demo.session.state.epoch} worker=${w}`);
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        } catch {
          busy.errors++; // the worker was stopped under the request: try again, as an app would
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    // Some user activity in every tab, staggered (keeps the 6 s idle timeout away).
    setTimeout(() => {
      busy.timer = setInterval(() => window.demo.session.stayActive().catch(() => {}), 1500);
    }, i * 500);
  }, [demo.apiOrigin, i]).catch(() => {})));

const stopBusy = (pages) =>
  Promise.all(pages.map((p) => p.evaluate(() => {
    if (!window.__busy) return;
    window.__busy.stop = true;
    clearInterval(window.__busy.timer);
  }).catch(() => {})));
const okCounts = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.__busy?.ok ?? 0).catch(() => 0)));

/**
 * Logs in from tab 0 (again, if the response was lost to a stopped worker) until the tabs
 * follow. With `thenIdle`, the session may already have ended by idle (6 s) when the tabs and
 * the server are next seen to agree (a slow machine, several stops): either outcome is fine.
 */
/** What the page saw when a login went past the worker (for the failure message). */
let bypassNotes = [];

async function login(pages, { thenIdle = false } = {}) {
  let leaked = null;
  await waitFor(async () => {
    const answer = await jsonLogin(pages[0]).catch(() => null);
    // Token custody holds whatever the worker's state: the page never gets the raw tokens.
    if (/access_token|refresh_token/.test(answer?.text ?? "")) leaked = answer.text;
    // A worker killed (CDP) while the login's fetch event is in flight makes Chromium send
    // the page's request to the network itself. Without the worker's header the server
    // refuses it (the defence SECURITY.md recommends, on here), so the answer carries no
    // token; counted, and the tab logs in again.
    if (answer?.status === 403 && answer.text.includes("not_through_worker")) {
      figures.fallbackLogins++;
      // A worker stopped (CDP) while the tab navigated leaves the new document controlled
      // but with every fetch going past the worker until it is loaded again — Chromium does
      // this to a five-line JS worker too (SECURITY.md, known limits). Seen by the worker's
      // own route answering from the network; the tab is reloaded, as a user would.
      const bypassed = await pages[0].evaluate(async () => !!navigator.serviceWorker.controller && (await fetch("/__lockstep/state")).status === 404).catch(() => false);
      if (bypassed) {
        figures.bypassedTabs++;
        await pages[0].reload().catch(() => {});
        await pages[0].waitForFunction(() => window.demo?.session, null, { polling: 20, timeout: 10_000 }).catch(() => {});
        return false;
      }
      if (bypassNotes.length < 5) {
        bypassNotes.push(await pages[0].evaluate(async () => {
          const c = navigator.serviceWorker.controller;
          const reg = await navigator.serviceWorker.getRegistration();
          const route = await fetch("/__lockstep/state").then((r) => r.status, (e) => e.message);
          // What the worker says about itself (a load error, or nothing if it never started).
          const said = await new Promise((resolve) => {
            const { port1, port2 } = new MessageChannel();
            const timer = setTimeout(() => resolve("no answer in 2 s"), 2000);
            port1.onmessage = (e) => { clearTimeout(timer); resolve(typeof e.data === "string" ? e.data.slice(0, 300) : JSON.stringify(e.data).slice(0, 300)); };
            (c ?? reg?.active)?.postMessage({ v: 1, type: "get-state" }, [port2]);
          });
          return `login past the worker at ${location.pathname}: controller ${c ? c.state : "none"}, active ${reg?.active?.state ?? "none"}, waiting ${reg?.waiting?.state ?? "none"}, installing ${reg?.installing?.state ?? "none"}, state route ${route}, the worker says ${said}`;
        }).catch((e) => `login past the worker: ${e.message}`));
      }
      return false;
    }
    return leaked || answer?.status === 200;
  }, { timeout: 20_000, interval: 200, message: "a login answered 200" });
  assert.equal(leaked, null, "the page got the raw token response");
  return converge(pages, thenIdle ? undefined : true, { what: "after login" });
}

// ---------------------------------------------------------------------------------------------
// (1) Seeded fault runs

const STEPS = ["login", "refresh", "expire-access", "revoke", "login-again", "logout", "idle"];

for (let run = FIRST; run < FIRST + RUNS; run++) {
  const seed = SEED + run;
  test(`fault run ${run} (seed ${seed}): worker stopped at random points of a 3-tab session`, { timeout: 240_000 }, async () => {
    const rnd = prng(seed * 7919);
    const tokenStorage = rnd() < 0.5 ? "memory" : "indexeddb";
    const faults = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({
      step: Math.floor(rnd() * STEPS.length),
      delay: Math.floor(rnd() * 2500),
    })).sort((a, b) => a.step - b.step || a.delay - b.delay);
    const plan = `seed ${seed}, ${tokenStorage}, stops at ${faults.map((f) => `${STEPS[f.step]}+${f.delay}ms`).join(", ")}`;
    const started = Date.now();
    bypassNotes = [];
    const { context, pages, logs, notes } = await openTabs3(faultConfig({ tokenStorage }));
    const sw = await cdp(pages[0]);
    await sw.enable();
    let step = -1;
    let done = false;
    const injected = [];
    const outcomes = [];
    // The injector: at each fault's step, after its delay, stop every worker.
    const injector = (async () => {
      for (const f of faults) {
        await waitFor(() => done || step >= f.step, { timeout: 200_000, interval: 10, message: "the fault's step" });
        if (done) return;
        await new Promise((r) => setTimeout(r, f.delay));
        if (done) return;
        await sw.stopAllWorkers().catch(() => {});
        injected.push(`${STEPS[step]}+${f.delay}ms`);
      }
    })();
    let ends = 0;
    const ended = async (what) => {
      const r = await converge(pages, false, { what, orphanOk: tokenStorage === "memory" });
      ends++;
      outcomes.push(`${what}:${r.reason}${r.orphan ? ":orphaned" : ""}`);
      return r;
    };
    /** Busy until `progress` holds, or until the session ends (a fault may end it). */
    const busyUntil = async (progress, what) => {
      await startBusy(pages);
      const base = await okCounts(pages);
      const outcome = await waitFor(async () => {
        const c = await demo.counters();
        if (c.lastSessionLive !== true) return "ended";
        const ok = await okCounts(pages);
        return (await progress(c)) && ok.every((n, i) => n >= base[i] + 3) && "ok";
      }, { timeout: 40_000, interval: 50, message: `${what}: progress in every tab, or an end of session` });
      if (outcome === "ended") await ended(`${what}(fault)`);
      else outcomes.push(`${what}:ok`);
      return outcome;
    };
    const ensureLoggedIn = async () => {
      const now = await converge(pages, undefined, { what: "before logging in" }).catch(async (err) => {
        // An orphaned session (see converge) leaves the server "live" and the tabs logged out.
        if (tokenStorage !== "memory") throw err;
        return converge(pages, false, { what: "before logging in", orphanOk: true });
      });
      if (!now.live) await login(pages);
    };
    try {
      step = 0; // login
      await login(pages);
      step = 1; // busy until one proactive refresh went through
      const r0 = (await demo.counters()).refresh;
      await busyUntil((c) => c.refresh > r0, "refresh");
      await converge(pages, undefined, { what: "after the refresh" });
      step = 2; // a 401 that a refresh cures
      await ensureLoggedIn();
      const r1 = (await demo.counters()).refresh;
      await hook("POST", "/__test/expire-access");
      await busyUntil((c) => c.refresh > r1, "expire-access");
      await converge(pages, undefined, { what: "after expire-access" });
      step = 3; // a 401 that nothing cures: the session ends once, for everyone
      await ensureLoggedIn();
      await startBusy(pages);
      await demo.revokeAll();
      await ended("revoke");
      step = 4; // log in again
      await login(pages);
      await startBusy(pages);
      step = 5; // log out from another tab
      await waitFor(() => pages[1].evaluate(() => window.demo.session.logout().then(() => true)).catch(() => false), {
        timeout: 20_000, interval: 200, message: "the logout message answered",
      });
      await ended("logout");
      step = 6; // log in again and leave every tab alone: idle ends the session
      await login(pages, { thenIdle: true });
      await ended("idle");
      done = true;
      await injector;

      const c = await demo.counters();
      const detail = `401s seen by the pages: ${notes.join(" | ") || "none"}; ${plan}; injected ${injected.join(", ") || "none"}; ${outcomes.join(" ")}; counters ${JSON.stringify({ ...c, requests: undefined, bearer: undefined })}`;
      // A worker stopped while it starts can make Chromium send the page's pending requests to
      // the network as if there were no worker (a fallback no worker code can prevent): they
      // go without a bearer. Counted, and tolerated only with that evidence: the worker's own
      // route answered by the network at the time (SECURITY.md, known limits).
      const bypassed = notes.some((n) => n.includes("worker=BYPASSED"));
      if (bypassed && c.liveNoBearer > 0) figures.bypassRuns++, figures.bypassRequests += c.liveNoBearer;
      else assert.equal(c.liveNoBearer, 0, `an API request without a bearer reached the server while the session was live: ${detail}`);
      assert.equal(c.liveStaleBearer, 0, `an API request with a stale bearer reached the server while the session was live: ${detail}`);
      // At least once per end of session; a second call only when a stop hit a call in flight.
      assert.ok(c.logout >= ends, `fewer logout calls than ends of session: ${detail}`);
      assert.ok(c.logout <= ends + injected.length, `more logout calls than ends of session + stops: ${detail}`);
      assert.deepEqual(swConsole.crashes(), [], `the worker panicked: ${detail}`);
      figures.runs++;
      figures.faults += injected.length;
      figures.steps += STEPS.length;
      figures.refresh += c.refresh;
      figures.reuse += c.refreshReuse;
      figures.logout += c.logout;
      figures.ends += ends;
      figures.ms += Date.now() - started;
      for (const o of outcomes) figures.outcomes[o] = (figures.outcomes[o] ?? 0) + 1;
      if (process.env.LOCKSTEP_E2E_VERBOSE === "1") console.log(`# ${detail}`);
    } catch (e) {
      e.message += `\n${bypassNotes.join("\n")}\n${plan}; step ${STEPS[step]}; injected ${injected.join(", ") || "none"}; ${outcomes.join(" ")}\n` +
        `worker console:\n${swConsole.lines().slice(-20).join("\n")}\n${logs()}`;
      throw e;
    } finally {
      done = true;
      await injector.catch(() => {});
      await sw.detach().catch(() => {});
      await closeContext(context);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// (2) Fault kinds, one by one

/** Three tabs logged in and busy; returns what `openTabs3` returns. */
async function busySession(cfg = faultConfig({ idle: undefined })) {
  const t = await openTabs3(cfg);
  await login(t.pages);
  await startBusy(t.pages);
  await waitFor(async () => (await okCounts(t.pages)).every((n) => n >= 2), { timeout: 20_000, message: "every loop answered" });
  return t;
}

test("the refresh endpoint answering 500: the session ends once for every tab, one logout, and no stale request", async () => {
  const { context, pages, logs } = await busySession();
  try {
    await demo.settings({ refreshStatus: 500 });
    const r = await converge(pages, false, { what: "after the failed refresh" });
    assert.equal(r.reason, "refresh-failed");
    const c = await demo.counters();
    assert.equal(c.logout, 1, JSON.stringify(c));
    assert.ok(c.refresh >= 1);
    assert.equal(c.liveNoBearer + c.liveStaleBearer, 0, JSON.stringify(c));
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await demo.settings({ refreshStatus: null });
    await closeContext(context);
  }
});

test("the refresh endpoint hanging past REFRESH_TIMEOUT_MS (15 s): the session ends once, and no request goes out with a token the server expired", { timeout: 90_000 }, async () => {
  const { context, pages, logs } = await busySession();
  try {
    const started = Date.now();
    await demo.settings({ refreshDelayMs: 40_000 });
    const r = await converge(pages, false, { what: "after the hanging refresh", timeout: 45_000 });
    const took = Date.now() - started;
    assert.equal(r.reason, "refresh-failed");
    const c = await demo.counters();
    assert.equal(c.refresh, 1, JSON.stringify(c));
    assert.equal(c.logout, 1, JSON.stringify(c));
    assert.equal(c.liveNoBearer + c.liveStaleBearer, 0, JSON.stringify(c));
    console.log(`# hanging refresh: session ended ${took} ms after the refresh was held (token due at +3 s, REFRESH_TIMEOUT_MS 15 s)`);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await demo.settings({ refreshDelayMs: 0 });
    await closeContext(context);
  }
});

/** Every subscriber call of every tab, reported to node at once (navigation may fail offline). */
async function reportStates(context, pages) {
  const reports = pages.map(() => []);
  await context.exposeBinding("__reportState", ({ page }, status) => {
    const i = pages.indexOf(page);
    if (i >= 0) reports[i].push({ status, at: Date.now() });
  });
  await Promise.all(pages.map((p) => p.evaluate(() => window.demo.session.subscribe((s) => window.__reportState(s.status)))));
  return reports;
}

test("the logout endpoint answering 500: tabs end the session at once; the call is retried until delivered, exactly once", { timeout: 120_000 }, async () => {
  // indexeddb: the owed call keeps its bearer across the worker stop (with "memory" it is
  // sent without one; see SECURITY.md, known limits).
  const { context, pages, logs } = await busySession(faultConfig({ idle: undefined, tokenStorage: "indexeddb" }));
  try {
    const sw = await cdp(pages[0]);
    await sw.enable();
    await demo.settings({ logoutStatus: 500 });
    const asked = Date.now();
    await pages[2].evaluate(() => window.demo.session.logout());
    // Every tab ends the session at once, although no logout call got through.
    await waitFor(async () => (await Promise.all(pages.map(stateOf))).every((s) => s?.status === "logged-out" && s.path === "/login"), {
      timeout: 5_000, interval: 20, message: "every tab logged out and on /login",
    });
    const localEnd = Date.now() - asked;
    assert.equal((await demo.counters()).lastSessionLive, true, "the server session is still live (the logout failed)");
    // Retried on the tabs' ticks at wakeAt (backoff 1 s, 2 s, …); the worker stopped in between.
    await waitFor(async () => (await demo.counters()).logout >= 2, { timeout: 20_000, message: "two failed logout attempts" });
    await sw.stopAllWorkers();
    await sw.waitForStatus("stopped");
    await waitFor(async () => (await demo.counters()).logout >= 3, { timeout: 20_000, message: "a third attempt, after the restart" });
    await demo.settings({ logoutStatus: null });
    const before = (await demo.counters()).logout;
    await waitFor(async () => (await demo.counters()).lastSessionLive === false, { timeout: 60_000, message: "the logout delivered" }).catch(async (err) => {
      const c = await demo.counters();
      err.message += `\ncounters ${JSON.stringify({ ...c, requests: undefined, bearer: undefined })}\nworker ${JSON.stringify((await workerStateRoute(pages[0]).catch((e) => ({ body: String(e) }))).body)}`;
      throw err;
    });
    const delivered = Date.now() - asked;
    // Nothing is owed any more: no next deadline, and more events send nothing.
    await waitFor(async () => (await workerStateRoute(pages[0])).body.wakeAt === null, { message: "no pending logout (wakeAt null)" });
    for (const p of pages) await p.evaluate(() => window.demo.session.stayActive()).catch(() => {});
    await workerStateRoute(pages[1]);
    const c = await demo.counters();
    assert.equal(c.logout - before, 1, `exactly one logout delivered after the endpoint healed: ${JSON.stringify(c)}`);
    assert.equal(c.liveNoBearer + c.liveStaleBearer, 0, JSON.stringify(c));
    const s = await Promise.all(pages.map(stateOf));
    assert.ok(s.every((x) => x.status === "logged-out" && x.reason === "logout"), JSON.stringify(s));
    console.log(`# logout 500: every tab logged out ${localEnd} ms after the click; ${before} failed attempts (one across a worker stop); delivered once, ${delivered} ms after the click`);
    await sw.detach();
  } catch (e) {
    e.message += `\nworker console:\n${swConsole.lines().slice(-20).join("\n")}\n${logs()}`;
    throw e;
  } finally {
    await demo.settings({ logoutStatus: null });
    await closeContext(context);
  }
});

test("the network offline (context.setOffline cuts the worker's fetches too): tabs end the session at once; the logout is delivered once back online", { timeout: 120_000 }, async () => {
  const { context, pages, logs } = await busySession();
  try {
    const sw = await cdp(pages[0]);
    await sw.enable();
    const reports = await reportStates(context, pages);
    await stopBusy(pages);
    await context.setOffline(true);
    const asked = Date.now();
    await pages[2].evaluate(() => window.demo.session.logout());
    // Every tab's subscribers see the end at once (the navigation to /login may fail offline).
    await waitFor(() => reports.every((r) => r.some((x) => x.status === "logged-out")), { timeout: 5_000, interval: 20, message: "every tab's subscriber saw logged-out" });
    const localEnd = Math.max(...reports.map((r) => r.find((x) => x.status === "logged-out").at)) - asked;
    // The worker tried; nothing reached the server. (Not stopped while offline: a worker
    // restarted offline cannot fetch its wasm, and Playwright keeps its offline emulation on
    // that worker after setOffline(false). See SECURITY.md.)
    let c = await demo.counters();
    assert.equal(c.logout, 0, "a logout call got through while offline");
    assert.equal(c.lastSessionLive, true);
    await context.setOffline(false);
    // Back online: the tabs load /login again (Chromium reloads its error pages; a user would
    // too), their hello is the event on which the worker retries.
    for (let i = 0; i < pages.length; i++) {
      if ((await stateOf(pages[i]))?.path !== "/login") await pages[i].goto(`${demo.appOrigin}/login?returnTo=${encodeURIComponent(pathOf(i))}`).catch(() => {});
    }
    await waitFor(async () => (await demo.counters()).lastSessionLive === false, { timeout: 60_000, message: "the logout delivered" });
    const delivered = Date.now() - asked;
    await converge(pages, false, { what: "after the network returned" });
    await waitFor(async () => (await workerStateRoute(pages[0])).body.wakeAt === null, { message: "no pending logout (wakeAt null)" });
    for (const p of pages) await p.evaluate(() => window.demo.session.stayActive()).catch(() => {});
    await workerStateRoute(pages[1]);
    c = await demo.counters();
    assert.equal(c.logout, 1, `exactly one logout delivered: ${JSON.stringify(c)}`);
    assert.equal(c.liveNoBearer + c.liveStaleBearer, 0, JSON.stringify(c));
    console.log(`# logout offline: every tab's subscribers saw logged-out ${localEnd} ms after the click; 0 calls reached the server offline; delivered once, ${delivered} ms after the click`);
    await sw.detach();
  } catch (e) {
    e.message += `\nworker console:\n${swConsole.lines().slice(-20).join("\n")}\n${logs()}`;
    throw e;
  } finally {
    await context.setOffline(false).catch(() => {});
    await closeContext(context);
  }
});

test("a tab crashing or closing mid-request: the other tabs and the worker carry on", { timeout: 90_000 }, async () => {
  const { context, pages, logs } = await busySession();
  try {
    // (a) Tab 2's request is parked at the server (a held 401 after expire-access) when the tab
    // is closed; the 401 reaches a worker whose client is gone.
    await demo.settings({ hold401: true });
    await hook("POST", "/__test/expire-access");
    await waitFor(async () => (await demo.counters()).parked401 >= 1, { message: "a parked 401" });
    await pages[2].close();
    await hook("POST", "/__test/release-401");
    await demo.settings({ hold401: false });
    await hook("POST", "/__test/release-401");
    // (b) Tab 1 crashes (renderer killed) while its request waits in the worker for a held refresh.
    await demo.settings({ refreshDelayMs: 1500 });
    const r0 = (await demo.counters()).refresh;
    await hook("POST", "/__test/expire-access");
    await waitFor(async () => (await demo.counters()).refresh > r0, { message: "the refresh started" });
    const crash = await context.newCDPSession(pages[1]);
    const crashed = pages[1].waitForEvent("crash", { timeout: 10_000 });
    crash.send("Page.crash").catch(() => {}); // never answered: the target dies
    await crashed;
    await demo.settings({ refreshDelayMs: 0 });
    // Tab 0 and the worker are fine: logged in, the API answers, the worker answers its route.
    const base = (await okCounts([pages[0]]))[0];
    await waitFor(async () => (await okCounts([pages[0]]))[0] >= base + 5, { timeout: 20_000, message: "tab 0 keeps working" });
    assert.equal((await stateOf(pages[0])).status, "logged-in");
    const route = await workerStateRoute(pages[0]);
    assert.equal(route.status, 200);
    assert.equal(route.body.state.status, "logged-in");
    const c = await demo.counters();
    assert.equal(c.lastSessionLive, true);
    assert.equal(c.logout, 0, JSON.stringify(c));
    assert.equal(c.liveNoBearer + c.liveStaleBearer, 0, JSON.stringify(c));
    assert.deepEqual(swConsole.crashes(), []);
    // A new tab joins the session normally.
    const fresh = await context.newPage();
    await fresh.goto(`${demo.appOrigin}${pathOf(5)}`);
    await fresh.waitForFunction(() => window.demo?.session?.state?.status === "logged-in", null, { polling: 50, timeout: 15_000 });
  } catch (e) {
    e.message += `\nworker console:\n${swConsole.lines().slice(-20).join("\n")}\n${logs()}`;
    throw e;
  } finally {
    await demo.settings({ hold401: false, refreshDelayMs: 0 });
    await closeContext(context);
  }
});
