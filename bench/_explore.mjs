import { cdp, launchBrowser, startDemo, waitControlled, waitFor } from "../e2e/harness.mjs";
const demo = await startDemo({});
const b = await launchBrowser();
const ctx = await b.newContext();
const page = await ctx.newPage();
await page.goto(`${demo.appOrigin}/app1/`);
await waitControlled(page);
const sw = await cdp(page); await sw.enable();
await page.evaluate(() => fetch("/__lockstep/state").then(r=>r.text()));
await sw.waitForStatus("running");
const bs = await b.browser.newBrowserCDPSession();
let seq = 0; const pending = new Map();
bs.on("Target.receivedMessageFromTarget", ({ message }) => { const m = JSON.parse(message); pending.get(m.id)?.(m); pending.delete(m.id); });
async function swEval(fn) {
  const { targetInfos } = await bs.send("Target.getTargets");
  const t = targetInfos.filter((t) => t.type === "service_worker" && t.url.includes("lockstep-sw.js"));
  const { sessionId } = await bs.send("Target.attachToTarget", { targetId: t[t.length-1].targetId, flatten: false });
  const id = ++seq;
  const res = new Promise((r) => pending.set(id, r));
  await bs.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method: "Runtime.evaluate", params: { expression: `(${fn})()`, returnByValue: true, awaitPromise: true } }) });
  const m = await res;
  await bs.send("Target.detachFromTarget", { sessionId });
  return m.result.result.value;
}
for (let i = 0; i < 4; i++) {
  await sw.stopAllWorkers(); await sw.waitForStatus("stopped", { interval: 5 });
  const r = await page.evaluate(async () => { const s = performance.now(); const r = await fetch("/__lockstep/state"); await r.text(); const e = performance.now(); return { start: performance.timeOrigin + s, end: performance.timeOrigin + e }; });
  const wr = await swEval(() => ({ origin: performance.timeOrigin, entries: performance.getEntries().map((e) => ({ type: e.entryType, name: e.name.split("/").pop(), start: e.startTime, end: e.responseEnd ?? e.startTime + e.duration, reqStart: e.requestStart, respStart: e.responseStart, size: e.transferSize, status: e.responseStatus })) }));
  console.log(JSON.stringify({ total: r.end - r.start, toWorkerOrigin: wr.origin - r.start, entries: wr.entries.map((e) => ({ ...e, absStart: e.start + wr.origin - r.start, absEnd: e.end + wr.origin - r.start })) }));
}
await b.close(); await demo.stop();
