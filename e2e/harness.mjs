// End-to-end harness: the demo server (docs/DEMO-SERVER.md) and headless Chromium driven by
// playwright-core, over real HTTPS with the mkcert CA trusted by both node and the browser.
//
//   const demo = await startDemo({ testHooks: true });
//   const browser = await launchBrowser();
//   const [tab] = await openTabs(browser.context, `${demo.appOrigin}/app1/`, 1);
//   await waitControlled(tab);
//   ...
//   await browser.close(); await demo.stop();
//
// Tests never sleep for a fixed time: they poll a condition with waitFor().

import { spawn, execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { createInterface } from "node:readline";
import tls from "node:tls";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

/** The repository root (e2e/..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Flags headless Chromium needs on CI machines (root, no GPU, no network but our own). */
export const CHROMIUM_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Host names the browser resolves to 127.0.0.1: the micro-app hosts and a look-alike API host. */
export const HOST_RESOLVER_RULES =
  "--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP api.example.test.evil.test 127.0.0.1";

const READY_PREFIX = "LOCKSTEP_DEMO_READY ";

// ---------------------------------------------------------------------------------------------
// Polling

/**
 * Polls `fn` (sync or async) until it returns a truthy value, and returns that value.
 * Exceptions thrown by `fn` count as "not yet"; the last one is reported on timeout.
 * `delay`: the first look comes after that long. For benchmarks: a look at 20 tabs over CDP
 * wakes each of them, and on 2 cores that slowed the very delivery being timed.
 */
export async function waitFor(fn, { timeout = 10_000, interval = 20, delay = 0, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? `: last error: ${lastError.stack ?? lastError}` : "";
      throw new Error(`waitFor timed out after ${timeout} ms waiting for ${message}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTPS from node, trusting the mkcert CA

/** Path of the mkcert root CA: $LOCKSTEP_CA, else `$(mkcert -CAROOT)/rootCA.pem`. */
export function caPath() {
  if (process.env.LOCKSTEP_CA) return process.env.LOCKSTEP_CA;
  let caroot;
  try {
    caroot = execFileSync("mkcert", ["-CAROOT"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("mkcert not found: run scripts/mkcert.sh (or set LOCKSTEP_CA to the CA file)");
  }
  return path.join(caroot, "rootCA.pem");
}

let agent;
function httpsAgent() {
  if (!agent) {
    const file = caPath();
    if (!existsSync(file)) throw new Error(`mkcert CA not found at ${file}: run scripts/mkcert.sh`);
    agent = new https.Agent({ ca: [...tls.rootCertificates, readFileSync(file, "utf8")], keepAlive: false });
  }
  return agent;
}

/**
 * A small fetch over node:https that trusts the mkcert CA whatever NODE_EXTRA_CA_CERTS says.
 * Returns `{ status, headers, body, text(), json() }` (body fully read).
 */
export function httpsFetch(url, { method = "GET", headers = {}, body, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = https.request(
      url,
      {
        method,
        agent: httpsAgent(),
        headers: { ...(payload ? { "content-length": payload.length } : {}), ...headers },
        timeout,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: text,
            text: () => text,
            json: () => JSON.parse(text),
          });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out after ${timeout} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

async function expectOk(res, what) {
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${what} answered ${res.status}: ${res.body.slice(0, 500)}`);
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// The demo server

const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** The mkcert certificate and key the demo serves (scripts/mkcert.sh). */
const CERT_FILES = { cert: path.join(ROOT, "certs/lockstep.pem"), key: path.join(ROOT, "certs/lockstep-key.pem") };

/** `{ cert, key }` for a bench's own HTTPS server on loopback: the demo's mkcert certificate. */
export const tlsOptions = () => ({ cert: readFileSync(CERT_FILES.cert), key: readFileSync(CERT_FILES.key) });

/**
 * Spawns the built demo server on free ports and resolves once it printed its ready line.
 * The binary is `target/debug/lockstep-demo` (build it with `cargo build -p lockstep-demo`;
 * $CARGO_TARGET_DIR is honoured);
 * `LOCKSTEP_DEMO_BIN` overrides it. `LOCKSTEP_E2E_VERBOSE=1` forwards its output.
 */
export async function startDemo({ testHooks = true, quiet = true, args = [], timeout = 30_000 } = {}) {
  const targetDir = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? "target");
  const bin = process.env.LOCKSTEP_DEMO_BIN ?? path.join(targetDir, "debug/lockstep-demo");
  if (!existsSync(bin)) throw new Error(`${bin} not found: run cargo build -p lockstep-demo`);
  const dist = path.join(ROOT, "dist");
  if (!existsSync(path.join(dist, "lockstep-sw.js"))) throw new Error("dist/ is not built: run scripts/build.sh");
  const { cert, key } = CERT_FILES;
  if (!existsSync(cert) || !existsSync(key)) throw new Error("certs/ are missing: run scripts/mkcert.sh");

  const argv = [
    "--app-port", "0", "--api-port", "0", "--other-port", "0",
    ...(testHooks ? ["--test-hooks"] : []),
    ...(quiet ? ["--quiet"] : []),
    "--dist", dist, "--cert", cert, "--key", key,
    ...args,
  ];
  const child = spawn(bin, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const verbose = process.env.LOCKSTEP_E2E_VERBOSE === "1";
  const log = []; // last lines of output, for error messages
  const remember = (stream, line) => {
    log.push(`[${stream}] ${line}`);
    if (log.length > 50) log.shift();
    if (verbose) process.stderr.write(`[demo ${stream}] ${line}\n`);
  };
  // Keep draining both pipes for the server's whole life: a full pipe would block it.
  createInterface({ input: child.stderr }).on("line", (line) => remember("stderr", line));
  const stdout = createInterface({ input: child.stdout });

  let ports;
  try {
    ports = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`demo server not ready after ${timeout} ms`)),
        timeout,
      );
      stdout.on("line", (line) => {
        if (!ports && line.startsWith(READY_PREFIX)) {
          clearTimeout(timer);
          try {
            resolve(JSON.parse(line.slice(READY_PREFIX.length)));
          } catch (err) {
            reject(new Error(`bad ready line ${JSON.stringify(line)}: ${err.message}`));
          }
        } else {
          remember("stdout", line);
        }
      });
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`demo server exited (${signal ?? code}) before it was ready`));
      });
    });
  } catch (err) {
    child.kill("SIGKILL");
    running.delete(child);
    err.message += `\n--- demo output ---\n${log.join("\n")}`;
    throw err;
  }
  for (const k of ["app", "api", "other"]) {
    if (!Number.isInteger(ports[k])) throw new Error(`ready line lacks port "${k}": ${JSON.stringify(ports)}`);
  }

  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", resolve);
  });
  /** `https://<host>:<port of kind>`; kind is "app", "api" or "other". */
  const origin = (kind, host = "localhost") => `https://${host}:${ports[kind]}`;
  const appOrigin = origin("app");
  const hook = async (method, p, body) =>
    expectOk(
      await httpsFetch(`${appOrigin}${p}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
      `${method} ${p}`,
    );

  return {
    ports,
    origin,
    appOrigin,
    apiOrigin: origin("api"),
    otherOrigin: origin("other"),
    /** The server's last output lines (for failure messages). */
    log: () => log.join("\n"),
    /** GET /__test/counters (see docs/DEMO-SERVER.md). */
    counters: async () => (await hook("GET", "/__test/counters")).json(),
    /** Zero the counters (sessions are kept). */
    reset: () => hook("POST", "/__test/reset"),
    /** Make every live token invalid. */
    revokeAll: () => hook("POST", "/__test/revoke-all"),
    /** { expiresIn, refreshDelayMs, refreshStatus, logoutStatus } */
    settings: (obj) => hook("POST", "/__test/settings", obj),
    /** Replace the config served at /lockstep.config.json. */
    setConfig: (obj) => hook("PUT", "/__test/lockstep-config", obj),
    /** Stops the server: SIGTERM, then SIGKILL after 5 s. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The browser

/**
 * Launches the system Chromium (never a downloaded one) and opens one context that does NOT
 * ignore HTTPS errors: the mkcert CA must be trusted through the NSS database in
 * $HOME/.pki/nssdb, which Chromium on Linux reads whatever its --user-data-dir.
 * Returns `{ browser, context, newContext(opts), close() }`.
 */
export async function launchBrowser({ args = [], contextOptions = {} } = {}) {
  const executablePath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_FLAGS, HOST_RESOLVER_RULES, ...args],
  });
  const newContext = (opts = {}) =>
    browser.newContext({ ignoreHTTPSErrors: false, serviceWorkers: "allow", ...opts });
  const context = await newContext(contextOptions);
  return {
    browser,
    context,
    newContext,
    close: () => browser.close(),
  };
}

/**
 * Closes a browser context, bounded. Chromium 156 sometimes never answers
 * `Target.disposeBrowserContext` for a context whose origins had service workers (about 1
 * close in 6 in the cross-site suite; the pages and workers stay responsive, stopping the
 * workers does not help, and closing the whole browser still takes < 200 ms). A hung close
 * must not eat the suite's time budget: after `timeout` it is left to finish in the
 * background (the browser is closed at the end of the file) and a line says so.
 */
export async function closeContext(context, { timeout = 10_000 } = {}) {
  if (!context) return;
  let timer;
  const closing = context.close().then(() => "closed", (e) => `failed: ${e.message}`);
  const outcome = await Promise.race([closing, new Promise((resolve) => { timer = setTimeout(resolve, timeout, "stuck"); })]);
  clearTimeout(timer);
  if (outcome === "stuck") console.log(`# closeContext: Chromium did not dispose the context within ${timeout} ms; left to close with the browser`);
}

/**
 * What the suites that watch the worker's console share: the demo (test hooks on), a
 * browser, and every service worker's console recorded over CDP. Stop it with
 * `stopWatchedSuite` in `after`.
 */
export async function startWatchedSuite() {
  const demo = await startDemo({ testHooks: true, quiet: process.env.LOCKSTEP_E2E_VERBOSE !== "1" });
  const browser = await launchBrowser();
  const swConsole = await recordWorkerConsole(browser.browser);
  return { demo, browser, swConsole };
}

export async function stopWatchedSuite({ demo, browser, swConsole } = {}) {
  await swConsole?.stop();
  await browser?.close();
  await demo?.stop();
}

/**
 * Registers the `before` and `after` hooks of a suite that watches the worker's console:
 * `set({ demo, browser, swConsole })` receives what `startWatchedSuite` started.
 */
export function watchedSuite(set) {
  let suite;
  before(async () => {
    suite = await startWatchedSuite();
    set(suite);
  });
  after(() => stopWatchedSuite(suite));
}

/** Opens `n` tabs on `url` in `context` (loaded in parallel); resolves to the pages. */
export async function openTabs(context, url, n = 1, { waitUntil = "load" } = {}) {
  const pages = await Promise.all(Array.from({ length: n }, () => context.newPage()));
  await Promise.all(pages.map((page) => page.goto(url, { waitUntil })));
  return pages;
}

/** Waits until `page` is controlled by a service worker; resolves to the worker's script URL. */
export async function waitControlled(page, { timeout = 15_000 } = {}) {
  const handle = await page.waitForFunction(
    () => navigator.serviceWorker?.controller?.scriptURL ?? false,
    null,
    { timeout, polling: 20 },
  );
  return handle.jsonValue();
}

/**
 * A Chrome DevTools Protocol session on `page`, with the ServiceWorker domain tracked:
 *   const sw = await cdp(page); await sw.enable();
 *   sw.versions()            → latest ServiceWorker.ServiceWorkerVersion of each versionId
 *   await sw.stopAllWorkers();
 *   await sw.waitForStatus("stopped");   // every active version reported it since the stop
 *   sw.send(method, params) / sw.on(event, fn) for anything else.
 */
export async function cdp(page) {
  const session = await page.context().newCDPSession(page);
  const versions = new Map();
  const registrations = new Map();
  // Every status each version reported since the last stopAllWorkers: a worker that busy tabs
  // start again at once is "stopped" for less than a poll interval, and must still count.
  const reported = new Map();
  session.on("ServiceWorker.workerVersionUpdated", ({ versions: list }) => {
    for (const v of list) {
      versions.set(v.versionId, v);
      if (!reported.has(v.versionId)) reported.set(v.versionId, new Set());
      reported.get(v.versionId).add(v.runningStatus);
    }
  });
  session.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) registrations.set(r.registrationId, r);
  });
  const api = {
    session,
    send: (method, params) => session.send(method, params),
    on: (event, fn) => session.on(event, fn),
    enable: () => session.send("ServiceWorker.enable"),
    stopAllWorkers: () => {
      reported.clear();
      return session.send("ServiceWorker.stopAllWorkers");
    },
    versions: () => [...versions.values()],
    registrations: () => [...registrations.values()],
    /** Versions that are activated (or activating), i.e. the ones that control pages. */
    activeVersions: () =>
      [...versions.values()].filter((v) => v.status === "activated" || v.status === "activating"),
    /** Waits until every active version has `runningStatus` (e.g. "running", "stopped"). */
    waitForStatus: (runningStatus, opts = {}) =>
      waitFor(
        () => {
          const active = api.activeVersions();
          const seen = (v) => v.runningStatus === runningStatus || reported.get(v.versionId)?.has(runningStatus);
          return active.length > 0 && active.every(seen) && active;
        },
        { message: `active service worker runningStatus "${runningStatus}"`, ...opts },
      ),
    detach: () => session.detach(),
  };
  return api;
}

