/* Diagnostic worker for the cold-start anatomy (bench/perf.mjs, not a baseline): replays, with
 * performance marks, the steps Lockstep's worker takes between its start and its first answer
 * (lockstep-sw.js → glue → wasm fetch + compile → Cache Storage config → IndexedDB state), with
 * the wasm either from the network (`?wasm=network`, what Lockstep does today: no-cache, no
 * validator, so a full download and compile on every start) or from Cache Storage filled at
 * install (`?wasm=cache`). `/__coldpath` answers the marks once the steps are done. */
"use strict";
const marks = [["eval", performance.now()]];
const mark = (name) => marks.push([name, performance.now()]);
const mode = new URL(self.location.href).searchParams.get("wasm") || "network";
const WASM = "/dist/lockstep_bg.wasm";
const CFG = "/cfg.json";

addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const c = await caches.open("bench-coldpath");
    await c.put(CFG, new Response('{"apis":[]}'));
    if (mode === "cache") await c.add(WASM);
    const db = await openDb();
    await new Promise((res) => { const t = db.transaction("state", "readwrite"); t.objectStore("state").put("{}", "session"); t.oncomplete = res; t.onerror = res; });
    await self.skipWaiting();
  })());
});
addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function openDb() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open("bench-coldpath", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("state");
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

const ready = (async () => {
  const c = await caches.open("bench-coldpath");
  let resp = mode === "cache" ? await c.match(WASM) : undefined;
  if (!resp) resp = await fetch(WASM);
  mark("wasm-response");
  await WebAssembly.compileStreaming(resp);
  mark("wasm-compiled");
  const cfg = await c.match(CFG);
  await cfg.text();
  mark("config-from-cache");
  const db = await openDb();
  mark("idb-open");
  await new Promise((res) => { const g = db.transaction("state").objectStore("state").get("session"); g.onsuccess = res; g.onerror = res; });
  mark("idb-get");
  db.close();
})();

addEventListener("fetch", (event) => {
  if (event.request.url.endsWith("/__coldpath")) {
    mark("fetch-event");
    event.respondWith(ready.then(() => new Response(JSON.stringify({ origin: performance.timeOrigin, marks }), { headers: { "content-type": "application/json" } })));
  }
});
