// Fan-out benchmark (prints figures; not a test): how fast can a service worker reach N open
// tabs, by each way it has? Not Lockstep: a 20-line worker on a bare HTTPS origin, so the
// figure is the browser's own, and it says which transport Lockstep's news should take.
//
//   NODE_EXTRA_CA_CERTS=$(mkcert -CAROOT)/rootCA.pem node bench/fanout.mjs
//   BENCH_TABS=20 BENCH_TRIALS=30 (defaults)
//
// Per trial, one tab asks the worker (or writes localStorage), and the figure is the time
// until the LAST of the other tabs had the message (performance.timeOrigin + performance.now()
// in each tab). The transports rotate trial by trial:
//   client   clients.matchAll() then client.postMessage to each (how Lockstep reached its
//            tabs before it used their ports; still its way to a tab whose port it lacks)
//   port     postMessage on a MessagePort each tab gave the worker (Lockstep's reply ports)
//   channel  one BroadcastChannel post from the worker (untrusted: any same-origin script
//            can post there, so Lockstep's tabs take it only as a hint)
//   storage  localStorage written by the tab itself (no worker; the `storage` event)
//
// That first part runs under Playwright: every tab has a DevTools client and is kept visible.
// The second part ("no DevTools") is the floor beneath bench/propagation.mjs's headline figure,
// under that figure's own conditions: Chromium started with no DevTools client, 19 of 20 tabs
// in the background, the pages driving themselves and reporting to this server, a quiet
// machine before each trigger, and the time until the last of ALL 20 tabs (the sender too)
// had the message. Its two kinds alternate:
//   port         the same bare worker's ports, to pages that stay
//   port+reload  the same, and every page reloads 50 ms after the message, as Lockstep's
//                tabs leave for the login page and come back: each trial reaches fresh pages
//   BENCH_UNATTENDED_TRIALS=100 (default, of each kind); BENCH_UNATTENDED_ONLY=1 runs it alone.

import https from "node:https";
import { launchBrowser, tlsOptions, waitFor } from "../e2e/harness.mjs";
import { drivenRun, figures, machineQuiet, notQuiet, quantile, startUnattended } from "./unattended.mjs";

const TABS = Number(process.env.BENCH_TABS ?? 20);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 30);
const MODES = ["client", "port", "channel", "storage"];
const UNATTENDED_TRIALS = Number(process.env.BENCH_UNATTENDED_TRIALS ?? 100);
// The no-DevTools part's kinds, alternating. BENCH_FANOUT_COSTS=1: instead, what each of
// Lockstep's other steps adds to the bare fan-out to fresh pages (every kind reloads).
const UNATTENDED_KINDS = process.env.BENCH_FANOUT_COSTS
  ? [
    { name: "bare", reload: true },
    { name: "+write", reload: true, extra: { idb: true } },
    { name: "+matchAll", reload: true, extra: { matchAll: true } },
    { name: "+fetch", reload: true, extra: { fetch: true } },
    { name: "+channel", reload: true, extra: { channel: true } },
    { name: "+text", reload: true, extra: { text: true } },
    { name: "+0.25ms/tab", reload: true, extra: { busy: 0.25 } },
    { name: "+all", reload: true, extra: { idb: true, matchAll: true, fetch: true, channel: true, text: true, busy: 0.25 } },
  ]
  : [{ name: "port" }, { name: "port+reload", reload: true }];
const WARMUP_TRIGGERS = 4;

