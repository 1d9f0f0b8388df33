// Propagation benchmark (prints figures; not a test).
//
// From `session.logout()` in one tab to each subscriber having run, in N tabs of the demo
// app over mkcert HTTPS in headless Chromium, over repeated trials alternating login and
// logout; beside two baselines measured in the same run on the same origin with plain pages
// (no worker): a 1 s localStorage poll and the `storage` event. Timestamps across tabs are
// performance.timeOrigin + performance.now().
//
//   NODE_EXTRA_CA_CERTS=$(mkcert -CAROOT)/rootCA.pem node bench/propagation.mjs
//   BENCH_TABS=20 BENCH_TRIALS=100 BENCH_FEW_TRIALS=20 (defaults); BENCH_VERBOSE=1 prints each
//   trial's samples. TRIALS logouts and as many logins on client-only pages (the figure the
//   SPEC's target is read from: with 100, p99 is the second slowest, not the slowest) and
//   2 × TRIALS `storage` events; FEW_TRIALS logouts and logins on the demo app's pages, 2 ×
//   FEW_TRIALS changes for the 1 s poll. BENCH_UNATTENDED_ONLY=1: the SPEC's figure alone (the
//   run without DevTools, about 9 minutes), then its JSON line.
//
// With 100 trials the p99 is the second slowest trial, and it moves by several ms from run to
// run on a 2-core machine: each p99 is printed with a 95% bootstrap interval, and the JSON
// keeps every trial's figure so that runs can be pooled.
//
// Logins are timed twice: from the server's answer to /api/login (the demo's `lastLoginAt`,
// Unix ms: the login has happened, as a logout has when `logout()` is called) and from the
// page's fetch (so with the login round trip).
//
// "all tabs": per trial, the time until the LAST of the N tabs saw the change (the SPEC's
// figure: "seen by all 20 open tabs"); "each tab": every (tab, trial) sample.
//
// The SPEC's figure comes from a browser as users run it (`benchUnattended`): Chromium with
// no DevTools client, one tab in front, the pages driving themselves. The same trials under
// Playwright (every tab with a DevTools client, kept visible) follow for comparison.

import https from "node:https";
import { launchBrowser, startDemo, waitFor, closeContext, demoConfig, tlsOptions } from "../e2e/harness.mjs";
import { drivenRun, figures, interval, machineQuiet, notQuiet, quantile, startUnattended } from "./unattended.mjs";

const TABS = Number(process.env.BENCH_TABS ?? 20);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 100);
const FEW_TRIALS = Number(process.env.BENCH_FEW_TRIALS ?? 20);
const WAIT = { timeout: 60_000 };
const QUIET_MS = 250; // after a trigger, the harness looks at the tabs no sooner than this
const WARMUP_TRIGGERS = 4; // unattended run: 2 logouts and 2 logins before the timed ones

const now = () => performance.timeOrigin + performance.now(); // serialised into pages below

/**
 * In every document before its scripts: record each subscriber call, in memory (cheap while
 * the news spreads), kept in sessionStorage when the page is left (every trial navigates).
 */
function recordSubscriber() {
  const KEY = "bench:seen";
  const seen = (window.__benchSeen = []);
  addEventListener("pagehide", () => {
    const list = JSON.parse(sessionStorage.getItem(KEY) ?? "[]");
    sessionStorage.setItem(KEY, JSON.stringify(list.concat(seen.splice(0))));
  });
  let demo;
  Object.defineProperty(window, "demo", {
    configurable: true,
    get: () => demo,
    set(v) {
      demo = v;
      v?.session?.subscribe((s) => {
        seen.push({ status: s.status, epoch: s.epoch, t: performance.timeOrigin + performance.now() });
      });
    },
  });
}