/** Collects console messages and page errors of `page` (for failure messages). */
export function recordConsole(page) {
  const lines = [];
  page.on("console", (msg) => lines.push(`[console.${msg.type()}] ${msg.text()}`));
  page.on("pageerror", (err) => lines.push(`[pageerror] ${err.stack ?? err}`));
  return () => lines.join("\n");
}

/**
 * Records what every service worker of the browser logs and throws, over a browser-level
 * CDP session (Runtime and Log domains of each service-worker target, re-attached when a
 * stopped worker starts again). Catches what console hooks miss: uncaught exceptions and
 * unhandled rejections, e.g. a wasm trap `RuntimeError: unreachable` after a Rust panic.
 *   const sw = await recordWorkerConsole(browser.browser);
 *   ...; assert.deepEqual(sw.crashes(), []); await sw.stop();
 */
export async function recordWorkerConsole(browser) {
  const session = await browser.newBrowserCDPSession();
  const lines = [];
  const attached = new Set();
  let id = 1;
  const attach = async ({ targetId, type, url }) => {
    if (type !== "service_worker" || attached.has(targetId)) return;
    attached.add(targetId);
    try {
      const { sessionId } = await session.send("Target.attachToTarget", { targetId, flatten: false });
      for (const method of ["Runtime.enable", "Log.enable"]) {
        await session.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id: id++, method }) });
      }
    } catch (err) {
      attached.delete(targetId); // the worker went away first; a restart creates it again
      lines.push(`[attach] ${url}: ${err.message}`);
    }
  };
  session.on("Target.targetCreated", ({ targetInfo }) => void attach(targetInfo));
  session.on("Target.targetDestroyed", ({ targetId }) => attached.delete(targetId));
  session.on("Target.receivedMessageFromTarget", ({ message }) => {
    let m;
    try {
      m = JSON.parse(message);
    } catch {
      return;
    }
    if (m.method === "Runtime.consoleAPICalled") {
      lines.push(`[console.${m.params.type}] ${m.params.args.map((a) => a.value ?? a.description ?? a.type).join(" ")}`);
    } else if (m.method === "Runtime.exceptionThrown") {
      const d = m.params.exceptionDetails;
      lines.push(`[exception] ${d.exception?.description ?? d.text}`);
    } else if (m.method === "Log.entryAdded") {
      lines.push(`[log.${m.params.entry.level}] ${m.params.entry.text}`);
    }
  });
  await session.send("Target.setDiscoverTargets", { discover: true });
  const { targetInfos } = await session.send("Target.getTargets");
  await Promise.all(targetInfos.map(attach));
  return {
    lines: () => [...lines],
    /** Lines that show a Rust panic or a wasm trap. */
    crashes: () => lines.filter((l) => /panicked|unreachable|RuntimeError/i.test(l)),
    stop: () => session.detach().catch(() => {}),
  };
}

