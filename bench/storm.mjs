// Benchmark: a 401 storm over N tabs (default 20), with Lockstep and without it.
//
//   cargo build -p lockstep-demo && scripts/build.sh
//   NODE_EXTRA_CA_CERTS=$(mkcert -CAROOT)/rootCA.pem node bench/storm.mjs [--tabs 20] [--trials 5]
//
// Prints figures; asserts nothing. Per trial: every tab runs an API loop (bursts of
// --burst parallel `GET /v1/items`, default 10, until a 401 or it navigates away), the server revokes every token
// (`/__test/revoke-all`), and the tabs end up on their login page; then one tab logs in
// and every tab returns to its URL.
//
//   first 401 → tab on the login page   server's first401At → that tab's login page
//                                        DOMContentLoaded (browser clock = server clock:
//                                        same machine); "last tab" = the slowest of the N
//   login → tab back                    the login fetch starting in one tab → each tab's
//                                        app page DOMContentLoaded
//   API requests after revoke-all       counted at the server (apiAfterRevoke), also after
//                                        the first 401 (apiAfterFirst401), 401s sent, refresh
//                                        grants and logout calls
//
// "Without Lockstep" is /plain/ (demo/static/plain/): the same loop in a page that keeps
// the tokens in localStorage, sets Authorization itself, on a 401 refreshes once and
// retries once, then calls logout and goes to its login page; tabs follow each other by
// `storage` events. It never registers the worker (its own browser context).

import { httpsFetch, launchBrowser, startDemo, waitFor, closeContext } from "../e2e/harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const TABS = arg("tabs", 20);
const TRIALS = arg("trials", 5);
const BURST = arg("burst", 10);
// --no-refresh: a Lockstep config without `refresh` (the first 401 ends the session at once).
const NO_REFRESH = process.argv.includes("--no-refresh");

/** Every page of a context records [url, time] at DOMContentLoaded in sessionStorage. */
const TIMELINE = () => {
  addEventListener("DOMContentLoaded", () => {
    const list = JSON.parse(sessionStorage.getItem("bench-timeline") ?? "[]");
    list.push([location.pathname + location.search, performance.timeOrigin + performance.now()]);
    sessionStorage.setItem("bench-timeline", JSON.stringify(list));
  });
};
const timeline = (page) => page.evaluate(() => JSON.parse(sessionStorage.getItem("bench-timeline") ?? "[]"));
/** When `page` last arrived at a URL matching `re`, at or after `since`. */
async function arrivedAt(page, re, since) {
  const hits = (await timeline(page)).filter(([u, t]) => re.test(u) && t >= since - 1);
  return hits.length ? hits[hits.length - 1][1] : NaN;
}

const every = async (pages, fn) =>
  (await Promise.all(pages.map((p, i) => Promise.resolve().then(() => fn(p, i)).catch(() => false)))).every(Boolean);

function pct(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : "–");

// ---------------------------------------------------------------------------------------------
// The two apps under the same scenario

const lockstep = {
  name: "Lockstep",
  path: (i) => `/app${(i % 2) + 1}/bench/${i}`,
  loginRe: /^\/login\?/,
  async open(context, demo) {
    const first = await context.newPage();
    await first.goto(`${demo.appOrigin}${this.path(0)}`);
    await first.waitForFunction(() => navigator.serviceWorker?.controller, null, { polling: 20 });
    const rest = await Promise.all(Array.from({ length: TABS - 1 }, () => context.newPage()));
    await Promise.all(rest.map((p, i) => p.goto(`${demo.appOrigin}${this.path(i + 1)}`)));
    return [first, ...rest];
  },
  ready: (p) => p.evaluate(() => window.demo?.session?.state?.status ?? false),
  loggedIn: async (p) => (await p.evaluate(() => window.demo?.session?.state?.status)) === "logged-in",
  login: (p) =>
    p.evaluate(async () => {
      const t = performance.timeOrigin + performance.now();
      // Not awaited: the tab may leave for its return URL before an awaited answer reached
      // Playwright ("Execution context was destroyed"); every caller waits for the tabs instead.
      fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ada", password: "lovelace" }) });
      return t;
    }),
  // Bursts of BURST parallel requests until a 401 (the app stops polling then, as the plain
  // one does; Lockstep's navigation follows anyway).
  startLoop: (p) =>
    p.evaluate(([api, burst]) => {
      const loop = (window.__loop = { ok: 0 });
      (async () => {
        for (;;) {
          const answers = await Promise.all(Array.from({ length: burst }, () => fetch(`${api}/v1/items`).catch(() => null)));
          loop.ok += answers.filter((r) => r?.ok).length;
          if (answers.some((r) => r?.status === 401)) break;
        }
      })();
    }, [p.__api, BURST]),
  looping: (p) => p.evaluate(() => (window.__loop?.ok ?? 0) > 0),
};