/** Lockstep: N demo tabs, `trials` logouts (and the logins between them). */
async function benchLockstep(browser, demo, pages, trials) {
  // Client-only pages log out to a client-only login page, so that a login too reaches
  // pages that run nothing but the client; the demo app's tabs go to the demo's login page.
  const loginPath = pages === "bench" ? "/bench-login.html" : "/login";
  if (pages === "bench") {
    await demo.setConfig(demoConfig({ loginUrl: loginPath, idle: { timeoutSeconds: 900, warningSeconds: 60 } }));
  } else {
    await demo.reset(); // the demo's own config
  }
  const context = await browser.newContext();
  await context.addInitScript(recordSubscriber);
  const urls = Array.from({ length: TABS }, (_, i) => `${demo.appOrigin}/${pages === "bench" ? "bench.html" : i % 4 === 3 ? "app2/" : "app1/"}?tab=${i}`);
  const first = await context.newPage();
  await first.goto(urls[0]);
  const isReady = (p) => p.evaluate(() => !!navigator.serviceWorker.controller && !!window.demo?.session);
  await waitFor(() => isReady(first), { message: "first tab controlled", ...WAIT });
  const rest = await Promise.all(urls.slice(1).map(async (u) => {
    const p = await context.newPage();
    await p.goto(u);
    return p;
  }));
  const tabs = [first, ...rest];
  let looked = []; // the tabs' states at the last look, for the message of a timeout
  const settled = (want, delay = 0) => waitFor(async () => {
    const states = await Promise.all(tabs.map((p) => p.evaluate(() => {
      const s = window.demo?.session?.state;
      return s ? { status: s.status, epoch: s.epoch, path: location.pathname, controlled: !!navigator.serviceWorker.controller } : null;
    }).catch(() => null)));
    looked = states;
    return states.every((s) => s?.controlled && want(s)) && states;
    // Polling 20 tabs every 20 ms loaded the 2-core machine enough to delay the very delivery
    // being measured; the timestamps are taken in the pages, so a slower poll costs nothing.
  }, { message: "tabs settled", interval: 250, delay, ...WAIT }).catch((e) => {
    const where = looked.map((s, i) => `${i}:${s ? `${s.status}@${s.epoch}${s.path}${s.controlled ? "" : " (uncontrolled)"}` : "?"}`).join(" ");
    throw new Error(`${e.message}; tabs at the last look: ${where}`);
  });
  await settled(() => true);

  // loginAnswered: a login timed from the moment the server made its answer (`lastLoginAt`,
  // Unix ms on the pages' clock) rather than from the page's fetch: what is left is the
  // answer's way back, the worker and the fan-out, as in a logout. `lead`: per login, how long
  // before the first tab saw it the answer was made (a check of the two clocks: never < 0).
  const samples = { logout: [], login: [], loginAnswered: [] };
  const worst = { logout: [], login: [], loginAnswered: [] };
  const lead = [];
  const login = () => first.evaluate(() => {
    fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "ada", password: "lovelace" }) });
  });
  await login();
  let [{ epoch }] = await settled((s) => s.status === "logged-in" && s.path !== loginPath);

  for (let trial = 0; trial < 2 * trials; trial++) {
    const kind = trial % 2 === 0 ? "logout" : "login";
    const next = epoch + 1;
    // Quiet pages before the trigger: nothing in flight, nothing still loading.
    await machineQuiet();
    const t0 = kind === "logout"
      ? await tabs[trial % TABS].evaluate(() => { const t = performance.timeOrigin + performance.now(); window.demo.session.logout(); return t; })
      : await tabs[trial % TABS].evaluate(() => {
          const t = performance.timeOrigin + performance.now();
          fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" },
            body: JSON.stringify({ username: "ada", password: "lovelace" }) });
          return t;
        });
    const want = kind === "logout" ? "logged-out" : "logged-in";
    // The first look comes after the news has spread: looking at 20 tabs over CDP wakes each
    // of them, and a look at once put that work inside the window being timed (same dist, 3
    // alternated runs of 15 trials: "all tabs" p50 23.2 ms looking at once, 13.6 looking later).
    await settled((s) => s.status === want && s.epoch === next && (s.path === loginPath) === (kind === "logout"), QUIET_MS);
    const seen = await Promise.all(tabs.map((p) => p.evaluate((e) =>
      JSON.parse(sessionStorage.getItem("bench:seen") ?? "[]").concat(window.__benchSeen ?? []).find((r) => r.epoch === e)?.t ?? null, next)));
    if (seen.some((t) => t == null)) throw new Error(`trial ${trial}: a subscriber never ran for epoch ${next}`);
    const lat = seen.map((t) => t - t0);
    if (process.env.BENCH_VERBOSE) console.log(kind, lat.map((x) => x.toFixed(0)).sort((a, b) => a - b).join(" "));
    samples[kind].push(...lat);
    worst[kind].push(Math.max(...lat));
    if (kind === "login") {
      const answered = (await demo.counters()).lastLoginAt;
      if (!(answered > t0)) throw new Error(`trial ${trial}: no login answer after the trigger (lastLoginAt ${answered})`);
      const fromAnswer = seen.map((t) => t - answered);
      samples.loginAnswered.push(...fromAnswer);
      worst.loginAnswered.push(Math.max(...fromAnswer));
      lead.push(Math.min(...fromAnswer));
    }
    epoch = next;
  }
  await closeContext(context);
  return { samples, worst, lead };
}

