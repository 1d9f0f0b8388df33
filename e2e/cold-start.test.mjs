// Cold start: a restarted worker finds its code compiled while a page runs the client.
//
// The client holds the worker's compiled module (sw/lockstep-client.js, `holdModule`); V8
// shares a compiled module, with the functions compiled since, between the contexts of one
// renderer process that compile the same bytes. A worker restarted in the page's process then
// compiles none of its functions again: the ~150 functions of its first answer cost 5–15 ms of
// lazy compilation on this machine otherwise (bench/results/report.md). Observed the way V8
// reports it: Chromium's trace events (`wasm.CompileLazy`) on the restarted worker's thread.
// Each test restarts the worker with DevTools (`ServiceWorker.stopAllWorkers`) and wakes it
// with a request to its own route; no timing is asserted.

import assert from "node:assert/strict";
import { test } from "node:test";
import { cdp, closeContext, watchedSuite, waitControlled, workerStateRoute } from "./harness.mjs";

let demo;
let browser;
let swConsole;
watchedSuite((suite) => ({ demo, browser, swConsole } = suite));

/**
 * Stops the worker, wakes it with a request to its own route while Chromium traces, and
 * returns what the restarted worker's thread did: `{ answered, compiledLazily }`.
 */
async function tracedRestart(page, sw) {
  await sw.stopAllWorkers();
  await sw.waitForStatus("stopped");
  await browser.browser.startTracing(undefined, { categories: ["v8.wasm", "ServiceWorker"] });
  const answer = await workerStateRoute(page).catch((e) => e);
  const trace = JSON.parse((await browser.browser.stopTracing()).toString("utf8"));
  if (answer instanceof Error) throw answer;
  assert.equal(answer.status, 200, "the restarted worker answered its own route");
  const events = trace.traceEvents ?? trace;
  const workerThreads = new Set(events
    .filter((e) => e.ph === "M" && e.name === "thread_name" && e.args?.name === "ServiceWorker thread")
    .map((e) => `${e.pid}:${e.tid}`));
  const on = (e) => workerThreads.has(`${e.pid}:${e.tid}`) && (e.ph === "X" || e.ph === "B");
  return {
    answered: events.filter((e) => on(e) && e.name === "ServiceWorkerGlobalScope::RespondToFetchEvent").length,
    compiledLazily: events.filter((e) => on(e) && e.name === "wasm.CompileLazy").length,
  };
}

/** A context whose page is on `path` of the demo app, controlled. */
async function controlledPage(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${demo.appOrigin}/app1/`);
  await waitControlled(page);
  if (path !== "/app1/") {
    await page.goto(`${demo.appOrigin}${path}`);
    await waitControlled(page);
    // A module the client on /app1/ may have held is garbage now, but alive until V8
    // collects it (a restarted worker would still share it): collect it.
    const session = await context.newCDPSession(page);
    await session.send("HeapProfiler.collectGarbage");
    await session.detach();
  }
  return { context, page };
}

test("a worker restarted while a page runs the client compiles none of its functions again", async () => {
  const { context, page } = await controlledPage("/app1/"); // the demo app: it runs the client
  await page.waitForFunction(() => window.demo !== undefined, null, { timeout: 15_000 });
  const sw = await cdp(page);
  await sw.enable();
  try {
    // The client holds the module once the page is idle; the first restart after that
    // compiles what it runs into the shared module, and every restart after it finds it there.
    const seen = [];
    for (const deadline = Date.now() + 20_000; ;) {
      const r = await tracedRestart(page, sw);
      seen.push(r);
      if (r.answered > 0 && r.compiledLazily === 0) break;
      assert.ok(Date.now() < deadline, `${seen.length} restarted workers in 20 s all compiled functions again (the last: ${JSON.stringify(seen.slice(-3))})`);
    }
    // And it stays so.
    for (let i = 0; i < 2; i++) {
      const again = await tracedRestart(page, sw);
      assert.ok(again.answered > 0, "the restarted worker answered");
      assert.equal(again.compiledLazily, 0, "a later restart compiled functions again");
    }
  } finally {
    await sw.detach();
    await closeContext(context);
  }
});

test("without a page that runs the client, every restart compiles its functions again (the control)", async () => {
  const { context, page } = await controlledPage("/favicon.svg"); // a controlled document without the client
  const sw = await cdp(page);
  await sw.enable();
  try {
    for (let i = 0; i < 3; i++) {
      const r = await tracedRestart(page, sw);
      assert.ok(r.answered > 0, "the restarted worker answered");
      assert.ok(r.compiledLazily > 50, `restart ${i + 1} compiled ${r.compiledLazily} functions: expected its first answer's ~150`);
    }
  } finally {
    await sw.detach();
    await closeContext(context);
  }
});