const plain = {
  name: "without Lockstep",
  path: (i) => `/plain/bench/${i}`,
  loginRe: /^\/plain\/login\?/,
  async open(context, demo) {
    // Log in once in one tab (it goes to /plain/), then open every tab on its own path.
    const first = await context.newPage();
    await first.goto(`${demo.appOrigin}/plain/login`);
    await first.waitForFunction(() => window.plain, null, { polling: 20 });
    await Promise.all([first.waitForURL(`${demo.appOrigin}/plain/`), first.evaluate(() => void window.plain.login())]);
    await first.goto(`${demo.appOrigin}${this.path(0)}`);
    const rest = await Promise.all(Array.from({ length: TABS - 1 }, () => context.newPage()));
    await Promise.all(rest.map((p, i) => p.goto(`${demo.appOrigin}${this.path(i + 1)}`)));
    return [first, ...rest];
  },
  ready: (p) => p.evaluate(() => !!window.plain),
  loggedIn: (p) => p.evaluate(() => !!window.plain && window.plain.loggedIn() && location.pathname !== "/plain/login"),
  login: (p) =>
    p.evaluate(async () => {
      const t = performance.timeOrigin + performance.now();
      void window.plain.login(); // not awaited, as Lockstep's above
      return t;
    }),
  startLoop: (p) => p.evaluate((burst) => void window.plain.startLoop(burst), BURST),
  looping: (p) => p.evaluate(() => window.plain.loop.ok > 0),
};

/** Zeroes the counters; keeps the --no-refresh config (a reset drops it). */
async function reset(demo) {
  await demo.reset();
  if (NO_REFRESH) {
    const cfg = JSON.parse((await httpsFetch(`${demo.appOrigin}/lockstep.config.json`)).body);
    delete cfg.refresh;
    cfg.apis[0].origin = "{{API_ORIGIN}}";
    await demo.setConfig(cfg);
  }
}

async function run(app, demo, browser) {
  await reset(demo);
  const context = await browser.newContext();
  await context.addInitScript(TIMELINE);
  const pages = await app.open(context, demo);
  for (const p of pages) p.__api = demo.apiOrigin;
  await waitFor(() => every(pages, app.ready), { interval: 100, timeout: 60_000, message: `${app.name}: tabs ready` });
  if (!(await every(pages, app.loggedIn))) {
    await app.login(pages[0]);
    await waitFor(() => every(pages, app.loggedIn), { interval: 100, timeout: 30_000, message: `${app.name}: logged in` });
  }
  const trials = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    await Promise.all(pages.map(app.startLoop));
    await waitFor(() => every(pages, app.looping), { interval: 50, timeout: 30_000, message: `${app.name}: loops running` });
    await reset(demo);
    await demo.revokeAll();
    await waitFor(() => every(pages, (p, i) => {
      const u = new URL(p.url());
      return app.loginRe.test(u.pathname + u.search) && u.searchParams.get("returnTo") === app.path(i);
    }), { interval: 50, timeout: 30_000, message: `${app.name}: every tab on its login page` });
    await waitFor(() => every(pages, app.ready), { interval: 50, timeout: 30_000, message: `${app.name}: login pages ready` });
    const storm = await demo.counters();
    const t401 = storm.first401At;
    const toLogin = await Promise.all(pages.map(async (p) => (await arrivedAt(p, app.loginRe, t401)) - t401));
    // Let every late answer land, then count again: the storm is over once all tabs sit still.
    const settled = await demo.counters();

    const tLogin = await app.login(pages[trial % TABS]);
    await waitFor(() => every(pages, async (p, i) => new URL(p.url()).pathname === app.path(i) && (await app.loggedIn(p))), {
      interval: 50, timeout: 30_000, message: `${app.name}: every tab back`,
    });
    const back = await Promise.all(pages.map((p, i) => arrivedAt(p, new RegExp(`^${app.path(i)}$`), tLogin).then((t) => t - tLogin)));
    trials.push({ storm: settled, toLogin, back });
  }
  await closeContext(context);
  return trials;
}