/** The demo's default config (docs/DEMO-SERVER.md) with `over` merged in. */
export const demoConfig = (over = {}) => ({
  loginUrl: "/login",
  returnParam: "returnTo",
  apis: [{ origin: "{{API_ORIGIN}}", pathPrefix: "/v1/" }],
  tokenEndpoints: [
    { url: "/api/login", format: "json", accessToken: "access_token", refreshToken: "refresh_token", expiresIn: "expires_in", user: "user" },
    { url: "/oauth/token", format: "oauth2" },
  ],
  refresh: { url: "/oauth/token", format: "oauth2", clientId: "spa", beforeExpirySeconds: 60 },
  logout: { url: "/api/logout", method: "POST" },
  ...over,
});

/** Logs in as ada from `page` with the demo's JSON login endpoint: `{ status, text }`. */
export const jsonLogin = (page, username = "ada", password = "lovelace") =>
  page.evaluate(async ([u, p]) => {
    const res = await fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: u, password: p }) });
    return { status: res.status, text: await res.text() };
  }, [username, password]);

/** The worker's own answer on `/__lockstep/state` (starts a stopped worker), parsed. */
export const workerStateRoute = (page) =>
  page.evaluate(async () => {
    const res = await fetch("/__lockstep/state", { cache: "no-store" });
    return { status: res.status, body: await res.json() };
  });
