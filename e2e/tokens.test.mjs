// Token custody, end to end: page script never finds a token; only the configured API
// origin receives the bearer; ten tabs share one refresh; a malformed token response is a
// clear error that changes nothing; a worker that lost its memory-held tokens refreshes
// through the HttpOnly refresh cookie.
//
// Everything is counted at the demo server (test hooks, docs/DEMO-SERVER.md), and the real
// tokens to look for come from the server too (`GET /__test/last-tokens`).
//
// The look-alike API host `api.example.test.evil.test` is not covered by the shared
// certificate (`*.example.test` spans one label), so this suite issues its own certificate
// with mkcert (same trusted CA) for the names it uses, and starts its demo with it.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { cdp, httpsFetch, launchBrowser, openTabs, recordConsole, startDemo, waitControlled, waitFor, demoConfig, closeContext } from "./harness.mjs";

const LOOKALIKE = "api.example.test.evil.test";
const CERT_NAMES = ["localhost", "127.0.0.1", "::1", "*.example.test", "app1.example.test", "api.example.test", LOOKALIKE];

let demo;
let browser;
let certDir;

before(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), "lockstep-tokens-cert-"));
  const cert = path.join(certDir, "cert.pem");
  const key = path.join(certDir, "key.pem");
  execFileSync("mkcert", ["-cert-file", cert, "-key-file", key, ...CERT_NAMES], { stdio: "ignore" });
  demo = await startDemo({ testHooks: true, quiet: process.env.LOCKSTEP_E2E_VERBOSE !== "1", args: ["--cert", cert, "--key", key] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

const hook = async (method, p, body) => {
  const res = await httpsFetch(`${demo.appOrigin}${p}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.status < 300, `${method} ${p}: ${res.status} ${res.body}`);
  return res.body ? res.json() : null;
};

/** The default demo config with `over` merged in (API origin by placeholder unless given). */
/** The demo config with `over` merged in (one definition, in the harness). */
const config = demoConfig;

/** A fresh context (its own worker) whose first page loads with `cfg`; `n` tabs on `url`. */
async function setup(cfg, { url = `${demo.appOrigin}/app1/`, n = 1 } = {}) {
  await demo.reset();
  await demo.setConfig(cfg);
  const context = await browser.newContext();
  const pages = await openTabs(context, url, n);
  const logs = pages.map((p) => recordConsole(p));
  await Promise.all(pages.map((p) => waitControlled(p)));
  await Promise.all(pages.map((p) => p.waitForFunction(() => window.demo?.session?.state, null, { polling: 20 })));
  return { context, pages, logs: () => logs.map((l) => l()).join("\n") };
}

const state = (page) => page.evaluate(() => window.demo.session.state);
const waitStatus = (page, status, message = status) =>
  waitFor(async () => (await state(page)).status === status, { message: `tab ${message}` });

/** Logs in from the page with the app's own fetch; resolves to what the page saw. */
const jsonLogin = (page, username = "ada", password = "lovelace") =>
  page.evaluate(async ([u, p]) => {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: u, password: p }),
    });
    return { status: res.status, headers: [...res.headers].join("\n"), text: await res.text() };
  }, [username, password]);

/** Runs in the page: everything page script can read, as one string. */
async function everythingPageScriptSees(seen) {
  const parts = [...seen];
  parts.push(document.cookie, document.documentElement.outerHTML);
  for (const store of [localStorage, sessionStorage]) {
    for (let i = 0; i < store.length; i++) parts.push(store.key(i), store.getItem(store.key(i)));
  }
  // Every IndexedDB database of the origin, every store, every record (the worker's too).
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((resolve, reject) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    for (const storeName of db.objectStoreNames) {
      const tx = db.transaction(storeName, "readonly");
      const store = tx.objectStore(storeName);
      const [keys, values] = await Promise.all(
        [store.getAllKeys(), store.getAll()].map((r) => new Promise((ok) => { r.onsuccess = () => ok(r.result); })),
      );
      parts.push(name, storeName, JSON.stringify(keys), JSON.stringify(values));
    }
    db.close();
  }
  // Cache Storage (the worker keeps its config there).
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const req of await cache.keys()) parts.push(req.url, await (await cache.match(req)).text());
  }
  // The worker's diagnostics route and the session object.
  parts.push(await (await fetch("/__lockstep/state")).text(), JSON.stringify(window.demo?.session?.state));
  // Globals: walk what script can reach from window, a few levels deep.
  const visited = new WeakSet();
  const walk = (value, depth) => {
    if (value === null || value === undefined) return;
    if (typeof value === "string") return void parts.push(value);
    if (typeof value !== "object" && typeof value !== "function") return void parts.push(String(value));
    if (visited.has(value) || depth > 3) return;
    visited.add(value);
    let keys = [];
    try {
      keys = Object.getOwnPropertyNames(value);
    } catch {
      return;
    }
    for (const k of keys) {
      let v;
      try {
        v = value[k];
      } catch {
        continue;
      }
      if (v === window || (typeof Node !== "undefined" && v instanceof Node)) continue;
      walk(v, depth + 1);
    }
  };
  for (const k of Object.getOwnPropertyNames(window)) {
    if (/^(webkit|on|document|window|self|top|parent|frames|opener|navigator|performance|chrome|caches|indexedDB|localStorage|sessionStorage)/.test(k)) continue;
    let v;
    try {
      v = window[k];
    } catch {
      continue;
    }
    // Built-in constructors and functions hold nothing of ours.
    if (typeof v === "function" && /\[native code\]/.test(Function.prototype.toString.call(v))) continue;
    walk(v, 0);
  }
  walk(window.demo, 0);
  return parts.join("\n");
}

async function assertNoTokenVisible(page, seen, what) {
  const { all } = await hook("GET", "/__test/last-tokens");
  assert.ok(all.length >= 2, `the server issued tokens for ${what}`);
  const visible = await page.evaluate(everythingPageScriptSees, seen);
  for (const token of all) {
    assert.ok(!visible.includes(token), `${what}: page script can see ${token.slice(0, 8)}…`);
  }
  assert.ok(!/\bat_[A-Za-z0-9_-]{20,}/.test(visible) && !/\brt_[A-Za-z0-9_-]{20,}/.test(visible), `${what}: a token-shaped string is visible`);
  return visible;
}

// ---------------------------------------------------------------------------------------------
// (1) No script in the page can find either token

test("custody: after a JSON login no page script can find either token", async () => {
  const { context, pages: [page], logs } = await setup(config({ tokenStorage: "memory" }));
  try {
    const login = await jsonLogin(page);
    assert.equal(login.status, 200, login.text);
    const body = JSON.parse(login.text);
    assert.equal(body.user?.name, "ada");
    assert.equal(body.access_token, undefined);
    assert.equal(body.refresh_token, undefined);
    await waitStatus(page, "logged-in");
    // The worker uses the token (the API answers), yet the page never sees it.
    const me = await page.evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, demo.apiOrigin);
    assert.equal(me, 200);
    const visible = await assertNoTokenVisible(page, [login.text, login.headers], "JSON login");
    // The HttpOnly refresh cookie exists but page script cannot read it.
    assert.ok(!visible.includes("lockstep_demo_rt"));
    const cookies = await context.cookies(demo.appOrigin + "/oauth/token");
    assert.ok(cookies.some((c) => c.name === "lockstep_demo_rt" && c.httpOnly && c.secure && c.sameSite === "Strict"));
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

test("custody: a token endpoint reached past the worker (page script posts a form into an iframe) hands out no token when the server requires the worker's header", async () => {
  const { context, pages: [page], logs } = await setup(config({ tokenStorage: "memory" }));
  // The attack: a navigation is never filtered by the worker, so the raw token answer would
  // render in a same-origin frame that page script can read.
  const formLoginInFrame = () => page.evaluate(() => new Promise((resolve) => {
    const name = `grab${Math.random()}`;
    const frame = Object.assign(document.createElement("iframe"), { name });
    document.body.append(frame);
    frame.onload = () => {
      let href;
      try {
        href = frame.contentWindow.location.href;
      } catch (e) {
        return resolve(`unreadable frame: ${e.message}`);
      }
      if (href !== "about:blank") resolve(frame.contentDocument.body.textContent);
    };
    setTimeout(() => resolve("no load within 10 s"), 10_000);
    const form = Object.assign(document.createElement("form"), { method: "POST", action: "/api/login", target: name });
    for (const [name, value] of [["username", "ada"], ["password", "lovelace"]]) {
      form.append(Object.assign(document.createElement("input"), { type: "hidden", name, value }));
    }
    document.body.append(form);
    form.submit();
  }));
  try {
    // Without the server-side defence the attack works: this is why SECURITY.md asks for it.
    const open = await formLoginInFrame();
    assert.match(open, /access_token/, "the undefended server hands the frame a token");
    await hook("POST", "/__test/settings", { requireWorkerHeader: true });
    const refused = await formLoginInFrame();
    assert.doesNotMatch(refused, /access_token|refresh_token/);
    assert.match(refused, /not_through_worker/);
    // The app's own login goes through the worker, which adds the header: it still works.
    const login = await jsonLogin(page);
    assert.equal(login.status, 200, login.text);
    assert.equal(JSON.parse(login.text).access_token, undefined);
    await waitStatus(page, "logged-in");
    assert.equal((await demo.counters()).loginWithoutWorker, 1);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

test("custody: after an OAuth PKCE login (authorize → code → POST /oauth/token) no page script can find either token", async () => {
  const { context, pages: [page], logs } = await setup(config({ tokenStorage: "memory" }));
  try {
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const redirectUri = `${demo.appOrigin}/app1/callback`;
    const q = new URLSearchParams({
      response_type: "code", client_id: "spa", redirect_uri: redirectUri,
      code_challenge: challenge, code_challenge_method: "S256", state: "st4te",
    });
    await page.goto(`${demo.appOrigin}/oauth/authorize?${q}`);
    const landed = new URL(page.url());
    assert.equal(landed.pathname, "/app1/callback");
    assert.equal(landed.searchParams.get("state"), "st4te");
    const code = landed.searchParams.get("code");
    assert.ok(code);
    await page.waitForFunction(() => window.demo?.session?.state, null, { polling: 20 });
    const answer = await page.evaluate(async ([code, verifier, redirectUri]) => {
      const res = await fetch("/oauth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: verifier, client_id: "spa", redirect_uri: redirectUri }),
      });
      return { status: res.status, headers: [...res.headers].join("\n"), text: await res.text() };
    }, [code, verifier, redirectUri]);
    assert.equal(answer.status, 200, answer.text);
    const body = JSON.parse(answer.text);
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.access_token, undefined);
    assert.equal(body.refresh_token, undefined);
    await waitStatus(page, "logged-in");
    assert.equal((await demo.counters()).token, 1);
    const me = await page.evaluate(async (api) => (await (await fetch(`${api}/v1/me`)).json()).user?.name, demo.apiOrigin);
    assert.equal(me, "ada");
    await assertNoTokenVisible(page, [answer.text, answer.headers, page.url()], "OAuth login");
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

// ---------------------------------------------------------------------------------------------
// (2) Exact attachment

test("attachment: the API origin gets the bearer; a look-alike host, another port and a cross-origin redirect target never do; the app's own header is left alone", async () => {
  const { app, api, other } = demo.ports;
  const apiOrigin = `https://api.example.test:${api}`;
  const { context, pages: [page], logs } = await setup(config({ apis: [{ origin: apiOrigin, pathPrefix: "/v1/" }] }), {
    url: `https://app1.example.test:${app}/app1/`,
  });
  try {
    assert.equal((await jsonLogin(page)).status, 200);
    await waitStatus(page, "logged-in");
    await hook("POST", "/__test/reset"); // counters from here; the session stays
    const { access_token: token } = await hook("GET", "/__test/last-tokens");

    const results = await page.evaluate(async (urls) => {
      const out = {};
      for (const [name, url, init] of urls) {
        try {
          const res = await fetch(url, init);
          out[name] = { status: res.status, url: res.url, body: await res.text() };
        } catch (e) {
          out[name] = { error: String(e) };
        }
      }
      return out;
    }, [
      ["api", `${apiOrigin}/v1/me`],
      ["apiPost", `${apiOrigin}/v1/echo`, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" }],
      ["lookalike", `https://${LOOKALIKE}:${other}/v1/me`],
      ["otherPort", `https://api.example.test:${other}/v1/me`],
      ["otherHost", `https://app1.example.test:${other}/v1/me`],
      ["outsidePrefix", `${apiOrigin}/v2/me`],
      ["redirect", `${apiOrigin}/v1/redirect-out`],
      ["appOwn", `${apiOrigin}/v1/app-own`, { headers: { authorization: "Bearer app-own-token" } }],
    ]);
    assert.equal(results.api.status, 200, JSON.stringify(results.api));
    assert.equal(results.apiPost.body, "hello");
    for (const name of ["lookalike", "otherPort", "otherHost"]) {
      assert.equal(results[name].status, 200, `${name}: ${JSON.stringify(results[name])}`);
      assert.equal(JSON.parse(results[name].body).bearer, false, name);
    }
    // The redirect was followed to the other origin, without the bearer.
    assert.equal(results.redirect.status, 200, JSON.stringify(results.redirect));
    assert.equal(new URL(results.redirect.url).port, String(other));
    assert.equal(JSON.parse(results.redirect.body).bearer, false);
    // The app's own Authorization header reached the API unchanged; its 401 ended nothing.
    assert.equal(results.appOwn.status, 401);
    const seen = await hook("GET", "/__test/authorization");
    assert.equal(seen[`${api} /v1/app-own`], "Bearer app-own-token");
    assert.equal(seen[`${api} /v1/me`], `Bearer ${token}`);
    assert.equal(seen[`${api} /v2/me`], undefined, "outside the path prefix: no bearer");
    assert.equal((await state(page)).status, "logged-in");

    // A navigation to the API never carries the bearer.
    const nav = await context.newPage();
    const resp = await nav.goto(`${apiOrigin}/v1/navigated`);
    assert.equal(resp.status(), 401);
    await nav.close();

    const c = await demo.counters();
    assert.equal(c.otherWithBearer, 0, JSON.stringify(c));
    assert.ok(c.otherTotal >= 4, JSON.stringify(c));
    assert.equal(c.bearer[`${api} /v1/me`], 1);
    assert.equal(c.bearer[`${api} /v1/redirect-out`], 1);
    assert.equal(c.bearer[`${api} /v1/navigated`], undefined);
    assert.equal(c.requests[`${api} GET /v1/navigated`], 1);
    assert.equal(c.bearer[`${api} /v2/me`], undefined);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

// ---------------------------------------------------------------------------------------------
// (3) One refresh across tabs; a worker stopped in the middle of a refresh

/** Starts an API loop in `page` (sequential fetches until `window.__loop.stop`). */
const startLoop = (page) =>
  page.evaluate((api) => {
    const loop = (window.__loop = { stop: false, statuses: {}, ok: 0, errors: 0 });
    (async () => {
      while (!loop.stop) {
        try {
          const res = await fetch(`${api}/v1/items`);
          const key = res.headers.get("lockstep-blocked") ? `${res.status}*` : String(res.status);
          loop.statuses[key] = (loop.statuses[key] ?? 0) + 1;
          if (res.ok) loop.ok++;
        } catch {
          loop.errors++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
  }, demo.apiOrigin);
const loopOf = (page) => page.evaluate(() => window.__loop);
const stopLoop = (page) => page.evaluate(() => { window.__loop.stop = true; }).catch(() => {});

test("ten tabs with busy API loops and a token near expiry: exactly one refresh, no reuse", async () => {
  const cfg = config({ refresh: { url: "/oauth/token", format: "oauth2", clientId: "spa", beforeExpirySeconds: 3 } });
  const { context, pages, logs } = await setup(cfg, { n: 10 });
  try {
    await demo.settings({ expiresIn: 5 }); // due for refresh 2 s after login
    assert.equal((await jsonLogin(pages[0])).status, 200);
    await demo.settings({ expiresIn: 300 }); // the refreshed token lives long: one refresh only
    await Promise.all(pages.map((p) => waitStatus(p, "logged-in")));
    const firstExpiry = (await state(pages[0])).expiresAt;
    await Promise.all(pages.map(startLoop));
    await waitFor(async () => (await demo.counters()).refresh >= 1, { timeout: 15_000, message: "the refresh" });
    // Every tab keeps working on the new token for a while after the refresh.
    const base = await Promise.all(pages.map(loopOf));
    await waitFor(async () => (await Promise.all(pages.map(loopOf))).every((l, i) => l.ok >= base[i].ok + 5), {
      timeout: 20_000, message: "5 more API answers in every tab",
    });
    await Promise.all(pages.map(stopLoop));
    const c = await demo.counters();
    assert.equal(c.refresh, 1, JSON.stringify(c));
    assert.equal(c.refreshReuse, 0);
    assert.equal(c.api401, 0);
    for (const l of await Promise.all(pages.map(loopOf))) assert.deepEqual(Object.keys(l.statuses), ["200"], JSON.stringify(l));
    const states = await Promise.all(pages.map(state));
    assert.ok(states.every((s) => s.status === "logged-in" && s.epoch === states[0].epoch && s.expiresAt > firstExpiry), JSON.stringify(states));
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

for (const tokenStorage of ["memory", "indexeddb"]) {
  test(`worker stopped in the middle of a refresh (${tokenStorage}): one valid session afterwards, every tab agrees with the server`, async () => {
    const cfg = config({ tokenStorage, refresh: { url: "/oauth/token", format: "oauth2", clientId: "spa", beforeExpirySeconds: 3 } });
    const { context, pages, logs } = await setup(cfg, { n: 3 });
    try {
      const sw = await cdp(pages[0]);
      await sw.enable();
      await demo.settings({ expiresIn: 5, refreshDelayMs: 1500 });
      assert.equal((await jsonLogin(pages[0])).status, 200);
      await demo.settings({ expiresIn: 300 });
      await Promise.all(pages.map((p) => waitStatus(p, "logged-in")));
      await Promise.all(pages.map(startLoop));
      // The refresh reached the server, which holds it: stop the worker now.
      await waitFor(async () => (await demo.counters()).refresh >= 1, { timeout: 15_000, message: "the refresh" });
      await sw.stopAllWorkers();
      await demo.settings({ refreshDelayMs: 0 });
      // The loops wake the worker again; wait until every tab works or every tab has left.
      const settled = async () => {
        const s = await Promise.all(pages.map((p) => state(p).catch(() => null)));
        const urls = pages.map((p) => new URL(p.url()).pathname);
        if (urls.every((u) => u === "/login")) return "logged-out";
        if (s.every((x) => x?.status === "logged-in" && x.epoch === s[0].epoch)) {
          const loops = await Promise.all(pages.map(loopOf));
          // A request answered after the restart, in every tab.
          return loops.every((l) => l.ok > 0) && (await demo.counters()).refresh >= 2 && "logged-in";
        }
        return false;
      };
      const outcome = await waitFor(settled, { timeout: 30_000, message: "one session in every tab" });
      await Promise.all(pages.map(stopLoop));
      const c = await demo.counters();
      if (outcome === "logged-in") {
        // The server agrees: every tab's API call works now.
        const statuses = await Promise.all(pages.map((p) => p.evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, demo.apiOrigin)));
        assert.deepEqual(statuses, [200, 200, 200]);
        assert.equal(c.refreshReuse, 0, JSON.stringify(c));
        assert.equal(c.logout, 0);
      } else {
        // Ended the coordinated way: once, and the server session is gone too.
        assert.equal(c.logout, 1, JSON.stringify(c));
        const { access_token } = await hook("GET", "/__test/last-tokens");
        const direct = await httpsFetch(`${demo.apiOrigin}/v1/me`, { headers: { authorization: `Bearer ${access_token}` } });
        assert.equal(direct.status, 401);
      }
      console.log(`# stopped mid-refresh (${tokenStorage}): ${outcome}; refresh=${c.refresh} reuse=${c.refreshReuse} byCookie=${c.refreshByCookie} logout=${c.logout}`);
      await sw.detach();
    } catch (e) {
      e.message += `\n${logs()}`;
      throw e;
    } finally {
      await closeContext(context);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// (4) Malformed token responses

const MALFORMED = {
  "bad-json": null,
  "not-object": null,
  "missing-access-token": "access_token",
  "number-access-token": "access_token",
  "header-injection": "access_token",
  "huge-access-token": "access_token",
  "huge-expires-in": "expires_in",
  "huge-body": null,
};

test("malformed token responses: a clear 502 naming the field, and the previous state intact", async () => {
  const { context, pages: [page], logs } = await setup(config());
  try {
    const tryAll = async (label) => {
      const before = await state(page);
      for (const [variant, field] of Object.entries(MALFORMED)) {
        await demo.settings({ loginResponse: variant });
        const answer = await jsonLogin(page);
        assert.equal(answer.status, 502, `${label} ${variant}: ${answer.text.slice(0, 300)}`);
        const body = JSON.parse(answer.text);
        assert.equal(body.error, "lockstep_bad_token_response", variant);
        assert.match(body.message, /token response/, variant);
        if (field) assert.ok(body.message.includes(`\`${field}\``), `${variant}: ${body.message}`);
        assert.ok(!answer.text.includes("at_bad") && !answer.text.includes("rt_bad"), `${variant}: ${answer.text.slice(0, 300)}`);
        assert.ok(answer.text.length < 2048, `${variant}: the error is short`);
        assert.deepEqual(await state(page), before, `${label} ${variant}: state unchanged`);
      }
      await demo.settings({ loginResponse: null });
      return before;
    };
    // Logged out: still logged out, same epoch; the API still passes through untouched.
    const out = await tryAll("logged out");
    assert.equal(out.status, "logged-out");
    // Logged in: still logged in with the same tokens (the API still answers).
    assert.equal((await jsonLogin(page)).status, 200);
    await waitStatus(page, "logged-in");
    const before = await tryAll("logged in");
    assert.equal(before.status, "logged-in");
    const me = await page.evaluate(async (api) => (await fetch(`${api}/v1/me`)).status, demo.apiOrigin);
    assert.equal(me, 200);
    const c = await demo.counters();
    assert.equal(c.login, 2 * Object.keys(MALFORMED).length + 1);
    assert.equal(c.logout, 0);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});

// ---------------------------------------------------------------------------------------------
// Memory mode: a stopped worker lost its tokens and refreshes through the HttpOnly cookie

test("memory mode: login, worker stopped, next API call succeeds after exactly one (cookie) refresh", async () => {
  const { context, pages: [page], logs } = await setup(config({ tokenStorage: "memory" }));
  try {
    const sw = await cdp(page);
    await sw.enable();
    assert.equal((await jsonLogin(page)).status, 200);
    await waitStatus(page, "logged-in");
    const epoch = (await state(page)).epoch;
    await sw.waitForStatus("running");
    await sw.stopAllWorkers();
    await sw.waitForStatus("stopped");
    const answer = await page.evaluate(async (api) => {
      const res = await fetch(`${api}/v1/me`);
      return { status: res.status, body: await res.text() };
    }, demo.apiOrigin);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(JSON.parse(answer.body).user.name, "ada");
    const c = await demo.counters();
    assert.equal(c.refresh, 1, JSON.stringify(c));
    assert.equal(c.refreshByCookie, 1);
    assert.equal(c.refreshReuse, 0);
    assert.equal(c.api401, 0, "the token was refreshed before the call went out");
    assert.equal(c.logout, 0);
    await waitFor(async () => (await state(page)).status === "logged-in", { message: "still logged in" });
    assert.equal((await state(page)).epoch, epoch, "a refresh is not a new session");
    await sw.detach();
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  } finally {
    await closeContext(context);
  }
});