function report(app, trials) {
  const all = (k) => trials.flatMap((t) => t[k]);
  const last = (k) => trials.map((t) => Math.max(...t[k]));
  const sum = (k) => trials.map((t) => t.storm[k]);
  const fmt = (xs) => `${xs.join(" ")}  (mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)})`;
  console.log(`\n== ${app.name}: ${TABS} tabs × bursts of ${BURST}, ${TRIALS} trials`);
  console.log(`first 401 → tab on login page   all tabs  p50 ${ms(pct(all("toLogin"), 50))}  p99 ${ms(pct(all("toLogin"), 99))}`);
  console.log(`                                last tab  p50 ${ms(pct(last("toLogin"), 50))}  p99 ${ms(pct(last("toLogin"), 99))}`);
  console.log(`login → tab back at its URL     all tabs  p50 ${ms(pct(all("back"), 50))}  p99 ${ms(pct(all("back"), 99))}`);
  console.log(`                                last tab  p50 ${ms(pct(last("back"), 50))}  p99 ${ms(pct(last("back"), 99))}`);
  console.log(`API requests after revoke-all   ${fmt(sum("apiAfterRevoke"))}`);
  console.log(`  of which after the first 401  ${fmt(sum("apiAfterFirst401"))}`);
  console.log(`401s sent by the API            ${fmt(sum("api401"))}`);
  console.log(`refresh grants                  ${fmt(sum("refresh"))}`);
  console.log(`logout calls                    ${fmt(sum("logout"))}`);
}

const demo = await startDemo({ testHooks: true });
const browser = await launchBrowser();
try {
  console.log(`storm benchmark: ${TABS} tabs × bursts of ${BURST} requests, ${TRIALS} trials${NO_REFRESH ? ", Lockstep config without refresh" : ""}, Chromium headless, demo on ${demo.appOrigin}`);
  const results = [];
  for (const app of [lockstep, plain]) results.push([app, await run(app, demo, browser)]);
  for (const [app, trials] of results) report(app, trials);
  console.log(`\n(requests in flight at the first 401 are counted too: up to ${TABS} × ${BURST}; e2e/storm.test.mjs`);
  console.log(" measures the requests *started* after the first 401 exactly: 0.)");
  console.log(`load average at the end: ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")} (shared machine)`);
  // One JSON line for bench/perf.mjs's report.
  const summary = {};
  for (const [app, trials] of results) {
    const all = (k) => trials.flatMap((t) => t[k]);
    const sum = (k) => trials.reduce((a, t) => a + t.storm[k], 0);
    summary[app === lockstep ? "lockstep" : "plain"] = {
      toLoginP99: +pct(all("toLogin"), 99).toFixed(0), backP99: +pct(all("back"), 99).toFixed(0),
      apiAfterFirst401: sum("apiAfterFirst401"), refresh: sum("refresh"), logout: sum("logout"), trials: trials.length,
    };
  }
  console.log(JSON.stringify({ tabs: TABS, burst: BURST, ...summary }));
} finally {
  await browser.close();
  await demo.stop();
}
