/* Lockstep service-worker bootstrap (classic script).
 *
 * Registers every listener synchronously during first evaluation and forwards to the wasm
 * shell; decisions live in Rust. Starts wasm initialisation at the top level on every
 * worker start: a stopped worker is restarted by the very event it must answer.
 *
 * URL parameters: ?config=<path of lockstep.config.json>&base=<directory of the glue>.
 * Both must be on this worker's origin. Usable from an existing worker:
 *   importScripts("/lockstep-sw.js?config=/lockstep.config.json&base=/lockstep/")
 * does not work (importScripts ignores our location), so set
 *   self.LOCKSTEP = { config: "/lockstep.config.json", base: "/lockstep/" }
 * before importScripts("/lockstep/lockstep-sw.js").
 */
"use strict";
(() => {
  const here = new URL(self.location.href);
  const opts = self.LOCKSTEP || {};
  const sameOrigin = (value, fallback) => {
    const url = new URL(value || fallback, here);
    if (url.origin !== here.origin) throw new Error("lockstep: " + value + " is not on the worker's origin");
    return url;
  };
  const configUrl = sameOrigin(opts.config || here.searchParams.get("config"), "/lockstep.config.json").href;
  const base = sameOrigin(opts.base || here.searchParams.get("base"), "./");
  // Content hash of lockstep_bg.wasm, written in by scripts/build.sh. It keys the module in
  // Cache Storage, so a restarted worker does not download it again, and a new version never
  // pairs its glue with the previous module.
  const WASM_HASH = "__LOCKSTEP_WASM_HASH__";
  const WASM_CACHE = "lockstep-wasm";
  const hashed = !WASM_HASH.startsWith("__");
  const wasmUrl = new URL("lockstep_bg.wasm", base);
  if (hashed) wasmUrl.searchParams.set("h", WASM_HASH);
  const wasmSource = () => {
    if (!hashed || !self.caches) return fetch(wasmUrl);
    return caches.open(WASM_CACHE)
      .then((cache) => cache.match(wasmUrl).then((hit) => hit || fetch(wasmUrl).then((resp) => {
        if (resp.ok) cache.put(wasmUrl, resp.clone()).catch(() => {});
        return resp;
      })))
      .catch(() => fetch(wasmUrl));
  };
  // Start-up marks, read by bench/perf.mjs ("cold-start anatomy"); a few microseconds each.
  const mark = (name) => { try { performance.mark("lockstep:" + name); } catch { /* no timeline */ } };
  // The config and the persisted state, read while the wasm loads and compiles (the shell
  // would read them only once instantiated: one step after the other, ~10 ms of the restart
  // window). `undefined` when not read here: the shell then reads it itself. The names are
  // those of src/shell/config_cache.rs and src/shell/store.rs.
  const cachedConfig = () => (self.caches
    ? caches.open("lockstep-config").then((c) => c.match(configUrl)).then((r) => (r ? r.text() : undefined), () => undefined)
    : Promise.resolve(undefined));
  const persistedState = () => new Promise((resolve) => {
    const req = self.indexedDB.open("lockstep", 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains("state")) req.result.createObjectStore("state");
    };
    req.onsuccess = () => {
      const db = req.result;
      const done = (v) => { db.close(); resolve(v); };
      const get = db.transaction("state").objectStore("state").get("session");
      get.onsuccess = () => done(typeof get.result === "string" ? get.result : null);
      get.onerror = () => done(undefined);
    };
    req.onerror = () => resolve(undefined);
  }).catch(() => undefined);
  let early = [cachedConfig(), persistedState()];
  // Started before the glue is imported, so the two loads overlap.
  let firstSource = wasmSource();
  importScripts(new URL("lockstep.js", base).href);
  mark("glue");
  // The glue declares `let wasm_bindgen` at its top level: a global binding, not a property.
  // eslint-disable-next-line no-undef
  const wasm = wasm_bindgen;

  // How long a request that might be ours waits for a restarting worker.
  const RESTART_WAIT_MS = 3000;
  // After a failed start (e.g. a worker restarted offline could not fetch its wasm), the
  // next event tries again, at most once per RETRY_START_MS: the worker must not stay dead
  // for its whole life once the network is back (found by e2e/faults.test.mjs).
  const RETRY_START_MS = 2000;
  let live = false;
  let failure = null;
  let startedAt = 0;
  let ready;
  const boot = () => {
    startedAt = Date.now();
    failure = null;
    const source = firstSource || wasmSource();
    const reads = early || [undefined, undefined];
    firstSource = early = null;
    ready = Promise.all([wasm({ module_or_path: source }), ...reads])
      .then(([, config, state]) => { mark("instantiated"); return wasm.start(configUrl, false, config, state); })
      .then(() => { mark("started"); live = true; }, (e) => { failure = e; live = false; throw e; });
    ready.catch((e) => console.error("lockstep:", e));
  };
  boot();
  const retry = () => {
    if (failure && !live && Date.now() - startedAt >= RETRY_START_MS) boot();
  };

  const settle = (event, promise) => event.waitUntil(promise.then(() => wasm.settled()).catch(() => {}));

  // How long a new version waits for the previous one to hand the session over.
  const HANDOVER_WAIT_MS = 2000;
  const HANDOVER = "lockstep-handover";

  // A new version of this worker takes over the session from the active one: with
  // tokenStorage "memory" its tokens exist nowhere else. Worker to worker over a
  // MessageChannel; pages never see it.
  const takeOver = () => {
    const previous = self.registration.active;
    if (!live || !previous) return undefined;
    return new Promise((resolve) => {
      const { port1, port2 } = new MessageChannel();
      const done = (json) => { clearTimeout(timer); port1.close(); resolve(json); };
      const timer = setTimeout(() => done(null), HANDOVER_WAIT_MS);
      port1.onmessage = (e) => done(typeof e.data === "string" ? e.data : null);
      previous.postMessage({ type: HANDOVER, v: 1 }, [port2]);
    }).then((json) => {
      if (json) wasm.import_session(json);
    }).catch((e) => console.error("lockstep: session hand-over refused:", e));
  };

  // Requests that can never be ours skip the worker: a stopped worker is not even started.
  const NEVER_OURS = ["script", "style", "image", "font", "audio", "video", "manifest", "worker", "track"];
  const route = (event, rules) =>
    event.addRoutes ? Promise.resolve().then(() => event.addRoutes(rules)).catch(() => {}) : undefined;

  addEventListener("install", (event) => {
    route(event, NEVER_OURS.map((d) => ({ condition: { requestDestination: d }, source: "network" })));
    event.waitUntil(
      ready.catch(() => {})
        .then(() => wasm.start(configUrl, true, undefined, undefined))
        .then(() => { live = true; failure = null; }, (e) => { failure = e; })
        .then(takeOver)
        // Navigations are never held; the worker only needs to see them for the cross-site
        // cookie check. Without it, they skip the worker too.
        .then(() => (live && !wasm.watches_navigations()
          ? route(event, { condition: { requestMode: "navigate" }, source: "network" })
          : undefined))
        .then(() => self.skipWaiting()),
    );
  });

  const dropOldModules = () =>
    (hashed && self.caches ? caches.open(WASM_CACHE).then((cache) => cache.keys().then((keys) =>
      Promise.all(keys.filter((k) => k.url !== wasmUrl.href).map((k) => cache.delete(k))))) : Promise.resolve())
      .catch(() => {});

  addEventListener("activate", (event) => {
    event.waitUntil(dropOldModules());
    event.waitUntil(self.clients.claim().then(() => (live ? wasm.activate() : undefined)).catch(() => {}));
  });

  addEventListener("fetch", (event) => {
    const request = event.request;
    if (!live) mark("fetch-event");
    if (request.mode === "navigate") {
      // Never held; the worker only re-checks the cross-site cookie on the side.
      if (live) settle(event, wasm.saw_navigation());
      else retry();
      return;
    }
    // Scripts, styles, images, fonts… are never API calls.
    if (request.destination !== "") return;
    if (live) {
      if (!wasm.wants(request.url, request.method)) return;
      const answer = wasm.handle_fetch(request);
      event.respondWith(answer);
      settle(event, answer);
      return;
    }
    if (failure) {
      // A broken deployment (bad config) stays out of the way; any other failed start is
      // retried, and this request waits for it like one in the restart window.
      if (/config/i.test(String(failure.message || failure))) return;
      retry();
    }
    // The restart window: this request might be ours; wait briefly for the engine. If it is
    // still not there, the request gets a local 503 and never the network untouched: it may
    // be a token endpoint's (whose tokens would reach the page) or an API call (which would go
    // without its bearer, a 401 while the session is live). Found by e2e/faults.test.mjs.
    const timeout = new Promise((resolve) => setTimeout(resolve, RESTART_WAIT_MS));
    const answer = Promise.race([ready.catch(() => {}), timeout]).then(() => {
      if (live) return wasm.wants(request.url, request.method) ? wasm.handle_fetch(request) : fetch(request);
      return new Response(JSON.stringify({ error: "lockstep_not_ready", message: "the session worker is still starting; try again" }), {
        status: 503, headers: { "content-type": "application/json", "cache-control": "no-store", "retry-after": "1" },
      });
    });
    event.respondWith(answer);
    settle(event, answer);
  });

  addEventListener("message", (event) => {
    const source = event.source;
    // The only worker that may ask: the next version installing in our own registration.
    if (typeof ServiceWorker !== "undefined" && source instanceof ServiceWorker) {
      const reg = self.registration;
      const port = event.ports && event.ports[0];
      const next = source === reg.installing || source === reg.waiting;
      if (!next || !port || !event.data || event.data.type !== HANDOVER) return;
      settle(event, ready.then(() => port.postMessage(wasm.export_session() ?? null)));
      return;
    }
    // Only window clients speak to us; another worker version or a port never does.
    if (!source || typeof source.id !== "string" || typeof source.url !== "string") return;
    const port = event.ports && event.ports[0];
    retry();
    const handled = ready.catch(() => {}).then(() => {
      if (live) return wasm.handle_message(event.data, source.id, source.url, port);
      const message = failure ? String(failure.message || failure) : "the worker has not loaded";
      const code = /config/i.test(message) ? "bad-config" : "not-ready";
      if (port) port.postMessage(JSON.stringify({ v: 1, type: "error", code, message }));
    });
    settle(event, handled);
  });

  addEventListener("cookiechange", (event) => {
    if (live) settle(event, wasm.handle_cookie_change());
  });
})();