const WORKER = `
const ports = new Map();
const PAD = "x".repeat(400); // about the size of a Lockstep state message
// One IndexedDB write, on a connection of its own, as Lockstep's bootstrap makes it.
const write = (n) => {
  const open = indexedDB.open("fanout", 1);
  open.onupgradeneeded = () => open.result.createObjectStore("state");
  open.onsuccess = () => {
    const tx = open.result.transaction("state", "readwrite");
    tx.objectStore("state").put(JSON.stringify({ n, text: PAD }), "session");
    tx.oncomplete = tx.onabort = () => open.result.close();
  };
};
addEventListener("install", () => skipWaiting());
addEventListener("activate", (e) => e.waitUntil(clients.claim()));
addEventListener("message", (e) => {
  const d = e.data;
  if (d.type === "port" && d.tab != null) { // no DevTools part: one port per tab, acknowledged
    ports.set(d.tab, e.ports[0]);
    return void e.ports[0].postMessage("ok");
  }
  if (d.type === "port") return void ports.set(e.source.id, e.ports[0]);
  const x = d.extra ?? {}; // the no-DevTools part's cost kinds: Lockstep's other steps, one by one
  const msg = { n: d.n, reload: !!d.reload, busy: x.busy ?? 0 };
  if (x.idb) write(d.n); // started before the posts, not awaited, as Lockstep's own write

  if (d.mode === "client") {
    e.waitUntil(clients.matchAll({ includeUncontrolled: true, type: "window" }).then((list) => {
      for (const c of list) c.postMessage(msg);
    }));
  } else if (d.mode === "port") {
    // A message per tab, written as it is posted (Lockstep writes each tab's own).
    for (const p of ports.values()) p.postMessage(x.text ? JSON.stringify({ ...msg, text: PAD }) : msg);
    if (x.matchAll) e.waitUntil(clients.matchAll({ includeUncontrolled: true, type: "window" }));
    if (x.fetch) e.waitUntil(fetch("/logout", { method: "POST", body: "{}" }));
    if (x.channel) {
      const b = new BroadcastChannel("lockstep");
      b.postMessage(JSON.stringify({ ...msg, text: PAD }));
      b.close();
    }
  } else if (d.mode === "channel") {
    const b = new BroadcastChannel("fanout");
    b.postMessage(msg);
    b.close();
  }
});`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>fan-out</title><script>
window.__seen = [];
const seen = (d) => window.__seen.push({ n: d.n, t: performance.timeOrigin + performance.now() });
navigator.serviceWorker.addEventListener("message", (e) => seen(e.data));
navigator.serviceWorker.startMessages();
new BroadcastChannel("fanout").onmessage = (e) => seen(e.data);
addEventListener("storage", (e) => { if (e.key === "fanout") seen(JSON.parse(e.newValue)); });
navigator.serviceWorker.register("/sw.js");
navigator.serviceWorker.ready.then(async () => {
  while (!navigator.serviceWorker.controller) await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = (e) => seen(e.data);
  navigator.serviceWorker.controller.postMessage({ type: "port" }, [port2]);
  window.__ready = true;
});
</script>`;


// The no-DevTools part's page: gives the worker its port, records each message in memory,
// keeps the record in sessionStorage when it leaves, and reports to this server (same origin;
// the bare worker has no fetch handler) on each load or 500 ms after a message it stays for.
// Tab 0 then asks what to do next, and does it.
const SELF_DRIVEN = `<!doctype html><meta charset="utf-8"><title>fan-out, no DevTools</title><script>
const tab = Number(new URLSearchParams(location.search).get("tab"));
const kept = (key) => JSON.parse(sessionStorage.getItem(key) ?? "[]");
const seen = [];
const keep = () => sessionStorage.setItem("seen", JSON.stringify(kept("seen").concat(seen.splice(0))));
addEventListener("pagehide", keep);
let leaving = false;
function got(d) {
  if (typeof d === "string") d = JSON.parse(d);
  for (const end = performance.now() + d.busy; performance.now() < end;); // a client's own work
  seen.push({ n: d.n, t: performance.timeOrigin + performance.now() });
  if (!d.reload) setTimeout(report, 500);
  else if (!leaving) { leaving = true; setTimeout(() => location.reload(), 50); }
}
async function report() {
  keep();
  await fetch("/ready", { method: "POST", body: JSON.stringify({ tab, seen: kept("seen"), t0: kept("t0") }) });
  if (tab !== 0) return;
  const next = await (await fetch("/next")).json();
  if (next.do !== "go") return;
  sessionStorage.setItem("t0", JSON.stringify(kept("t0").concat({ n: next.n, t: performance.timeOrigin + performance.now() })));
  navigator.serviceWorker.controller.postMessage({ type: "go", mode: "port", n: next.n, reload: next.reload, extra: next.extra });
}
navigator.serviceWorker.register("/sw.js");
navigator.serviceWorker.ready.then(async () => {
  while (!navigator.serviceWorker.controller) await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
  const { port1, port2 } = new MessageChannel();
  await new Promise((given) => {
    port1.onmessage = (e) => (e.data === "ok" ? given() : got(e.data));
    navigator.serviceWorker.controller.postMessage({ type: "port", tab }, [port2]);
  });
  report();
});
</script>`;

/**
 * The no-DevTools part: `trials` of each of UNATTENDED_KINDS, alternating, after
 * WARMUP_TRIGGERS untimed ones; per trial the time from tab 0's post to the last of all
 * TABS tabs having the message.
 */
async function benchUnattended(origin, routes, trials) {
  const reports = new Map(); // tab → the n it last saw, at its last report
  const seenBy = new Map(); // tab → (n → when it had the message)
  const sentAt = new Map(); // n → tab 0's post
  const kinds = new Map(); // n → its kind
  let n = 0;
  let pending = null; // tab 0's open /next
  let busy = false;
  const { finished, finish, fail, take } = drivenRun();
  let progress = Date.now();
  const step = async () => {
    if (!pending || busy || reports.size < TABS || ![...reports.values()].every((last) => last === n)) return;
    busy = true;
    try {
      const done = n >= WARMUP_TRIGGERS + UNATTENDED_KINDS.length * trials;
      if (!done) await machineQuiet();
      const res = pending;
      pending = null;
      progress = Date.now();
      if (done) {
        res.end(JSON.stringify({ do: "done" }));
        return finish();
      }
      n++;
      const kind = UNATTENDED_KINDS[n % UNATTENDED_KINDS.length];
      kinds.set(n, kind.name);
      res.end(JSON.stringify({ do: "go", n, reload: !!kind.reload, extra: kind.extra }));
    } finally {
      busy = false;
    }
  };
  routes["/u.html"] = (req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" });
    res.end(SELF_DRIVEN);
  };
  routes["/ready"] = (req, res) => take(req, res, (r) => {
    const mine = seenBy.get(r.tab) ?? new Map();
    for (const { n: k, t } of r.seen) if (!(mine.get(k) <= t)) mine.set(k, t);
    seenBy.set(r.tab, mine);
    for (const { n: k, t } of r.t0) sentAt.set(k, t);
    reports.set(r.tab, Math.max(0, ...mine.keys()));
    step().catch(fail);
  });
  routes["/logout"] = (req, res) => {
    req.resume();
    req.on("end", () => res.end("{}"));
  };
  routes["/next"] = (req, res) => {
    pending?.end(JSON.stringify({ do: "wait" })); // a page that left: its successor asks again
    pending = res;
    step().catch(fail);
  };
  const stuck = setInterval(() => {
    if (Date.now() - progress > 60_000) fail(new Error(`no-DevTools fan-out stuck at trigger ${n}; tabs at ${[...reports.values()].join(" ")}`));
  }, 1000);
  const chromium = await startUnattended().catch((e) => { clearInterval(stuck); throw e; });
  try {
    await chromium.open(`${origin}/u.html?tab=0`);
    // The first tab installs the worker; the others then start under it (see the first part).
    await waitFor(() => reports.has(0), { message: "first tab controlled", interval: 100, timeout: 60_000 });
    for (let i = 1; i < TABS; i++) await chromium.open(`${origin}/u.html?tab=${i}`);
    await finished;
  } finally {
    clearInterval(stuck);
    await chromium.close();
  }
  const worst = Object.fromEntries(UNATTENDED_KINDS.map((k) => [k.name, []]));
  for (let k = WARMUP_TRIGGERS + 1; k <= n; k++) {
    const seen = [...seenBy.values()].map((m) => m.get(k));
    if (!(sentAt.get(k) > 0) || seen.length < TABS || seen.some((t) => t == null)) {
      throw new Error(`no-DevTools fan-out, trigger ${k}: ${seen.filter((t) => t == null).length} tabs never had it`);
    }
    worst[kinds.get(k)].push(Math.max(...seen) - sentAt.get(k));
  }
  return worst;
}

async function main() {
  const routes = {};
  const server = https.createServer(tlsOptions(), (req, res) => {
    const route = routes[new URL(req.url, "https://fanout.invalid").pathname];
    if (route) return route(req, res);
    const worker = req.url === "/sw.js";
    res.writeHead(200, { "content-type": worker ? "text/javascript" : "text/html; charset=utf-8", "cache-control": "no-cache" });
    res.end(worker ? WORKER : PAGE);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `https://localhost:${server.address().port}`;
  // First, before Playwright's browser exists: nothing else runs on the machine.
  const started = Date.now();
  const alone = await benchUnattended(origin, routes, UNATTENDED_TRIALS);
  const unattended = { trials: UNATTENDED_TRIALS, ...Object.fromEntries(Object.entries(alone).map(([k, w]) => [k, figures(w)])), triggersWithoutQuiet: notQuiet.count };
  console.log(`\nFan-out from a bare worker's ports to all ${TABS} tabs, no DevTools, ${TABS - 1} tabs in the background, until the last tab had it (ms; ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  for (const name of Object.keys(alone)) {
    const f = unattended[name];
    console.log(`${name.padEnd(12)} ${UNATTENDED_TRIALS} trials: p50 ${f.p50} p99 ${f.p99} (95% interval ${f.p99Interval.join("-")}) max ${f.max}`);
  }
  console.log(`Each trigger waited for a quiet machine; ${notQuiet.count} went ahead without one.`);
  if (process.env.BENCH_UNATTENDED_ONLY) {
    console.log(JSON.stringify({ tabs: TABS, unattended }));
    server.close();
    return;
  }
  const { browser, close } = await launchBrowser();
  try {
    const context = await browser.newContext();
    const tabs = [];
    for (let i = 0; i < TABS; i++) {
      const p = await context.newPage();
      await p.goto(`${origin}/?tab=${i}`);
      tabs.push(p);
      // The first tab installs the worker; the others start under it. A page still loading
      // when the worker claims its clients is skipped by `clients.claim()` (it is not yet
      // execution ready) and, having started before there was an active worker, stays
      // uncontrolled: the setup then timed out now and then.
      if (i === 0) await waitFor(() => p.evaluate(() => !!window.__ready), { message: "first tab controlled", timeout: 30_000 });
    }
    await waitFor(async () => (await Promise.all(tabs.map((p) => p.evaluate(() => !!window.__ready)))).every(Boolean),
      { message: "every tab controlled, its port given", timeout: 30_000 });
    const last = Object.fromEntries(MODES.map((m) => [m, []]));
    let n = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const mode of MODES) {
        n++;
        const from = tabs[n % TABS];
        const t0 = await from.evaluate(({ n, mode }) => {
          const t = performance.timeOrigin + performance.now();
          if (mode === "storage") localStorage.setItem("fanout", JSON.stringify({ n }));
          else navigator.serviceWorker.controller.postMessage({ type: "go", n, mode });
          return t;
        }, { n, mode });
        // The sender hears its own worker message but not its own storage or channel post.
        const others = tabs.filter((p) => p !== from);
        const seen = await waitFor(async () => {
          const ts = await Promise.all(others.map((p) => p.evaluate((n) => window.__seen.find((r) => r.n === n)?.t ?? null, n)));
          return ts.every((t) => t != null) && ts;
        }, { message: `${mode} trial ${trial}`, interval: 100, delay: 100, timeout: 20_000 }); // first look after the news spread
        last[mode].push(Math.max(...seen) - t0);
      }
    }
    await context.close();
    const q = (xs) => ({ p50: +quantile(xs, 0.5).toFixed(1), p90: +quantile(xs, 0.9).toFixed(1), max: +Math.max(...xs).toFixed(1) });
    console.log(`\nFan-out from a service worker to ${TABS - 1} other tabs, ${TRIALS} trials each, until the last tab had it (ms)\n`);
    console.log(`${"transport".padEnd(10)}${"p50".padStart(8)}${"p90".padStart(8)}${"max".padStart(8)}`);
    const out = {};
    for (const m of MODES) {
      out[m] = q(last[m]);
      console.log(`${m.padEnd(10)}${String(out[m].p50).padStart(8)}${String(out[m].p90).padStart(8)}${String(out[m].max).padStart(8)}`);
    }
    console.log(JSON.stringify({ tabs: TABS, trials: TRIALS, ...out, unattended }));
  } finally {
    await close();
    server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