/**
 * Lockstep as users run it: a browser with no DevTools client, one tab in front and the
 * others in the background. Under Playwright every tab has a DevTools client, whose events
 * cost CPU in the very window being timed (and its focus emulation keeps every tab visible).
 * Here Chromium is started directly; the tabs are opened through the DevTools HTTP endpoint
 * (`/json/new`, which attaches nothing) and drive themselves (demo/static/bench-drive.js): on
 * each load a page reports where it is and when its subscriber saw each epoch to this
 * server (another origin), and tab 0 asks it what to do next. The server answers once all
 * tabs are where the last trigger sends them and the machine is quiet.
 */
async function benchUnattended(demo, trials) {
  const loginPath = "/bench-login.html";
  await demo.setConfig(demoConfig({ loginUrl: loginPath, idle: { timeoutSeconds: 900, warningSeconds: 60 } }));
  const reports = new Map(); // tab → its last report
  const seenBy = new Map(); // tab → (epoch → first time its subscriber saw it)
  const triggeredAt = new Map(); // epoch → logout() call, as tab 0 recorded it
  const triggers = []; // { kind, epoch, base }
  let pending = null; // tab 0's open request for the next step
  let busy = false;
  const { finished, finish, fail, take } = drivenRun();
  let progress = Date.now();

  const step = async () => {
    if (!pending || busy || reports.size < TABS) return;
    const rs = [...reports.values()];
    const e = pending.epoch;
    const last = triggers[triggers.length - 1];
    // Before the first login the pages stay where they were opened.
    const placed = (r) => !last || r.atLogin === (r.status === "logged-out");
    if (!rs.every((r) => r.controlled && r.epoch === e && placed(r)) || (last && e < last.epoch)) return;
    busy = true;
    try {
      if (last?.kind === "login") last.base = (await demo.counters()).lastLoginAt;
      const timed = triggers.filter((t) => !t.warmup).length;
      const next = timed >= 2 * trials ? "done" : rs[0].status === "logged-in" ? "logout" : "login";
      if (next !== "done") await machineQuiet();
      const { res } = pending;
      pending = null;
      res.end(JSON.stringify({ do: next }));
      progress = Date.now();
      if (next === "done") return finish();
      // The first login, then WARMUP_TRIGGERS untimed (a fresh browser's first trials are slow).
      triggers.push({ kind: next, epoch: e + 1, warmup: triggers.length <= WARMUP_TRIGGERS });
    } finally {
      busy = false;
    }
  };

  const server = https.createServer(tlsOptions(), (req, res) => {
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("content-type", "application/json");
    const url = new URL(req.url, "https://bench.invalid");
    if (url.pathname === "/ready" && req.method === "POST") {
      take(req, res, (r) => {
        reports.set(r.tab, r);
        const mine = seenBy.get(r.tab) ?? new Map();
        for (const { epoch, t } of r.seen) if (!(mine.get(epoch) <= t)) mine.set(epoch, t);
        seenBy.set(r.tab, mine);
        for (const { epoch, t } of r.t0) triggeredAt.set(epoch, t);
        step().catch(fail);
      });
    } else if (url.pathname === "/next") {
      pending?.res.end(JSON.stringify({ do: "wait" })); // a page that left: its successor asks again
      pending = { res, epoch: Number(url.searchParams.get("epoch")) };
      step().catch(fail);
    } else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const coord = `https://localhost:${server.address().port}`;
  const stuck = setInterval(() => {
    if (Date.now() - progress > WAIT.timeout) {
      const where = [...reports.values()].map((r) => `${r.tab}:${r.status}@${r.epoch}${r.atLogin ? "/login" : ""}`).join(" ");
      fail(new Error(`unattended run stuck after ${triggers.length} triggers; tabs: ${where}`));
    }
  }, 1000);
  const chromium = await startUnattended(WAIT).catch((e) => { clearInterval(stuck); server.close(); throw e; });
  try {
    const urls = Array.from({ length: TABS }, (_, i) => `${demo.appOrigin}/bench.html?tab=${i}&drive=${encodeURIComponent(coord)}`);
    await chromium.open(urls[0]);
    // The first tab installs the worker; the others then start under it, as in benchLockstep.
    await waitFor(() => reports.get(0)?.controlled, { message: "first tab controlled", interval: 100, ...WAIT });
    for (const u of urls.slice(1)) await chromium.open(u);
    await finished;
  } finally {
    clearInterval(stuck);
    await chromium.close();
    server.close();
  }
  const worst = { logout: [], login: [] };
  const lead = [];
  for (const t of triggers) {
    if (t.warmup) continue;
    const base = t.kind === "logout" ? triggeredAt.get(t.epoch) : t.base;
    const seen = [...seenBy.values()].map((m) => m.get(t.epoch));
    if (!(base > 0) || seen.length < TABS || seen.some((x) => x == null)) {
      throw new Error(`unattended ${t.kind} to epoch ${t.epoch}: ${seen.filter((x) => x == null).length} tabs never saw it (base ${base})`);
    }
    worst[t.kind].push(Math.max(...seen) - base);
    if (t.kind === "login") lead.push(Math.min(...seen) - base);
  }
  return { worst, lead };
}

/** Plain pages (no worker) on the same origin: localStorage written by one, seen by the rest. */
async function benchBaseline(browser, demo, mode, trials) {
  const context = await browser.newContext({ serviceWorkers: "block" });
  const url = `${demo.appOrigin}/style.css`; // any plain same-origin document
  const tabs = await Promise.all(Array.from({ length: TABS }, async () => {
    const p = await context.newPage();
    await p.goto(url);
    return p;
  }));
  await Promise.all(tabs.map((p) => p.evaluate((mode) => {
    window.__seen = [];
    const KEY = "bench:session";
    const record = (raw) => {
      const t = performance.timeOrigin + performance.now();
      if (raw) window.__seen.push({ n: JSON.parse(raw).n, t });
    };
    if (mode === "poll") {
      let last = localStorage.getItem(KEY);
      setInterval(() => {
        const v = localStorage.getItem(KEY);
        if (v !== last) { last = v; record(v); }
      }, 1000);
    } else {
      addEventListener("storage", (e) => { if (e.key === KEY) record(e.newValue); });
    }
  }, mode)));
  const samples = [];
  const worst = [];
  for (let n = 1; n <= 2 * trials; n++) {
    const writer = tabs[n % TABS];
    await machineQuiet();
    const t0 = await writer.evaluate((n) => {
      const t = performance.timeOrigin + performance.now();
      localStorage.setItem("bench:session", JSON.stringify({ n, status: n % 2 ? "logged-out" : "logged-in" }));
      window.__seen.push({ n, t }); // the writer knows at once
      return t;
    }, n);
    const seen = await waitFor(async () => {
      const ts = await Promise.all(tabs.map((p) => p.evaluate((n) => window.__seen.find((r) => r.n === n)?.t ?? null, n)));
      return ts.every((t) => t != null) && ts;
    }, { message: `${mode} trial ${n}`, interval: QUIET_MS, delay: QUIET_MS, ...WAIT });
    const lat = seen.filter((_, i) => tabs[i] !== writer).map((t) => t - t0);
    samples.push(...lat);
    worst.push(Math.max(...lat));
  }
  await closeContext(context);
  return { samples, worst };
}

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1).padStart(9) : "      n/a");
const rounded = (xs) => xs.map((x) => +x.toFixed(1));

