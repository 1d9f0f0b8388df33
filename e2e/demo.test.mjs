// The README's "A minute with the demo", end to end in headless Chromium over trusted mkcert
// HTTPS: three tabs (app1, app2, app1), a login through the real login form, a burst of API
// calls with the bearer added by the worker, a logout that sends every tab to /login with its
// own way back, a second login, and a server-side revocation that ends the session once.
// Then the micro-apps on their own host names, and the idle warning banner.
//
// Screenshots of every step go to e2e/artifacts/ (gitignored). With
// LOCKSTEP_UPDATE_SCREENSHOTS=1 the "logged in" shot is also written to docs/demo.png, the
// README's picture (checked in; keep it small: 1000×650 viewport).

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT, httpsFetch, launchBrowser, recordConsole, startDemo, waitControlled, waitFor, closeContext } from "./harness.mjs";

const ARTIFACTS = path.join(ROOT, "e2e/artifacts");
const UPDATE_DOCS = process.env.LOCKSTEP_UPDATE_SCREENSHOTS === "1";
const VIEWPORT = { width: 1000, height: 650 };

let demo;
let browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  demo = await startDemo({ testHooks: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `demo-${name}.png`) });

const text = (page, sel) => page.locator(sel).textContent();

/** The page's own path (pathname + search), as the worker puts it in `returnTo`. */
const ownPath = (page) => {
  const u = new URL(page.url());
  return u.pathname + u.search;
};

/** Waits until `page` shows `status` in #status (app pages and the login page both have it). */
const waitStatus = (page, status, what = "") =>
  waitFor(async () => (await text(page, "#status")) === status, {
    timeout: 15_000,
    message: `${what || page.url()} shows ${status}`,
  });

/** Waits until `page` is on /login?returnTo=<returnTo> (polls: the client may replace twice). */
const waitOnLogin = (page, returnTo) =>
  waitFor(
    () => {
      const u = new URL(page.url());
      return u.pathname.replace(/\/$/, "") === "/login" && u.searchParams.get("returnTo") === returnTo;
    },
    { timeout: 15_000, interval: 10, message: `${page.url()} on /login?returnTo=${returnTo}` },
  );

/** Waits until `page` is back on `p` and logged in. */
const waitBackLoggedIn = async (page, p) => {
  await waitFor(() => ownPath(page) === p, { timeout: 15_000, interval: 10, message: `${page.url()} back on ${p}` });
  await waitStatus(page, "logged-in", p);
};

/** Types the demo user into the login form, as a person would, and submits. */
async function formLogin(page, username = "ada", password = "lovelace") {
  await page.waitForSelector("#login-submit:not([disabled])");
  await page.locator("#username").pressSequentially(username);
  await page.locator("#password").pressSequentially(password);
  await page.click("#login-submit");
}

/** Counter `key` ("<port> <path>" form) of the API port. */
const apiKey = (p) => `${demo.ports.api} ${p}`;

/** Two screenshots side by side in one PNG (rendered by the browser: no image library). */
async function sideBySide(context, left, right, file) {
  const page = await context.newPage();
  try {
    await page.setViewportSize({ width: 2 * VIEWPORT.width + 24, height: VIEWPORT.height + 16 });
    const src = (buf) => `data:image/png;base64,${buf.toString("base64")}`;
    await page.setContent(
      `<body style="margin:0;padding:8px;background:#8a94a3;display:flex;gap:8px">` +
        `<img src="${src(left)}"><img src="${src(right)}"></body>`,
    );
    await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    await page.screenshot({ path: path.join(ARTIFACTS, file) });
  } finally {
    await page.close();
  }
}

// ---------------------------------------------------------------------------------------------

