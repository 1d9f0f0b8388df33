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

import https from "node:https";
import { launchBrowser, tlsOptions, waitFor } from "../e2e/harness.mjs";

const TABS = Number(process.env.BENCH_TABS ?? 20);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 30);
const MODES = ["client", "port", "channel", "storage"];

const WORKER = `
const ports = new Map();
addEventListener("install", () => skipWaiting());
addEventListener("activate", (e) => e.waitUntil(clients.claim()));
addEventListener("message", (e) => {
  const d = e.data;
  if (d.type === "port") return void ports.set(e.source.id, e.ports[0]);
  const msg = { n: d.n };
  if (d.mode === "client") {
    e.waitUntil(clients.matchAll({ includeUncontrolled: true, type: "window" }).then((list) => {
      for (const c of list) c.postMessage(msg);
    }));
  } else if (d.mode === "port") {
    for (const p of ports.values()) p.postMessage(msg);
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

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

async function main() {
  const server = https.createServer(tlsOptions(), (req, res) => {
    const worker = req.url === "/sw.js";
    res.writeHead(200, { "content-type": worker ? "text/javascript" : "text/html; charset=utf-8", "cache-control": "no-cache" });
    res.end(worker ? WORKER : PAGE);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `https://localhost:${server.address().port}`;
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
    console.log(JSON.stringify({ tabs: TABS, trials: TRIALS, ...out }));
  } finally {
    await close();
    server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