async function main() {
  const demo = await startDemo({ testHooks: true });
  const started = now();
  // First, before Playwright's browser exists: nothing else runs on the machine.
  const unattended = await benchUnattended(demo, TRIALS);
  for (const k of ["logout", "login"]) {
    const w = unattended.worst[k];
    const [low, high] = interval(w, 0.99);
    console.log(`no DevTools, ${k}: ${w.length} trials, all tabs p50 ${fmt(quantile(w, 0.5)).trim()} p99 ${fmt(quantile(w, 0.99)).trim()} `
      + `(95% interval ${fmt(low).trim()}-${fmt(high).trim()}) max ${fmt(Math.max(...w)).trim()} ms`);
  }
  // A clock check: a tab cannot see a login before the server answered it (pages' clocks against
  // the server's Date.now()); a negative lead means the two disagree by at least that much.
  console.log(`no DevTools, login: the first tab saw it ${fmt(Math.min(...unattended.lead)).trim()} ms or more after the server's answer`);
  const unattendedJson = {
    logout: figures(unattended.worst.logout), loginFromAnswer: figures(unattended.worst.login),
    answerLeadMin: +Math.min(...unattended.lead).toFixed(2),
    trials: { logout: rounded(unattended.worst.logout), loginFromAnswer: rounded(unattended.worst.login) },
  };
  if (process.env.BENCH_UNATTENDED_ONLY) {
    console.log(JSON.stringify({ tabs: TABS, trials: TRIALS, unattended: unattendedJson }));
    await demo.stop();
    return;
  }
  const { browser, close } = await launchBrowser();
  try {
    // Client-only pages (demo/static/bench.html) like the baselines' blank pages; then the demo
    // app, whose pages re-render on every change: on 2 cores that rendering in 20 visible tabs
    // delays the delivery to the later tabs.
    const lockstep = await benchLockstep(browser, demo, "bench", TRIALS);
    const app = await benchLockstep(browser, demo, "app", FEW_TRIALS);
    const storage = await benchBaseline(browser, demo, "storage", TRIALS);
    const poll = await benchBaseline(browser, demo, "poll", FEW_TRIALS);
    const rows = [
      ["Lockstep logout", unattended.worst.logout, []],
      ["Lockstep login", unattended.worst.login, []],
      ["under Playwright:", [], []],
      ["Lockstep logout", lockstep.worst.logout, lockstep.samples.logout],
      ["Lockstep login", lockstep.worst.loginAnswered, lockstep.samples.loginAnswered],
      ["Lockstep login*", lockstep.worst.login, lockstep.samples.login],
      ["  demo app logout", app.worst.logout, app.samples.logout],
      ["  demo app login", app.worst.loginAnswered, app.samples.loginAnswered],
      ["  demo app login*", app.worst.login, app.samples.login],
      ["storage event", storage.worst, storage.samples],
      ["localStorage 1 s poll", poll.worst, poll.samples],
    ];
    console.log(`\nPropagation to ${TABS} tabs (ms; headless Chromium, ${process.platform}, ${new Date().toISOString()})\n`);
    console.log(`${"approach".padEnd(24)}${"trials".padStart(7)}${"all p50".padStart(9)}${"all p99".padStart(9)}${"all max".padStart(9)}${"tab p50".padStart(9)}${"tab p99".padStart(9)}`);
    for (const [name, w, s] of rows) {
      if (w.length === 0) { console.log(name); continue; }
      console.log(`${name.padEnd(24)}${String(w.length).padStart(7)}${fmt(quantile(w, 0.5))}${fmt(quantile(w, 0.99))}${fmt(Math.max(...w))}${fmt(quantile(s, 0.5))}${fmt(quantile(s, 0.99))}`);
    }
    const ratio = quantile(poll.worst, 0.99) / quantile(unattended.worst.logout, 0.99);
    console.log(`\nall = per trial, until the last tab saw it; tab = every (tab, trial) sample.`);
    console.log(`Lockstep rows: pages that run only the client (/bench.html); "demo app": the demo's app pages.`);
    console.log(`The first two rows: Chromium with no DevTools client and ${TABS - 1} of ${TABS} tabs in the background, the pages`);
    console.log(`driving themselves (demo/static/bench-drive.js), as users run it; the rows under Playwright: every tab has`);
    console.log(`a DevTools client and is kept visible.`);
    console.log(`login: timed from the server's answer to /api/login (the first tab saw it ${fmt(Math.min(...unattended.lead, ...lockstep.lead, ...app.lead)).trim()} ms or more after it);`);
    console.log(`login*: timed from the page's fetch('/api/login'), so it includes the login round trip.`);
    const met = Math.max(quantile(unattended.worst.logout, 0.99), quantile(unattended.worst.login, 0.99)) <= 20;
    console.log(`SPEC target: logout and login seen by all ${TABS} tabs, p99 <= 20 ms -> ${met ? "met" : "NOT met"}; `
      + `1 s poll p99 / Lockstep p99 = ${ratio.toFixed(0)}x (target >= 50x). Run time ${((now() - started) / 1000).toFixed(0)} s.`);
    console.log(`Each trigger waited for a quiet machine (>= 80% idle over 100 ms, at most 5 s); ${notQuiet.count} went ahead without one.`);
    // One JSON line for bench/perf.mjs's report (all = until the last of the tabs saw it).
    const q = (xs) => ({ p50: +quantile(xs, 0.5).toFixed(1), p99: +quantile(xs, 0.99).toFixed(1), max: +Math.max(...xs).toFixed(1) });
    console.log(JSON.stringify({
      tabs: TABS, trials: TRIALS, fewTrials: FEW_TRIALS, unattended: unattendedJson,
      logout: q(lockstep.worst.logout), login: q(lockstep.worst.login),
      loginFromAnswer: q(lockstep.worst.loginAnswered),
      appLogout: q(app.worst.logout), appLogin: q(app.worst.login), appLoginFromAnswer: q(app.worst.loginAnswered),
      answerLeadMin: +Math.min(...unattended.lead, ...lockstep.lead, ...app.lead).toFixed(2),
      answerLeadMinPlaywright: +Math.min(...lockstep.lead, ...app.lead).toFixed(2),
      storageEvent: q(storage.worst), poll1s: q(poll.worst), pollOverLockstepP99: +ratio.toFixed(1),
      triggersWithoutQuiet: notQuiet.count,
    }));
  } finally {
    await close();
    await demo.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