test("the README walkthrough: three tabs log in, burst, log out, log in and end on a revoked session together", async () => {
  await demo.reset();
  const context = await browser.newContext({ viewport: VIEWPORT });
  try {
    // 1. Three tabs: app1, app2, app1. The first installs the worker.
    const a = await context.newPage();
    await a.goto(`${demo.appOrigin}/app1/`);
    await waitControlled(a);
    const [b, c] = await Promise.all([context.newPage(), context.newPage()]);
    await Promise.all([b.goto(`${demo.appOrigin}/app2/`), c.goto(`${demo.appOrigin}/app1/`)]);
    const tabs = [a, b, c];
    const paths = ["/app1/", "/app2/", "/app1/"];
    const logs = tabs.map((t) => recordConsole(t));
    const why = () => tabs.map((t, i) => `--- tab ${i} ${t.url()}\n${logs[i]()}`).join("\n") + `\n--- demo\n${demo.log()}`;
    for (const t of tabs) await waitStatus(t, "logged-out");
    assert.equal(await text(a, "#host"), `localhost:${demo.ports.app}`);
    await a.bringToFront();
    await shot(a, "01-app1-logged-out");

    // 2. In the first tab follow "Log in" and log in through the form: every tab follows.
    assert.equal(await a.getAttribute("#login-link", "href"), `/login?returnTo=${encodeURIComponent("/app1/")}`);
    await a.click("#login-link");
    await waitOnLogin(a, "/app1/");
    await a.waitForSelector("#login-submit:not([disabled])");
    await a.locator("#username").pressSequentially("ada");
    await a.locator("#password").pressSequentially("lovelace");
    await shot(a, "02-login-form");
    const beforeLogin = Date.now();
    await a.click("#login-submit");
    for (const [i, t] of tabs.entries()) await waitBackLoggedIn(t, paths[i]).catch((e) => assert.fail(`${e.message}\n${why()}`));
    for (const t of tabs) assert.equal(await text(t, "#user"), "ada");
    const epoch1 = Number(await text(a, "#epoch"));
    for (const t of tabs) assert.equal(Number(await text(t, "#epoch")), epoch1);
    const afterLogin = await demo.counters();
    assert.equal(afterLogin.login, 1);
    // When the answer was made, on the pages' clock (bench/propagation.mjs times logins from it).
    assert.ok(afterLogin.lastLoginAt >= beforeLogin && afterLogin.lastLoginAt <= Date.now(), `lastLoginAt ${afterLogin.lastLoginAt} not in [${beforeLogin}, now]`);
    await a.bringToFront();
    const shotA = await a.screenshot({ path: path.join(ARTIFACTS, "demo-03-app1-logged-in.png") });
    await b.bringToFront();
    const shotB = await b.screenshot({ path: path.join(ARTIFACTS, "demo-03-app2-logged-in.png") });
    await sideBySide(context, shotA, shotB, "demo-03-app1-app2-side-by-side.png");

    // 3. Burst 20 API calls in the third tab: all 200, each with the bearer the worker added.
    await demo.reset();
    await c.bringToFront();
    await c.click("#burst");
    const burst = await c.waitForFunction(() => window.demo?.lastBurst, null, { polling: 20 }).then((h) => h.jsonValue());
    assert.deepEqual(burst, Array(20).fill("200"));
    assert.match(await text(c, "#burst-result"), /^20 × 200\b/);
    const afterBurst = await demo.counters();
    assert.equal(afterBurst.requests[`${demo.ports.api} GET /v1/items`], 20);
    assert.equal(afterBurst.bearer[apiKey("/v1/items")], 20, "every call carried the bearer");
    // The idle countdown runs while logged in (15 minutes in the demo config).
    assert.match(await text(c, "#idle-countdown"), /^1[45]:\d\d$/);
    assert.match(await text(c, "#expires-countdown"), /^\d+:\d\d$/);
    const demoShot = await c.screenshot({ path: path.join(ARTIFACTS, "demo-04-app1-burst.png") });
    if (UPDATE_DOCS) await c.screenshot({ path: path.join(ROOT, "docs/demo.png") });
    assert.ok(demoShot.length < 150_000, `the docs screenshot is ${demoShot.length} bytes`);

    // 4. Log out in the second tab: every tab lands on /login with its own returnTo.
    await demo.reset();
    await b.bringToFront();
    await b.click("#logout");
    for (const [i, t] of tabs.entries()) await waitOnLogin(t, paths[i]).catch((e) => assert.fail(`${e.message}\n${why()}`));
    for (const t of tabs) await waitStatus(t, "logged-out");
    for (const t of tabs) assert.equal(await text(t, "#reason"), "logout");
    assert.equal((await demo.counters()).logout, 1, "one logout call for three tabs");
    await shot(b, "05-after-logout-login-page");

    // 5. Log in again in one of them: every tab goes back where it was.
    await formLogin(b);
    for (const [i, t] of tabs.entries()) await waitBackLoggedIn(t, paths[i]).catch((e) => assert.fail(`${e.message}\n${why()}`));
    const epoch2 = Number(await text(a, "#epoch"));
    assert.ok(epoch2 > epoch1, `epoch ${epoch2} after ${epoch1}`);
    await a.bringToFront();
    await shot(a, "06-app1-logged-in-again");

    // 6. Revoke every token at the server, burst again: the session ends once, for every tab.
    await demo.reset();
    await demo.revokeAll();
    await c.bringToFront();
    const seen = [];
    c.on("response", (res) => {
      if (res.url() === `${demo.apiOrigin}/v1/items` && res.request().method() === "GET") {
        seen.push(res.headers()["lockstep-blocked"] === "1" ? `${res.status()}*` : String(res.status()));
      }
    });
    await c.click("#burst");
    for (const [i, t] of tabs.entries()) await waitOnLogin(t, paths[i]).catch((e) => assert.fail(`${e.message}\n${why()}`));
    for (const t of tabs) await waitStatus(t, "logged-out");
    const reason = await text(a, "#reason");
    assert.match(reason, /^(unauthorized|refresh-failed)$/);
    for (const t of tabs) assert.equal(await text(t, "#reason"), reason);
    const storm = await demo.counters();
    assert.equal(storm.logout, 1, `one logout call: ${JSON.stringify(storm)}`);
    assert.ok(storm.refresh <= 1, `at most one refresh attempt: ${JSON.stringify(storm)}`);
    assert.ok(storm.api401 >= 1 && storm.api401 <= 20, `401s only for the calls already in flight: ${JSON.stringify(storm)}`);
    // What the page got: 401s only (from the server, or answered locally once the session ended).
    assert.ok(seen.every((s) => s === "401" || s === "401*"), `burst answers ${seen.join(" ")}`);
    // From now on the API is blocked locally: a 401 with `lockstep-blocked: 1`, never sent.
    const blocked = await a.evaluate(async (api) => {
      const res = await fetch(`${api}/v1/items`);
      return { status: res.status, blocked: res.headers.get("lockstep-blocked") };
    }, demo.apiOrigin);
    assert.deepEqual(blocked, { status: 401, blocked: "1" });
    const later = await demo.counters();
    assert.equal(later.apiAfterRevoke, storm.apiAfterRevoke, "the blocked call never reached the server");
    assert.equal(later.logout, 1);
    assert.ok(await c.locator("#ended").isVisible(), "the login page says why the session ended");
    await shot(c, "07-after-revoke-login-page");
  } finally {
    await closeContext(context);
  }
});

