/* The baseline of the Lockstep benchmarks: the smallest hand-written service worker that
 * does the same header injection as Lockstep. Registered as
 *   /minimal-sw.js?api=<API origin>&token=<access token>
 * It answers (respondWith) only requests to the API origin, adding `Authorization: Bearer`,
 * plus one local route `/__minimal/ping` (cold-start figure, the analogue of Lockstep's
 * `/__lockstep/state`). Everything else is left to the browser (no respondWith). */
"use strict";
// The same start-up marks as Lockstep's (bench/perf.mjs, "cold-start anatomy"): a few µs each.
const mark = (name) => performance.mark("minimal:" + name);
mark("eval");
let first = true;
const params = new URL(self.location.href).searchParams;
const API = params.get("api");
const TOKEN = params.get("token");

addEventListener("install", () => self.skipWaiting());
addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

addEventListener("fetch", (event) => {
  const marking = first;
  if (marking) {
    first = false;
    mark("fetch-event");
  }
  const req = event.request;
  const url = req.url;
  let answer;
  if (url.startsWith(API + "/")) {
    const headers = new Headers(req.headers);
    headers.set("authorization", "Bearer " + TOKEN);
    answer = fetch(new Request(req, { headers }));
  } else if (url.endsWith("/__minimal/ping")) {
    answer = new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  } else {
    return;
  }
  event.respondWith(answer);
  if (marking) {
    Promise.resolve(answer).then(() => mark("answered"), () => {});
  }
});
