// An app's own service worker that pulls Lockstep in with `importScripts` (SPEC, "Architecture";
// README, "Already have a service worker?"): the page is controlled by the app's worker, the
// login's tokens stay in it, the API gets the bearer, a logout blocks the API, and the app's
// own fetch routes keep answering: those of a listener before Lockstep's also in the restart
// window of a stopped worker (README, "Already have a service worker?").

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT, cdp, closeContext, demoConfig, httpsFetch, jsonLogin, launchBrowser, recordConsole, startDemo, waitControlled, waitFor } from "./harness.mjs";

// The app's worker: its own route first, then Lockstep. `respondWith` stops the event's
// propagation (Service Workers spec), so Lockstep's listener, which would hold the request
// while a restarted worker loads, never sees it.
const OWN_WORKER = `
addEventListener("fetch", (event) => {
  if (new URL(event.request.url).pathname === "/own/ping") event.respondWith(new Response("pong from the app's worker"));
});
self.LOCKSTEP = { config: "/lockstep.config.json", base: "/lockstep/" };
importScripts("/lockstep/lockstep-sw.js");
// A listener after Lockstep's: it answers its own route while the worker is live, and never
// sees a request Lockstep answered (its respondWith stopped the event).
let sawTaken = 0;
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.pathname.startsWith("/v1/") || url.pathname === "/api/login") sawTaken++;
  if (url.pathname === "/own/late") event.respondWith(new Response("late: " + sawTaken));
});
`;
const OWN_PAGE = `<!doctype html><meta charset="utf-8"><title>own worker</title>
<script type="module">
import { Lockstep } from "/lockstep/lockstep-client.js";
window.started = Lockstep.start({ sw: "/own-sw.js", config: "/lockstep.config.json" })
  .then((s) => { window.session = s; return s.state.status; }, (e) => "error " + e.code + ": " + e.message);
</script>`;

let demo;
let browser;
let dir;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "lockstep-own-worker-"));
  cpSync(path.join(ROOT, "demo", "static"), dir, { recursive: true });
  writeFileSync(path.join(dir, "own-sw.js"), OWN_WORKER);
  writeFileSync(path.join(dir, "own.html"), OWN_PAGE);
  demo = await startDemo({ testHooks: true, args: ["--static", dir] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ping = (page) => page.evaluate(async () => (await fetch("/own/ping")).text());
const callApi = (page) => page.evaluate(async (api) => {
  const res = await fetch(`${api}/v1/me`);
  return { status: res.status, blocked: res.headers.get("lockstep-blocked") };
}, demo.apiOrigin);
const status = (page) => page.evaluate(() => window.session.state.status);

test("Lockstep pulled into the app's own worker with importScripts: custody, bearer, logout, and the app's own routes, through a restart", async () => {
  await demo.reset();
  // The page is its own login page, so that no end of session takes it elsewhere.
  await demo.setConfig(demoConfig({ loginUrl: "/own.html" }));
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const logs = recordConsole(page);
    await page.goto(`${demo.appOrigin}/own.html`);
    assert.equal(await page.evaluate(() => window.started), "logged-out", logs());
    assert.equal(new URL(await waitControlled(page)).pathname, "/own-sw.js", "controlled by the app's worker");
    assert.equal(await ping(page), "pong from the app's worker");

    const answer = await jsonLogin(page);
    assert.equal(answer.status, 200, answer.text);
    const issued = JSON.parse((await httpsFetch(`${demo.appOrigin}/__test/last-tokens`)).body);
    for (const t of [issued.access_token, issued.refresh_token]) {
      assert.ok(typeof t === "string" && t.length > 8 && !answer.text.includes(t), `a token reached the page: ${answer.text}`);
    }
    await waitFor(async () => (await status(page)) === "logged-in", { message: "logged in" });
    assert.deepEqual(await callApi(page), { status: 200, blocked: null }, "the API got the bearer");
    assert.equal(await page.evaluate(async () => (await fetch("/own/late")).text()), "late: 0",
      "a later listener answers its own route, and saw none of the requests Lockstep answered");

    // Stopped, then woken by the app's own route: the app answers it, not the network.
    const sw = await cdp(page);
    await sw.enable();
    await sw.stopAllWorkers();
    await sw.waitForStatus("stopped");
    assert.equal(await ping(page), "pong from the app's worker");
    assert.deepEqual(await callApi(page), { status: 200, blocked: null }, "the restarted worker still attaches the bearer");
    await sw.detach();

    await page.evaluate(() => window.session.logout());
    await waitFor(async () => (await status(page)) === "logged-out", { message: "logged out" });
    assert.deepEqual(await callApi(page), { status: 401, blocked: "1" });
    await waitFor(async () => (await demo.counters()).logout === 1, { message: "one logout call" });
  } finally {
    await closeContext(context);
    await demo.reset();
  }
});