test("the micro-apps on their own hosts say which host they are on", async () => {
  await demo.reset();
  const context = await browser.newContext({ viewport: VIEWPORT });
  try {
    const home = await context.newPage();
    await home.goto(`${demo.appOrigin}/`);
    await waitFor(async () => (await text(home, "#host-links")).includes(`app2.example.test:${demo.ports.app}`), { message: "home page host links" });
    await shot(home, "08-home");
    for (const app of ["app1", "app2"]) {
      const host = `${app}.example.test`;
      const page = await context.newPage();
      await page.goto(`${demo.origin("app", host)}/${app}/`);
      assert.equal(await page.evaluate(() => window.isSecureContext), true);
      const scriptURL = await waitControlled(page);
      assert.equal(new URL(scriptURL).host, `${host}:${demo.ports.app}`);
      await waitStatus(page, "logged-out");
      assert.equal(await text(page, "#host"), `${host}:${demo.ports.app}`);
      assert.equal(await text(page, "#api-origin"), demo.origin("api", host));
      assert.equal(await page.getAttribute("body", "data-app"), app);
      await shot(page, `08-${app}-on-${host}`);
    }
  } finally {
    await closeContext(context);
  }
});

test("the idle warning banner counts down in the app page", async () => {
  await demo.reset();
  const config = await httpsFetch(`${demo.appOrigin}/lockstep.config.json`).then((r) => r.json());
  // The demo config with a short idle timeout: the warning shows two seconds after login.
  await demo.setConfig({
    ...config,
    apis: [{ origin: "{{API_ORIGIN}}", pathPrefix: "/v1/" }],
    idle: { timeoutSeconds: 30, warningSeconds: 28 },
  });
  const context = await browser.newContext({ viewport: VIEWPORT });
  try {
    const page = await context.newPage();
    await page.goto(`${demo.appOrigin}/app2/`);
    await waitControlled(page);
    await waitStatus(page, "logged-out");
    await page.click("#login-link");
    await formLogin(page);
    await waitBackLoggedIn(page, "/app2/");
    await page.waitForSelector("#idle-warning:not([hidden])", { timeout: 15_000 });
    assert.match(await text(page, "#idle-warning-countdown"), /^0:[0-2]\d$/);
    await shot(page, "09-app2-idle-warning");
  } finally {
    await closeContext(context);
    await demo.reset();
  }
});
