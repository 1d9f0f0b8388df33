// Foundation: over trusted mkcert HTTPS the demo app is controlled by the Lockstep worker,
// the wasm answers its diagnostics route, and a stopped worker is started again by the next
// request and answers it.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cdp, demoConfig, launchBrowser, openTabs, recordConsole, startDemo, waitControlled, waitFor, closeContext } from "./harness.mjs";

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

/** Runs in the page: the worker's diagnostics route. */
async function fetchState() {
  const res = await fetch("/__lockstep/state", { cache: "no-store" });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // reported below
  }
  return { status: res.status, contentType: res.headers.get("content-type"), text, body };
}

/** Requests for the diagnostics route that reached the demo server (it must be none). */
/** Requests the server saw for paths ending in `suffix`. */
async function serverSaw(suffix) {
  const { requests = {} } = await demo.counters();
  return Object.entries(requests)
    .filter(([key]) => key.split(" ")[2]?.endsWith(suffix))
    .reduce((sum, [, n]) => sum + n, 0);
}

function assertStateAnswer(answer) {
  assert.equal(answer.status, 200, `GET /__lockstep/state: ${answer.status} ${answer.text.slice(0, 300)}`);
  assert.ok(answer.body && typeof answer.body === "object", `not JSON: ${answer.text.slice(0, 300)}`);
  assert.ok("state" in answer.body, `no "state" field: ${answer.text.slice(0, 300)}`);
  assert.match(answer.body.state?.status ?? "", /^logged-(in|out)$/);
  assert.equal(typeof answer.body.now, "number");
}

test("over mkcert HTTPS the app page becomes controlled by the Lockstep worker", async () => {
  const context = await browser.newContext();
  try {
    const [page] = await openTabs(context, `${demo.appOrigin}/app1/`, 1);
    const logs = recordConsole(page);
    // The certificate is trusted (no ignoreHTTPSErrors): the page loaded as a secure context.
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    const scriptURL = await waitControlled(page).catch((err) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    assert.equal(new URL(scriptURL).origin, demo.appOrigin);
    assert.equal(new URL(scriptURL).pathname, "/lockstep-sw.js");
  } finally {
    await closeContext(context);
  }
});

test("the wasm answers /__lockstep/state, and again after the worker was stopped", async () => {
  const context = await browser.newContext();
  try {
    const [page] = await openTabs(context, `${demo.appOrigin}/app1/`, 1);
    const logs = recordConsole(page);
    await waitControlled(page);
    const sw = await cdp(page);
    await sw.enable();
    await demo.reset();

    const first = await page.evaluate(fetchState);
    assertStateAnswer(first);
    await sw.waitForStatus("running");

    await sw.stopAllWorkers();
    // Really stopped: DevTools reports every active version as stopped.
    await sw.waitForStatus("stopped");

    // The next request starts a fresh worker, which loads its wasm and answers.
    const second = await page.evaluate(fetchState).catch((err) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    assertStateAnswer(second);
    await sw.waitForStatus("running");
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller !== null), true);

    // Both answers came from the worker: the server never saw the route. The restarted
    // worker took its module and config from what it stored: nothing downloaded again.
    assert.equal(await serverSaw("/__lockstep/state"), 0);
    assert.equal(await serverSaw("/lockstep_bg.wasm"), 0, "the module is not downloaded again");
    assert.equal(await serverSaw("/lockstep.config.json"), 0, "the config is not downloaded again");
    await sw.detach();
  } finally {
    await closeContext(context);
  }
});

/** Runs in the page: `Lockstep.start` as an app calls it; its session's status, or its error. */
async function startLockstep() {
  const { Lockstep } = await import("/lockstep/lockstep-client.js");
  try {
    const session = await Lockstep.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json", timeoutMs: 10_000 });
    return { status: session.state.status };
  } catch (e) {
    return { code: e.code, message: e.message };
  }
}

/** The config text the worker keeps in IndexedDB for its restarts (`null`: none). */
const storedConfig = (page) => page.evaluate(() => new Promise((resolve, reject) => {
  const open = indexedDB.open("lockstep", 1); // as the worker opens it
  open.onupgradeneeded = () => open.result.createObjectStore("state");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const get = db.transaction("state").objectStore("state").get(`config:${new URL("/lockstep.config.json", location.href).href}`);
    get.onsuccess = () => { db.close(); resolve(get.result ?? null); };
    get.onerror = () => { db.close(); reject(get.error); };
  };
}));

test("a config the worker refuses: start() rejects with bad-config naming the field; once the server's config is mended, the next start works (the refused copy was not kept)", async () => {
  await demo.reset();
  await demo.setConfig({ loginUrl: "/login", apis: [{ origin: "http://api.example.test" }] }); // http: is refused
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const logs = recordConsole(page);
    await page.goto(`${demo.appOrigin}/`);
    const refused = await page.evaluate(startLockstep);
    assert.equal(refused.code, "bad-config", `${JSON.stringify(refused)}\n${logs()}`);
    assert.match(refused.message, /apis\[0\]\.origin/, "the error names the field");
    assert.equal(await storedConfig(page), null, "the refused config was not stored");

    // Mended on the server (with a cross-site marker cookie, whose events the worker subscribes
    // to at activation: that activation happened under the refused config). The worker script
    // did not change, so the browser installs nothing new: the running worker must fetch the
    // config again rather than start from a stored copy.
    const subscriptions = () => page.evaluate(async () =>
      (await (await navigator.serviceWorker.getRegistration()).cookies.getSubscriptions()).map((s) => s.name));
    assert.deepEqual(await subscriptions(), []);
    await demo.setConfig(demoConfig({ crossSite: { cookieName: "lockstep_mended", cookieDomain: "localhost" } }));
    const mended = await waitFor(async () => {
      await page.reload();
      const r = await page.evaluate(startLockstep);
      return r.status && r;
    }, { message: "a start under the mended config", interval: 500, timeout: 20_000 });
    assert.equal(mended.status, "logged-out");
    await waitFor(async () => (await subscriptions()).includes("lockstep_mended"), { message: "the marker cookie subscribed" });
    assert.equal(JSON.parse(await storedConfig(page)).crossSite.cookieName, "lockstep_mended", "the mended config was stored");

    // And a restarted worker starts from the config it kept: the good one.
    const sw = await cdp(page);
    await sw.enable();
    await sw.stopAllWorkers();
    await sw.waitForStatus("stopped");
    await page.reload();
    assert.deepEqual(await page.evaluate(startLockstep), { status: "logged-out" }, logs());
    await sw.detach();
  } finally {
    await closeContext(context);
    await demo.reset();
  }
});

test("the demo server's test hooks answer over trusted HTTPS", async () => {
  await demo.reset();
  const counters = await waitFor(() => demo.counters(), { message: "counters" });
  assert.equal(typeof counters.requests, "object");
  assert.equal(typeof counters.login, "number");
});
