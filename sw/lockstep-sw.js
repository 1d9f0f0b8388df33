/* Lockstep service-worker bootstrap (classic script).
 *
 * Registers every listener synchronously during first evaluation. Every decision is the
 * engine's (Rust, compiled to wasm): this script asks it, and does the IO it answers with
 * (fetch, IndexedDB, Cache Storage, cookies, client messages). Starts wasm initialisation
 * at the top level on every worker start: a stopped worker is restarted by the very event
 * it must answer.
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
  // SHA-256 of lockstep_bg.wasm, written in by scripts/build.sh. It keys the module's bytes
  // in IndexedDB, so a restarted worker does not download it again, and a new version never
  // pairs its glue with the previous module. Page script can write the origin's IndexedDB:
  // stored bytes run only if they hash to it (this script itself pages cannot change).
  const WASM_HASH = "__LOCKSTEP_WASM_HASH__";
  const hashed = !WASM_HASH.startsWith("__");
  const wasmUrl = new URL("lockstep_bg.wasm", base);
  if (hashed) wasmUrl.searchParams.set("h", WASM_HASH.slice(0, 16));
  const WASM_KEY = "wasm:" + WASM_HASH;
  const CONFIG_KEY = "config:" + configUrl;
  // Start-up marks, read by bench/perf.mjs ("cold-start anatomy"); a few microseconds each.
  const mark = (name) => { try { performance.mark("lockstep:" + name); } catch { /* no timeline */ } };

  // --- IO: the engine (wasm) decides, this script does what it says -------------------------
  // The wasm exports are synchronous and do no IO: this script fetches, reads and writes
  // IndexedDB, Cache Storage and cookies, messages clients, and passes the clock in. Effects
  // and verdicts arrive as `{"do": …}` JSON (src/bridge.rs lists them).
  const now = () => Date.now();
  // Token and refresh answers and page messages longer than the engine's limits
  // (`wasm.max_response()`, `wasm.max_message()`) are refused before they are copied into the
  // wasm memory, which never shrinks (a UTF-16 unit is at least one UTF-8 byte).
  const bounded = (text, max) => (typeof text === "string" && text.length <= max ? text : undefined);
  const random = () => crypto.getRandomValues(new Uint32Array(2));

  // IndexedDB "lockstep", one store "state": the engine's persisted state under "session",
  // and, so that a restarted worker gets everything in one read, the config text under
  // "config:<its URL>" (registrations of one origin may use different configs; see `verify`
  // for why no token leaves under it unchecked) and the module's bytes under "wasm:<hash>".
  // `use(store)` makes the requests; resolves with their results: a write once the
  // transaction is done, a read as soon as its last request has succeeded (the commit is one
  // more round trip to the browser, 1–20 ms of a cold start in traces under load, and a read-only
  // transaction's results cannot change with it). A connection per call, closed once the
  // transaction ends: one held open kept Chromium from tearing down a browser context (found
  // by e2e/cross-site.test.mjs).
  const idb = (mode, use) => new Promise((resolve, reject) => {
    const open = indexedDB.open("lockstep", 1);
    open.onupgradeneeded = () => {
      if (!open.result.objectStoreNames.contains("state")) open.result.createObjectStore("state");
    };
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      if (!opened) { opened = true; mark("idb-open"); }
      const db = open.result;
      try {
        const tx = db.transaction("state", mode);
        const requests = use(tx.objectStore("state"));
        const done = () => resolve(requests.map((r) => r.result));
        if (mode === "readonly" && requests.length) requests[requests.length - 1].onsuccess = done;
        tx.oncomplete = () => { db.close(); done(); };
        tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
      } catch (e) {
        db.close();
        reject(e);
      }
    };
  });
  let opened = false; // for the first "idb-open" mark only
  const put = (key, value) => idb("readwrite", (store) => [store.put(value, key)]);
  const text = (v) => (typeof v === "string" ? v : undefined);
  // [state (string or null), config text, module bytes]; `undefined` for what is not there.
  const stored = () => idb("readonly", (store) => [store.get("session"), store.get(CONFIG_KEY), store.get(WASM_KEY)])
    .then(([state, config, bytes]) => [text(state) ?? null, text(config), bytes instanceof ArrayBuffer ? bytes : undefined]);
  const readState = () => stored().then(([state]) => state, () => null);

  // The config text and whether it is the server's: as stored unless `fresh`, else (or when
  // absent) from the network. "reload" also refreshes the HTTP cache entry `served` reads.
  // `load` stores it once the engine has taken it, so a restarted worker needs no network to
  // start, and a config the engine refused is never kept: once the server's is mended, the
  // next start fetches it (a stored refused copy kept the worker out of the way for good).
  const configText = async (fresh) => {
    const hit = fresh ? undefined : await stored().then(([, config]) => config, () => undefined);
    if (hit !== undefined) return [hit, false];
    const resp = await fetch(configUrl, { cache: "reload" });
    if (!resp.ok) throw new Error("lockstep.config.json: HTTP " + resp.status + " from " + configUrl);
    return [await resp.text(), true];
  };
  // The server's config, for `verify`: from the HTTP cache when there (no round trip; the
  // install's fetch refreshed it), else from the network. Without following redirects. Page
  // script can write IndexedDB; it cannot write the server's answers or the HTTP cache.
  // `undefined` when it cannot be had (offline, not 2xx, or no answer within CHECK_WAIT_MS):
  // the stored copy then stands.
  const ask = () => fetch(configUrl, {
    cache: "force-cache", redirect: "error", signal: AbortSignal.timeout ? AbortSignal.timeout(CHECK_WAIT_MS) : undefined,
  }).then((resp) => (resp.ok ? resp.text() : undefined)).catch(() => undefined);
  // Asked early by a request that wakes the worker and may wait for the check (any but the
  // worker's own route, `{scope}__lockstep/state`, which never waits for it), so the read
  // runs beside the engine's load instead of after it. Only when to read is decided here:
  // what waits for the check, and what its answer means, is as in `checkedFetch` and `verify`.
  let asked;
  const served = () => {
    const answer = asked ?? ask();
    asked = undefined;
    return answer;
  };
  const CHECK_WAIT_MS = 3000;
  // The module: compiled from the stored bytes if they are this version's, else fetched from
  // the worker's own origin (and its bytes stored). The hash is checked while V8 compiles.
  const hex = (digest) => Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const fetchModule = () => fetch(wasmUrl).then((resp) => {
    if (!resp.ok) throw new Error("lockstep: HTTP " + resp.status + " fetching " + wasmUrl.href);
    return resp.arrayBuffer().then((fetched) => {
      if (hashed) later(put(WASM_KEY, fetched).catch(() => {})); // fetched again next time
      return WebAssembly.compile(fetched);
    });
  });
  const compile = (bytes) => (bytes
    ? Promise.all([WebAssembly.compile(bytes), crypto.subtle.digest("SHA-256", bytes)])
      .then(([module, digest]) => (hex(digest) === WASM_HASH ? module : fetchModule()), fetchModule)
    : fetchModule());

  // The cross-site marker cookie (Cookie Store API; absent in some browsers' workers).
  const syncCookie = (name) => (self.cookieStore ? cookieStore.get(name) : Promise.resolve(null)).then((c) => {
    const error = wasm.cookie(now(), c && typeof c.value === "string" ? c.value : undefined);
    if (error) console.debug(error);
  }, () => {});
  // Browsers without cookie events rely on this: tabs message the worker when seen again.
  const recheckMarker = () => {
    const name = wasm.marker_cookie();
    return name && self.cookieStore ? syncCookie(name) : Promise.resolve();
  };

  // Everything a start needs, read at once while the glue is imported; the module compiles
  // as soon as its bytes are there. `undefined` when not read: `load` then reads it itself.
  mark("top");
  const first = stored().catch(() => [undefined, undefined, undefined]);
  first.then(() => mark("stored-read"));
  let early = [first.then(([, config]) => config), first.then(([state]) => state)];
  // Starts the engine from a config text and the persisted state (`null`: none).
  const startEngine = (text, persisted) => {
    const [a, b] = random();
    const warning = wasm.start(self.location.href, self.registration.scope, text, persisted ?? undefined, now(), a, b);
    if (warning) console.debug(warning);
    running = text;
  };
  // Loads the engine from the config and the persisted state (`config`/`state` when already
  // read; `fresh`: fetch the config again, at install).
  const load = async (fresh, config, state) => {
    let [text, fromServer] = !fresh && config !== undefined ? [config, false] : await configText(fresh);
    const persisted = state !== undefined ? state : await readState();
    try {
      startEngine(text, persisted);
    } catch (e) {
      // A stored copy the engine refuses (page script can write IndexedDB): the server's.
      if (fromServer) throw e;
      [text, fromServer] = await configText(true);
      startEngine(text, persisted);
    }
    if (fromServer) await put(CONFIG_KEY, text).catch(() => {}); // else fetched again next time
    // A later start of the active worker that found no config stored: the install's was
    // refused, so the activation subscribed to no cookie. The mended config is taken now:
    // subscribe (`activate`). Not in a version still installing (its first start fetches the
    // config too): its own activation does that.
    if (fromServer && !fresh && isActive()) later(activate());
    checked = fromServer ? Promise.resolve(true) : undefined;
    trusted = fromServer;
    const name = wasm.marker_cookie();
    if (name) await syncCookie(name);
  };

  // The stored config is page-writable: one of the page's own could name an API, refresh or
  // logout URL of its choosing, or leave out a token endpoint (whose answer would then reach
  // the page with the tokens), and a restarted worker would follow it (SECURITY.md §12). So
  // a worker started from it asks the server for the config (`served`) before it handles any
  // request but its own route (`checkedFetch`), and makes no refresh or logout call before
  // the answer is in: the same text, and `verify` resolves true; another one, and the engine
  // is started again from it (and it is stored), `verify` resolves false, and what was
  // decided under the stored one is decided again.
  let running; // the config text the engine runs with
  let trusted = false; // it is the server's
  let checked; // Promise<boolean>, see above
  const verify = () => (checked ??= Promise.all([served(), ready]).then(([text]) => {
    if (text === undefined || text === running) {
      trusted = true;
      return true;
    }
    return readState().then((persisted) => {
      try {
        startEngine(text, persisted);
        later(put(CONFIG_KEY, text).catch(() => {}));
        trusted = true;
        checked = Promise.resolve(true); // for what the new engine decides
      } catch (e) {
        // The server's own config is refused: a broken deployment, the worker stays out of the way.
        failure = e;
        live = false;
        console.error("lockstep:", e);
      }
      return false;
    });
  }));

  // Work started by events (effects, refresh and logout calls, and what they start in turn):
  // `settled` resolves when it is done, and the bootstrap passes it to `waitUntil`, so the
  // browser does not stop the worker in the middle.
  const background = [];
  const later = (p) => { background.push(p); };
  const settled = async () => {
    while (background.length) await Promise.allSettled(background.splice(0));
  };

  // Requests waiting for a refresh to settle, and API requests cancelled at the end of their
  // session (GET, HEAD, OPTIONS still waiting for their response headers).
  const waiters = [];
  const refreshSettled = (ms) => new Promise((resolve) => {
    setTimeout(resolve, ms, false);
    waiters.push(resolve);
  });
  const cancellable = new Set();

  const json = (status, body, blocked) => new Response(body, {
    status,
    headers: blocked
      ? { "content-type": "application/json", "cache-control": "no-store", "lockstep-blocked": "1" }
      : { "content-type": "application/json", "cache-control": "no-store" },
  });
  const blocked = () => json(401, '{"error":"lockstep_blocked","message":"the session has ended; log in again"}', true);

  // A request the worker makes itself (refresh, logout), with cookies: [status, text].
  const call = (url, method, body, type, bearer) => {
    const headers = {};
    if (type) headers["content-type"] = type;
    if (bearer) headers.authorization = "Bearer " + bearer;
    return fetch(url, { method, headers, credentials: "include", body })
      .then((resp) => resp.text().then((text) => [resp.status, bounded(text, wasm.max_response())]));
  };

  // The tabs the worker knows (client id → { client, url, port }): each tab's Client and URL
  // as of its last message or the last `clients.matchAll`, and its newest reply port. State
  // messages go to the port when there is one: a port is a pipe straight to the tab's
  // process, where `client.postMessage` goes through the browser process (the news reached the
  // last of 20 tabs in 14–18 ms, median, instead of 5: bench/fanout.mjs). Ports are lost when
  // the worker stops: a tab that then hears from `client.postMessage` sends a new one
  // (lockstep-client.js, `ReplyPorts`).
  const tabs = new Map();
  const meet = (client, port) => {
    const old = tabs.get(client.id);
    const kept = port || (old && old.port);
    if (old && old.port && old.port !== kept) old.port.close();
    tabs.set(client.id, { client, url: client.url, port: kept });
    // Every page load adds one; a broadcast forgets the pages gone, and so does this when
    // there has been none for long (a look whenever their number has doubled).
    if (tabs.size > forgetAt) {
      forgetAt = Infinity;
      later(clients.matchAll({ includeUncontrolled: true, type: "window" }).then(forgetGone)
        .finally(() => { forgetAt = Math.max(100, 2 * tabs.size); }));
    }
  };
  let forgetAt = 100;
  // Forgets the tabs not in `list` (closed, or navigated: a new page is a new client) and
  // closes their ports.
  const forgetGone = (list) => {
    const ids = new Set(list.map((client) => client.id));
    for (const [id, tab] of tabs) {
      if (!ids.has(id)) {
        if (tab.port) tab.port.close();
        tabs.delete(id);
      }
    }
  };
  const post = (tab, at) => (tab.port || tab.client).postMessage(wasm.state_message(at, tab.url, tab.client.id));

  // Sends every tab its state message: first the tabs known, at once; then, from the
  // browser's list, the tabs not known (pages that have not spoken yet, a restarted worker)
  // or whose URL is not the one the message was written for (the client follows the latest).
  // Asking the browser first put `clients.matchAll` in the way of every delivery: 0.5–2.5 ms
  // after a logout, 1–5 ms after a login, whose answer is still on its way to the page
  // (traced in the worker, 60 of each). The engine writes each tab's message for the URL the
  // tab last said it was at (`tab_url`). Then the same on the BroadcastChannel (for app
  // scripts that watch it; the client does not: see PROTOCOL.md); navigates the tabs that do
  // not run the client (controlled ones only), from the browser's list.
  const broadcast = async () => {
    const at = now();
    const sent = new Map();
    for (const [id, tab] of tabs) {
      post(tab, at);
      sent.set(id, tab.url);
    }
    const list = await clients.matchAll({ includeUncontrolled: true, type: "window" });
    const then = now();
    const go = [];
    for (const client of list) {
      meet(client);
      if (sent.get(client.id) !== client.url) post(tabs.get(client.id), then);
      const target = wasm.follow(client.url, client.id);
      if (target !== undefined) go.push([client, target]);
    }
    forgetGone(list);
    const channel = new BroadcastChannel("lockstep");
    channel.postMessage(wasm.state_message(then, "", ""));
    channel.close();
    for (const [client, target] of go) await client.navigate(target).catch(() => {});
  };

  // Runs the engine's effects in order; one drainer at a time, so they never reorder.
  let draining = false;
  const runEffects = () => {
    if (draining) return;
    draining = true;
    later(drain());
  };
  const drain = async () => {
    try {
      for (let text; (text = wasm.poll()) !== undefined;) {
        const e = JSON.parse(text);
        switch (e.do) {
          case "broadcast": await broadcast().catch(() => {}); break;
          // In the background: tabs hear the news without waiting on the disk.
          case "persist":
            later(put("session", e.state).catch((err) => console.warn("lockstep: the session was not persisted:", err)));
            break;
          case "settled": for (const wake of waiters.splice(0)) wake(true); break;
          // Newest first: the requests still queued in the browser go before the oldest ones
          // free their connections, so a freed connection finds no cancelled request to send
          // (one way a queued GET could reach the API; a CI run once saw that happen).
          case "cancel": for (const c of [...cancellable].reverse()) c.abort(); cancellable.clear(); break;
          // Under the server's config only; dropped if the engine was started again (see `verify`).
          case "refresh":
            later(verify().then((same) => same && call(e.url, "POST", e.body, e.type).then(
              ([status, text]) => wasm.refresh_response(now(), e.epoch, status, text),
              () => wasm.refresh_error(now(), e.epoch),
            )).then(runEffects));
            break;
          case "logout":
            later(verify().then((same) => same && call(e.url, e.method, undefined, undefined, e.token)
              .then(([status]) => status, () => undefined)
              .then((status) => wasm.logout_result(now(), e.epoch, status))).then(runEffects));
            break;
          case "cookie":
            if (self.cookieStore) {
              await cookieStore.set({
                name: e.name, value: e.value, domain: e.domain, path: "/", sameSite: "lax", expires: now() + 30 * 86400000,
              }).catch(() => {});
            }
            break;
        }
      }
    } finally {
      // No await between the empty poll and this: nothing can be queued in between.
      draining = false;
    }
  };
  // Re-reads the marker, then runs the effects.
  const recheck = () => recheckMarker().then(runEffects);

  // Sends `request` with `init`; with `cancels`, cancellable at the end of its session until
  // its response headers arrive (still following the page's own abort where the browser can
  // combine signals). `undefined`: it was cancelled.
  const send = async (request, init, cancels) => {
    let controller;
    if (cancels) {
      controller = new AbortController();
      init.signal = AbortSignal.any ? AbortSignal.any([request.signal, controller.signal]) : controller.signal;
      cancellable.add(controller);
    }
    try {
      return await fetch(new Request(request, init));
    } catch (e) {
      if (controller && controller.signal.aborted) return undefined;
      throw e;
    } finally {
      if (controller) cancellable.delete(controller);
    }
  };

  // An API request (or the app's own logout call): the engine admits it, the answer's
  // status goes back to it, and it says whether to deliver, replay or wait for a refresh.
  const api = async (request, isLogout) => {
    const navigate = request.mode === "navigate";
    const hasAuthorization = request.headers.has("authorization");
    const method = request.method;
    const cancels = !isLogout && wasm.cancels(method);
    // Read once, so it can be replayed.
    const body = method === "GET" || method === "HEAD" ? undefined : await request.clone().arrayBuffer();
    let replayed = false;
    let next;
    let late;
    for (;;) {
      const step = next || JSON.parse(wasm.admit(now(), navigate, hasAuthorization, isLogout));
      next = undefined;
      if (step.do === "wait") {
        runEffects();
        if (!(await refreshSettled(step.ms))) {
          return late || json(504, '{"error":"lockstep_refresh_timeout","message":"the token refresh did not finish in time"}');
        }
        late = undefined;
        continue;
      }
      // The app's own logout call too, when the engine says so (the end had its one call).
      if (step.do === "block") return blocked();
      if (step.do !== "attach") return fetch(request);
      const headers = new Headers(request.headers);
      headers.set("authorization", "Bearer " + step.token);
      const response = await send(request, body ? { headers, body } : { headers }, cancels);
      if (!response) return blocked();
      if (isLogout) {
        wasm.logout_observed(now(), response.status);
        return response;
      }
      const verdict = JSON.parse(wasm.api_response(now(), step.generation, response.status, replayed));
      if (verdict.do === "deliver") return response;
      replayed = true;
      next = verdict;
      if (verdict.do === "wait") late = response;
    }
  };

  // A token endpoint: its answer goes to the engine, which takes the tokens out.
  const token = async (request, index) => {
    let sent = request;
    const header = wasm.token_header(index);
    if (header !== undefined) {
      const headers = new Headers(request.headers);
      headers.set(header, "1");
      sent = new Request(request, { headers });
    }
    const response = await fetch(sent);
    const status = response.status;
    if (!wasm.reads_token_body(status)) return response;
    const text = bounded(await response.clone().text(), wasm.max_response());
    wasm.seed_marker(...random());
    // Adopt a marker another app wrote since the last cookie event (none in some browsers).
    await recheckMarker();
    const verdict = JSON.parse(wasm.token_response(now(), index, status, text));
    if (verdict.do === "pass") return response;
    return json(verdict.do === "replace" ? status : 502, verdict.body);
  };

  // A fetch event the engine claimed.
  const handleFetch = async (request) => {
    const route = wasm.route(request.url, request.method);
    try {
      if (route === 3) return json(200, wasm.state_body(now()));
      if (route === 1 || route === 2) return await api(request, route === 2);
      if (route >= 4) return await token(request, route - 4);
      return await fetch(request);
    } finally {
      runEffects();
    }
  };
  const wants = (request) => wasm.route(request.url, request.method) !== 0;
  // A request a live worker may handle: before the config is checked, any but the worker's
  // own route waits for `verify`, then is routed under the checked config.
  const checkedFetch = async (request) => {
    if (!trusted && wasm.route(request.url, request.method) !== 3) await verify();
    if (!live) return fetch(request);
    return wants(request) ? handleFetch(request) : fetch(request);
  };


  let firstModule = first.then(([, , bytes]) => compile(bytes));
  firstModule.then(() => mark("compiled"), () => {}); // a failed start is reported by `boot`
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
  // When a worker started from its stored config checks it without being asked (`verify`).
  const VERIFY_DELAY_MS = 1000;
  let live = false;
  let failure = null;
  let startedAt = 0;
  let ready;
  const boot = () => {
    startedAt = Date.now();
    failure = null;
    const source = firstModule || compile(undefined);
    const reads = early || [undefined, undefined];
    firstModule = early = null;
    ready = Promise.all([wasm({ module_or_path: source }), ...reads])
      .then(([, config, state]) => { mark("instantiated"); return load(false, config, state); })
      .then(() => { mark("started"); live = true; }, (e) => { failure = e; live = false; throw e; });
    ready.catch((e) => console.error("lockstep:", e));
    // Checked even when no request needs it yet, a moment after the event that started the
    // worker was answered (made at once, the check's fetch slowed that answer by ~10%).
    ready.then(() => setTimeout(() => { if (live && !trusted) later(verify()); }, VERIFY_DELAY_MS), () => {});
  };
  boot();
  const retry = () => {
    if (failure && !live && Date.now() - startedAt >= RETRY_START_MS) boot();
  };

  const settle = (event, promise) => event.waitUntil(promise.then(settled).catch(() => {}));

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
      const done = (text) => { clearTimeout(timer); port1.close(); resolve(text); };
      const timer = setTimeout(() => done(null), HANDOVER_WAIT_MS);
      port1.onmessage = (e) => done(typeof e.data === "string" ? e.data : null);
      previous.postMessage({ type: HANDOVER, v: 1 }, [port2]);
    }).then((text) => {
      if (text) wasm.import_session(now(), text);
    }).catch((e) => console.error("lockstep: session hand-over refused:", e));
  };

  // Requests that can never be ours skip the worker: a stopped worker is not even started.
  const NEVER_OURS = ["script", "style", "image", "font", "audio", "video", "manifest", "worker", "track"];
  const addRoutes = (event, rules) =>
    event.addRoutes ? Promise.resolve().then(() => event.addRoutes(rules)).catch(() => {}) : undefined;

  addEventListener("install", (event) => {
    addRoutes(event, NEVER_OURS.map((d) => ({ condition: { requestDestination: d }, source: "network" })));
    event.waitUntil(
      ready.catch(() => {})
        .then(() => load(true))
        .then(() => { live = true; failure = null; }, (e) => { failure = e; })
        .then(takeOver)
        // Navigations are never held; the worker only needs to see them for the cross-site
        // cookie check. Without it, they skip the worker too.
        .then(() => (live && !wasm.watches_navigations()
          ? addRoutes(event, { condition: { requestMode: "navigate" }, source: "network" })
          : undefined))
        .then(() => self.skipWaiting()),
    );
  });

  // Modules of earlier versions, and the Cache Storage that earlier builds used.
  const dropOldModules = () => Promise.all([
    idb("readwrite", (store) => [store.getAllKeys()]).then(([keys]) => idb("readwrite", (store) =>
      keys.filter((k) => typeof k === "string" && k.startsWith("wasm:") && k !== WASM_KEY).map((k) => store.delete(k)))),
    self.caches ? Promise.all(["lockstep-wasm", "lockstep-config"].map((name) => caches.delete(name))) : undefined,
  ]).catch(() => {});

  // This worker is the registration's active one (not a version installing or waiting).
  const isActive = () => {
    const active = self.registration.active;
    return !!active && (!self.serviceWorker || active === self.serviceWorker);
  };

  // Activation: subscribe to the marker cookie, and run what the restore queued.
  const activate = async () => {
    const name = wasm.marker_cookie();
    const cookies = self.registration.cookies;
    if (name && cookies) await cookies.subscribe([{ name, url: self.registration.scope }]).catch(() => {});
    runEffects();
  };

  addEventListener("activate", (event) => {
    event.waitUntil(dropOldModules());
    event.waitUntil(self.clients.claim().then(() => (live ? activate() : undefined)).catch(() => {}));
  });

  let answered = false; // for the "answered" mark: the first request of the restart window
  addEventListener("fetch", (event) => {
    const request = event.request;
    if (!live) mark("fetch-event");
    if (request.mode === "navigate") {
      // Never held; with a cross-site marker the worker re-checks the cookie on the side.
      if (live) {
        if (wasm.marker_cookie() !== undefined) settle(event, recheck());
      } else {
        retry();
      }
      return;
    }
    // Scripts, styles, images, fonts… are never API calls.
    if (request.destination !== "") return;
    if (live) {
      if (trusted && !wants(request)) return;
      const answer = trusted ? handleFetch(request) : checkedFetch(request);
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
    if (!asked && !trusted && request.url.split(/[?#]/)[0] !== self.registration.scope + "__lockstep/state") asked = ask();
    // The restart window: this request might be ours; wait briefly for the engine. If it is
    // still not there, the request gets a local 503 and never the network untouched: it may
    // be a token endpoint's (whose tokens would reach the page) or an API call (which would go
    // without its bearer, a 401 while the session is live). Found by e2e/faults.test.mjs.
    const timeout = new Promise((resolve) => setTimeout(resolve, RESTART_WAIT_MS));
    const answer = Promise.race([ready.catch(() => {}), timeout]).then(() => {
      if (live) return checkedFetch(request);
      return json(503, JSON.stringify({ error: "lockstep_not_ready", message: "the session worker is still starting; try again" }));
    });
    if (!answered) {
      answered = true;
      answer.then(() => mark("answered"), () => {});
    }
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
      let reply;
      if (live) {
        // Bounded before the copy into wasm memory: a page may post megabytes.
        let text = event.data;
        if (typeof text !== "string") {
          try { text = JSON.stringify(text); } catch { text = ""; }
        }
        reply = wasm.handle_message(now(), bounded(text ?? "", wasm.max_message()), source.id, source.url);
        if (wasm.debug()) console.debug(reply);
      } else {
        const message = failure ? String(failure.message || failure) : "the worker has not loaded";
        reply = JSON.stringify({ v: 1, type: "error", code: /config/i.test(message) ? "bad-config" : "not-ready", message });
      }
      if (port) port.postMessage(reply);
      if (!live) return;
      meet(source, port);
      runEffects();
      // Without cookie events (other browsers) a tab's message is the cue to re-read the marker.
      if (wasm.marker_cookie() !== undefined) later(recheck());
    });
    settle(event, handled);
  });

  addEventListener("cookiechange", (event) => {
    if (live) settle(event, recheck());
  });
})();
